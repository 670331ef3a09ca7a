"""Forged, bent and outliving keys: each one a clear 401 (never a 500), nothing upstream."""

from __future__ import annotations

import base64
import time
import warnings

import aiohttp
import jwt
import orjson
import pytest
from sqlalchemy import text

from tests.conftest import TEST_SECRET, RunningRouter
from tests.fakes.upstream import FakeUpstream

MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "x"}],
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(claims: dict[str, object], secret: str = TEST_SECRET, alg: str = "HS256") -> str:
    return "la_sk_" + jwt.encode(claims, secret, algorithm=alg)


async def status_of(router: RunningRouter, key: str) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(router.url + "/v1/messages", json=MESSAGE, headers={"x-api-key": key}) as r,
    ):
        return r.status, await r.json()


def _hs512(claims: dict[str, object]) -> str:
    with warnings.catch_warnings():  # PyJWT warns that our 52-byte secret is short for HS512
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return signed(claims, alg="HS512")


def bent_keys(real: str) -> dict[str, str]:
    claims = jwt.decode(real[6:], options={"verify_signature": False})
    header, payload, signature = real[6:].split(".")
    now = int(time.time())
    return {
        "alg none": "la_sk_" + b64(b'{"alg":"none","typ":"JWT"}') + "." + payload + ".",
        "HS512 with our secret": _hs512(claims),
        "another secret": signed(claims, "another-secret-" + "q" * 32),
        "sub swapped": "la_sk_"
        + ".".join([header, b64(orjson.dumps({**claims, "sub": "someone-else"})), signature]),
        "exp a string": signed({**claims, "exp": "tomorrow"}),
        "exp a float nan": "la_sk_"
        + ".".join(
            [header, b64(orjson.dumps({**claims}).replace(b'"exp":', b'"exp":NaN,"x":')), "x"]
        ),
        "sub a number": signed({**claims, "sub": 12345}),
        "no sub": signed({"exp": now + 60, "iat": now}),
        "not base64": "la_sk_%%%.%%%.%%%",
        "huge": "la_sk_" + "A" * 7_000,
        "empty": "la_sk_",
        "two dots only": "la_sk_..",
    }


BENT = [
    "alg none",
    "HS512 with our secret",
    "another secret",
    "sub swapped",
    "exp a string",
    "exp a float nan",
    "sub a number",
    "no sub",
    "not base64",
    "huge",
    "empty",
    "two dots only",
]


@pytest.mark.parametrize("name", BENT)
async def test_a_bent_key_gets_401(
    router: RunningRouter, fake_upstream: FakeUpstream, name: str
) -> None:
    real = await router.issue_key()
    status, body = await status_of(router, bent_keys(real)[name])
    assert status in (400, 401), (name, body)
    assert body["type"] == "error"
    assert fake_upstream.requests == []


async def test_a_key_cannot_outlive_the_expiry_its_record_holds(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    """A key signed to expire in 9999 (say, minted by hand with the secret) still ends when the
    store says it does."""
    issued = await router.parts.keys.issue(1, "short")
    claims = jwt.decode(issued.token[6:], options={"verify_signature": False})
    long_lived = signed({**claims, "exp": 253402300799})  # 9999-12-31
    assert (await status_of(router, long_lived))[0] == 200
    engine = router.parts.store.engine  # type: ignore[attr-defined]
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE api_keys SET expires_at = :at WHERE id = :id"),
            {"at": time.time() - 1, "id": issued.record.id},
        )
    router.parts.keys._records.clear()  # as KEY_CACHE_TTL_S passing would
    status, body = await status_of(router, long_lived)
    assert status == 401
    assert "expired" in str(body)
    assert len(fake_upstream.requests) == 1
