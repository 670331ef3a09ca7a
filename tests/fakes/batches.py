"""The fake upstream's Message Batches API: batches live in the organization (credential) that
created them, as Anthropic's do; results are JSON Lines, one succeeded message per request."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

# What each succeeded request in a batch reports as its usage.
BATCH_USAGE = {
    "input_tokens": 30,
    "output_tokens": 7,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 100,
}


@dataclass
class FakeBatch:
    id: str
    credential: str
    requests: list[dict[str, Any]]
    cancelled: bool = False

    def describe(self) -> dict[str, Any]:
        status = "canceling" if self.cancelled else "ended"
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": {
                "processing": 0,
                "succeeded": len(self.requests),
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "results_url": f"https://api.example/v1/messages/batches/{self.id}/results",
        }


@dataclass
class FakeBatches:
    batches: dict[str, FakeBatch] = field(default_factory=dict)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def handle(self, request: web.Request, credential: str, body: bytes) -> web.Response:
        parts = request.path.removeprefix("/v1/messages/batches").strip("/").split("/")
        if request.method == "POST" and parts == [""]:
            requests = orjson.loads(body)["requests"]
            batch = FakeBatch(f"msgbatch_fake_{next(self._numbers)}", credential, requests)
            self.batches[batch.id] = batch
            return web.json_response(batch.describe())
        batch = self.batches.get(parts[0])
        if batch is None or batch.credential != credential:  # another organization's
            return _not_found()
        if request.method == "GET" and len(parts) == 1:
            return web.json_response(batch.describe())
        if request.method == "GET" and parts[1:] == ["results"]:
            lines = [orjson.dumps(_result(item)) for item in batch.requests]
            return web.Response(body=b"\n".join(lines) + b"\n", content_type="application/binary")
        if request.method == "POST" and parts[1:] == ["cancel"]:
            batch.cancelled = True
            return web.json_response(batch.describe())
        if request.method == "DELETE" and len(parts) == 1:
            del self.batches[batch.id]
            return web.json_response({"id": batch.id, "type": "message_batch_deleted"})
        return _not_found()


def _result(item: dict[str, Any]) -> dict[str, Any]:
    params = item["params"]
    message = {
        "id": "msg_fake_batch",
        "type": "message",
        "role": "assistant",
        "model": params["model"],
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": BATCH_USAGE,
    }
    return {"custom_id": item["custom_id"], "result": {"type": "succeeded", "message": message}}


def _not_found() -> web.Response:
    error = {"type": "not_found_error", "message": "batch not found"}
    return web.json_response({"type": "error", "error": error}, status=404)
