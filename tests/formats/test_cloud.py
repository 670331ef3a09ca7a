"""Bedrock and Vertex formats: the event-stream framing (checked by hand and by botocore's own
parser) and both routes end to end, with raw HTTP and the anthropic SDK's Vertex client."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest
from botocore.eventstream import EventStreamBuffer
from sqlalchemy import text

from link_assistant_router.formats.cloud import bedrock_model, vertex_model
from link_assistant_router.formats.eventstream import (
    BedrockStreamTranslator,
    chunk_message,
    encode_message,
)
from tests.conftest import OAUTH_TOKEN, RunningRouter
from tests.fakes.upstream import COUNTED_TOKENS, TEXT_PIECES, USAGE, FakeUpstream, sse_events

BEDROCK_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "anthropic_beta": ["interleaved-thinking-2025-05-14"],
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}


def decoded(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


def sent(fake: FakeUpstream) -> tuple[dict[str, Any], Any]:
    request = fake.requests[-1]
    assert "la_sk_" not in str(request.headers) + request.body.decode()
    return orjson.loads(request.body), request


# --- framing -------------------------------------------------------------------------------------


def test_a_message_is_framed_with_both_crcs() -> None:
    message = encode_message(((":event-type", "chunk"),), b"{}")
    total, headers_length, prelude_crc = struct.unpack("!III", message[:12])
    assert total == len(message)
    assert headers_length == 1 + len(":event-type") + 1 + 2 + len("chunk")
    assert prelude_crc == zlib.crc32(message[:8])
    assert struct.unpack("!I", message[-4:])[0] == zlib.crc32(message[:-4])
    assert message[12 + headers_length : -4] == b"{}"


def test_botocore_reads_our_chunks() -> None:
    [(headers, payload)] = decoded(chunk_message(b'{"type":"ping"}'))
    assert headers == {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert base64.b64decode(orjson.loads(payload)["bytes"]) == b'{"type":"ping"}'


@pytest.mark.parametrize("size", [1, 7, 100, 100_000])
def test_an_sse_stream_becomes_one_chunk_per_event_however_it_arrives(size: int) -> None:
    body = b"".join(sse_events()).replace(b"\n", b"\r\n")
    translator = BedrockStreamTranslator()
    out = b"".join(translator.feed(body[i : i + size]) for i in range(0, len(body), size))
    out += translator.close()
    events = [orjson.loads(base64.b64decode(orjson.loads(p)["bytes"])) for _, p in decoded(out)]
    expected = [orjson.loads(event.split(b"data: ", 1)[1]) for event in sse_events()]
    assert events == expected


def test_an_error_event_becomes_an_exception_and_ends_the_stream() -> None:
    error = (
        b"event: error\n"
        b'data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    translator = BedrockStreamTranslator()
    out = translator.feed(sse_events()[0] + error + sse_events()[1]) + translator.close()
    messages = decoded(out)
    assert len(messages) == 2
    headers, payload = messages[1]
    assert headers[":message-type"] == "exception"
    assert headers[":exception-type"] == "serviceUnavailableException"
    assert orjson.loads(payload) == {"message": "Overloaded"}


def test_data_split_over_lines_is_one_event() -> None:
    translator = BedrockStreamTranslator()
    out = translator.feed(b'event: ping\ndata: {"type":\ndata: "ping"}\n\n')
    [(_, payload)] = decoded(out)
    assert orjson.loads(base64.b64decode(orjson.loads(payload)["bytes"])) == {"type": "ping"}


@pytest.mark.parametrize(
    ("given", "model"),
    [
        (BEDROCK_ID, "claude-sonnet-4-5-20250929"),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku-20241022"),
        ("global.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1-20250805"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
            "claude-sonnet-4-20250514",
        ),
        ("claude-sonnet-5", "claude-sonnet-5"),
    ],
)
def test_bedrock_model_ids_map_to_anthropic_ones(given: str, model: str) -> None:
    assert bedrock_model(given) == model


def test_vertex_model_ids_map_to_anthropic_ones() -> None:
    assert vertex_model("claude-sonnet-4-5@20250929") == "claude-sonnet-4-5-20250929"


# --- Bedrock end to end --------------------------------------------------------------------------


async def post(
    router: RunningRouter, path: str, key: str, body: dict[str, Any], **headers: str
) -> tuple[int, Any, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            router.url + path,
            data=orjson.dumps(body),
            headers={
                "authorization": f"Bearer {key}",
                "content-type": "application/json",
                **headers,
            },
        ) as response,
    ):
        return response.status, response.headers.copy(), await response.read()


async def test_bedrock_invoke_answers_the_messages_json(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    key = await router.issue_key()
    status, headers, raw = await post(router, f"/model/{BEDROCK_ID}/invoke", key, BODY)
    assert status == 200 and headers["content-type"].startswith("application/json")
    answer = orjson.loads(raw)
    assert answer["content"][0]["text"] == "".join(TEXT_PIECES)
    upstream, request = sent(fake_upstream)
    assert upstream["model"] == "claude-sonnet-4-5-20250929"
    assert "anthropic_version" not in upstream and "anthropic_beta" not in upstream
    assert "interleaved-thinking-2025-05-14" in request.headers["anthropic-beta"]
    assert request.headers["authorization"] == f"Bearer {OAUTH_TOKEN}"


async def test_bedrock_stream_is_event_stream_botocore_can_read(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    key = await router.issue_key()
    path = f"/bedrock/model/{BEDROCK_ID}/invoke-with-response-stream"
    status, headers, raw = await post(router, path, key, BODY)
    assert status == 200 and headers["content-type"] == "application/vnd.amazon.eventstream"
    events = [orjson.loads(base64.b64decode(orjson.loads(p)["bytes"])) for _, p in decoded(raw)]
    assert events == [orjson.loads(event.split(b"data: ", 1)[1]) for event in sse_events()]
    assert sent(fake_upstream)[0]["stream"] is True


async def test_bedrock_stream_cut_off_ends_with_an_exception_message(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.scenarios[OAUTH_TOKEN] = "drop"  # half an event, then the connection dies
    key = await router.issue_key()
    path = f"/model/{BEDROCK_ID}/invoke-with-response-stream"
    status, _, raw = await post(router, path, key, BODY)
    assert status == 200
    messages = decoded(raw)
    headers, payload = messages[-1]
    assert headers[":message-type"] == "exception"
    assert "lost mid-stream" in orjson.loads(payload)["message"]
    for _, chunk in messages[:-1]:  # the half event was dropped, not sent broken
        orjson.loads(base64.b64decode(orjson.loads(chunk)["bytes"]))


async def test_bedrock_errors_speak_bedrock(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.scenarios[OAUTH_TOKEN] = "error-429"
    key = await router.issue_key()
    status, headers, raw = await post(router, f"/model/{BEDROCK_ID}/invoke", key, BODY)
    assert status == 429
    assert headers["x-amzn-ErrorType"] == "ThrottlingException"
    assert headers["retry-after"] == "17"
    assert "exceeded" in orjson.loads(raw)["message"]
    status, _, _ = await post(router, f"/model/{BEDROCK_ID}/invoke", "la_sk_forged", BODY)
    assert status == 401


async def test_the_original_invoke_takes_the_model_from_the_body(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    key = await router.issue_key()
    status, _, _ = await post(router, "/invoke", key, {**BODY, "model": "gpt-4o"})
    assert status == 200
    assert sent(fake_upstream)[0]["model"].startswith("claude-sonnet")  # through the aliases


async def test_bedrock_usage_is_in_the_ledger(router: RunningRouter) -> None:
    key = await router.issue_key()
    await post(router, f"/model/{BEDROCK_ID}/invoke-with-response-stream", key, BODY)
    rows: list[Any] = []
    for _ in range(50):
        await router.parts.ledger.flush()
        async with router.parts.store.engine.connect() as conn:  # type: ignore[attr-defined]
            rows = list(
                await conn.execute(
                    text("SELECT input_tokens, output_tokens, model FROM usage_events")
                )
            )
        if rows:
            break
    assert [tuple(r) for r in rows] == [
        (USAGE["input_tokens"], USAGE["output_tokens"], "claude-sonnet-4-5-20250929")
    ]


# --- Vertex end to end ---------------------------------------------------------------------------


@pytest.fixture
async def vertex(router: RunningRouter) -> AsyncIterator[anthropic.AsyncAnthropicVertex]:
    key = await router.issue_key()
    client = anthropic.AsyncAnthropicVertex(
        region="us-east5",
        project_id="my-project",
        access_token=key,
        base_url=router.url + "/v1",
        max_retries=0,
    )
    yield client
    await client.close()


async def test_vertex_messages_create(
    vertex: anthropic.AsyncAnthropicVertex, fake_upstream: FakeUpstream
) -> None:
    message = await vertex.messages.create(
        model="claude-sonnet-4-5@20250929",
        max_tokens=16,
        messages=[{"role": "user", "content": "hi"}],
    )
    assert message.content[0].text == "".join(TEXT_PIECES)  # type: ignore[union-attr]
    upstream, request = sent(fake_upstream)
    assert upstream["model"] == "claude-sonnet-4-5-20250929"
    assert "anthropic_version" not in upstream
    assert request.path == "/v1/messages"


async def test_vertex_stream(
    vertex: anthropic.AsyncAnthropicVertex, fake_upstream: FakeUpstream
) -> None:
    async with vertex.messages.stream(
        model="claude-sonnet-4-5@20250929",
        max_tokens=16,
        messages=[{"role": "user", "content": "hi"}],
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "".join(TEXT_PIECES)
    assert final.usage.output_tokens == USAGE["output_tokens"]
    assert sent(fake_upstream)[0]["stream"] is True


async def test_vertex_count_tokens(
    vertex: anthropic.AsyncAnthropicVertex, fake_upstream: FakeUpstream
) -> None:
    counted = await vertex.messages.count_tokens(
        model="claude-sonnet-4-5@20250929", messages=[{"role": "user", "content": "hi"}]
    )
    assert counted.input_tokens == COUNTED_TOKENS
    upstream, request = sent(fake_upstream)
    assert request.path == "/v1/messages/count_tokens"
    assert upstream["model"] == "claude-sonnet-4-5-20250929"


@pytest.mark.parametrize("prefix", ["/vertex/v1", "/vertex_ai/v1beta1", ""])
async def test_vertex_paths_under_other_base_urls(
    router: RunningRouter, fake_upstream: FakeUpstream, prefix: str
) -> None:
    key = await router.issue_key()
    path = f"{prefix}/projects/p/locations/global/publishers/anthropic/models/"
    body = {**BODY, "anthropic_version": "vertex-2023-10-16"}
    status, _, raw = await post(router, path + "claude-haiku-4-5%4020251001:rawPredict", key, body)
    assert status == 200, raw
    assert sent(fake_upstream)[0]["model"] == "claude-haiku-4-5-20251001"
    status, _, _ = await post(router, path + "claude-haiku-4-5:predict", key, body)
    assert status == 404


async def test_vertex_with_a_forged_token_is_refused(router: RunningRouter) -> None:
    client = anthropic.AsyncAnthropicVertex(
        region="us-east5",
        project_id="p",
        access_token="la_sk_forged",
        base_url=router.url + "/v1",
        max_retries=0,
    )
    with pytest.raises(anthropic.AuthenticationError):
        await client.messages.create(
            model="claude-sonnet-4-5@20250929",
            max_tokens=5,
            messages=[{"role": "user", "content": "x"}],
        )
    await client.close()


@pytest.mark.parametrize("encoding", ["base64", "json"])
async def test_bedrock_count_tokens(
    router: RunningRouter, fake_upstream: FakeUpstream, encoding: str
) -> None:
    key = await router.issue_key()
    invoke = orjson.dumps({**BODY, "system": "Be brief.", "temperature": 0.5})
    blob = base64.b64encode(invoke).decode() if encoding == "base64" else invoke.decode()
    status, _, raw = await post(
        router,
        f"/model/{BEDROCK_ID}/count-tokens",
        key,
        {"input": {"invokeModel": {"body": blob}}},
    )
    assert status == 200
    assert orjson.loads(raw) == {"inputTokens": COUNTED_TOKENS}
    upstream, request = sent(fake_upstream)
    assert request.path == "/v1/messages/count_tokens"
    # Only what count_tokens accepts goes on: no max_tokens, temperature or version.
    assert upstream == {
        "messages": BODY["messages"],
        "system": "Be brief.",
        "model": "claude-sonnet-4-5-20250929",
    }
    status, _, _ = await post(router, f"/model/{BEDROCK_ID}/count-tokens", key, {"input": {}})
    assert status == 400
