"""la_sk_ keys: minting, verification, revocation, the record cache and the signing secret."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import text

from link_assistant_router.config import Settings
from link_assistant_router.errors import (
    AuthenticationFailed,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)
from link_assistant_router.governance.keys import (
    MAX_LABEL_CHARS,
    MAX_TTL_HOURS,
    KeyService,
    load_signing_secret,
    validate_issue_request,
)
from link_assistant_router.storage.records import KeyRecord
from link_assistant_router.storage.sql import SqlStore, open_store
from tests.conftest import random_secret

PREFIX = "la_sk_"
SECRET = random_secret().encode()  # 64 bytes: long enough for HS512 too


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


MakeService = Callable[..., KeyService]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = open_store(f"sqlite+aiosqlite:///{tmp_path}/k.db")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_service(store: SqlStore, clock: FakeClock) -> MakeService:
    def factory(
        *, secret: bytes = SECRET, cache_ttl_s: float = 2.0, on: FakeClock | None = None
    ) -> KeyService:
        return KeyService(store, secret, cache_ttl_s=cache_ttl_s, clock=on or clock)

    return factory


@pytest.fixture
def service(make_service: MakeService) -> KeyService:
    return make_service()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(
        token.removeprefix(PREFIX), SECRET, algorithms=["HS256"], options={"verify_exp": False}
    )


async def stored(store: SqlStore, key_id: str) -> KeyRecord:
    record = await store.get_key(key_id)
    assert record is not None
    return record


def forge(claims: dict[str, Any], key: bytes = SECRET, algorithm: str = "HS256") -> str:
    return PREFIX + jwt.encode(claims, key, algorithm=algorithm)


def b64(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


def valid_claims(clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "iat": int(clock.now),
        "exp": int(clock.now) + 3600,
        "label": "forged",
    }
    claims.update(overrides)
    return claims


# --- minting -----------------------------------------------------------------------------------


async def test_issued_token_is_a_prefixed_hs256_jwt(service: KeyService) -> None:
    issued = await service.issue(2, "ci")
    assert issued.token.startswith(PREFIX)
    assert jwt.get_unverified_header(issued.token.removeprefix(PREFIX))["alg"] == "HS256"


async def test_issued_token_claims_match_the_record(service: KeyService, clock: FakeClock) -> None:
    ttl_hours = 2
    issued = await service.issue(ttl_hours, "ci runner")
    claims = claims_of(issued.token)
    assert claims["sub"] == issued.record.id
    assert uuid.UUID(claims["sub"]).version == 4
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] - claims["iat"] == ttl_hours * 3600
    assert claims["label"] == "ci runner"


async def test_issue_stores_the_record_but_not_the_token(
    service: KeyService, store: SqlStore, clock: FakeClock
) -> None:
    issued = await service.issue(1, "stored")
    record = await stored(store, issued.record.id)
    assert record == issued.record
    assert record.created_at == clock.now
    assert record.revoked_at is None
    async with store.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM api_keys"))).all()
    signature = issued.token.rsplit(".", 1)[-1]
    assert rows
    assert all(signature not in str(value) for row in rows for value in row)


async def test_every_issued_key_has_its_own_id(service: KeyService) -> None:
    first, second = await service.issue(1, "same"), await service.issue(1, "same")
    assert first.record.id != second.record.id
    assert first.token != second.token


# --- signature checks --------------------------------------------------------------------------


async def test_verify_signature_returns_the_key_id(service: KeyService) -> None:
    issued = await service.issue(1, "")
    assert service.verify_signature(issued.token) == issued.record.id


@pytest.mark.parametrize("token", ["sk-ant-api03-abc", "Bearer la_sk_x", "", "LA_SK_abc"])
def test_token_without_the_prefix_is_not_ours(service: KeyService, token: str) -> None:
    assert service.verify_signature(token) is None


@pytest.mark.parametrize("body", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..."])
def test_malformed_token_is_refused_as_malformed(service: KeyService, body: str) -> None:
    with pytest.raises(AuthenticationFailed, match="malformed"):
        service.verify_signature(PREFIX + body)


def test_token_signed_with_another_secret_is_refused(service: KeyService, clock: FakeClock) -> None:
    token = forge(valid_claims(clock), key=random_secret().encode())
    with pytest.raises(AuthenticationFailed, match="signature"):
        service.verify_signature(token)


async def test_tampered_claims_are_refused(service: KeyService) -> None:
    issued = await service.issue(1, "mine")
    header, _, signature = issued.token.removeprefix(PREFIX).split(".")
    claims = claims_of(issued.token) | {"sub": str(uuid.uuid4())}
    with pytest.raises(AuthenticationFailed, match="signature"):
        service.verify_signature(f"{PREFIX}{header}.{b64(claims)}.{signature}")


def test_alg_none_token_is_refused(service: KeyService, clock: FakeClock) -> None:
    token = f"{PREFIX}{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(valid_claims(clock))}."
    with pytest.raises(AuthenticationFailed):
        service.verify_signature(token)


def test_hs512_token_with_the_same_secret_is_refused(service: KeyService, clock: FakeClock) -> None:
    token = forge(valid_claims(clock), algorithm="HS512")
    with pytest.raises(AuthenticationFailed):
        service.verify_signature(token)


@pytest.mark.parametrize("missing", ["sub", "exp", "iat"])
def test_token_missing_a_required_claim_is_refused(
    service: KeyService, clock: FakeClock, missing: str
) -> None:
    claims = valid_claims(clock)
    del claims[missing]
    with pytest.raises(AuthenticationFailed):
        service.verify_signature(forge(claims))


async def test_key_is_valid_until_its_expiry(service: KeyService, clock: FakeClock) -> None:
    issued = await service.issue(1, "")
    clock.advance(3600 - 1)
    assert service.verify_signature(issued.token) == issued.record.id


async def test_expired_key_is_refused(make_service: MakeService, clock: FakeClock) -> None:
    issued = await make_service().issue(1, "")
    clock.advance(3600)
    with pytest.raises(AuthenticationFailed, match="expired"):
        make_service().verify_signature(issued.token)


async def test_verification_cache_does_not_outlive_the_expiry(
    service: KeyService, clock: FakeClock
) -> None:
    issued = await service.issue(1, "")
    assert service.verify_signature(issued.token) == issued.record.id  # now cached
    clock.advance(3600)
    with pytest.raises(AuthenticationFailed, match="expired"):
        service.verify_signature(issued.token)


# --- authenticate ------------------------------------------------------------------------------


async def test_authenticate_returns_the_record(service: KeyService) -> None:
    issued = await service.issue(1, "who")
    assert await service.authenticate(issued.token) == issued.record


@pytest.mark.parametrize("token", [None, ""])
async def test_authenticate_without_a_token_fails(service: KeyService, token: str | None) -> None:
    with pytest.raises(AuthenticationFailed, match="missing"):
        await service.authenticate(token)


async def test_authenticate_refuses_tokens_that_are_not_ours(service: KeyService) -> None:
    with pytest.raises(AuthenticationFailed):
        await service.authenticate("sk-ant-api03-not-a-router-key")


async def test_authenticate_refuses_a_revoked_key(service: KeyService) -> None:
    issued = await service.issue(1, "")
    await service.revoke(issued.record.id)
    with pytest.raises(PermissionDenied):
        await service.authenticate(issued.token)


async def test_authenticate_refuses_a_key_unknown_to_the_store(
    service: KeyService, clock: FakeClock
) -> None:
    with pytest.raises(AuthenticationFailed, match="unknown"):
        await service.authenticate(forge(valid_claims(clock)))


async def test_authenticate_refuses_an_expired_key(service: KeyService, clock: FakeClock) -> None:
    issued = await service.issue(1, "")
    clock.advance(3600 + 1)
    with pytest.raises(AuthenticationFailed, match="expired"):
        await service.authenticate(issued.token)


async def test_revocation_elsewhere_is_seen_once_the_cache_ttl_has_passed(
    make_service: MakeService, clock: FakeClock
) -> None:
    cache_ttl_s = 5.0
    worker = make_service(cache_ttl_s=cache_ttl_s)
    admin = make_service(cache_ttl_s=cache_ttl_s)
    issued = await admin.issue(1, "shared")
    await worker.authenticate(issued.token)  # the worker caches the record now

    await admin.revoke(issued.record.id)
    clock.advance(cache_ttl_s - 0.5)
    assert (await worker.authenticate(issued.token)).revoked_at is None  # still cached
    clock.advance(0.5)
    with pytest.raises(PermissionDenied):
        await worker.authenticate(issued.token)


async def test_concurrent_requests_share_one_store_lookup_when_the_cache_expires(
    make_service: MakeService, store: SqlStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service(cache_ttl_s=2.0)
    issued = await service.issue(1, "busy")
    lookups = 0
    real_get_key = store.get_key

    async def slow_get_key(key_id: str) -> KeyRecord | None:
        nonlocal lookups
        lookups += 1
        await asyncio.sleep(0.05)  # every request arrives while the lookup runs
        return await real_get_key(key_id)

    monkeypatch.setattr(store, "get_key", slow_get_key)
    await service.authenticate(issued.token)
    clock.advance(2.0)

    records = await asyncio.gather(*(service.authenticate(issued.token) for _ in range(16)))

    assert lookups == 2  # the first fill, then one for all 16
    assert {record.id for record in records} == {issued.record.id}


async def test_a_cancelled_request_does_not_cancel_the_shared_lookup(
    make_service: MakeService, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service()
    issued = await service.issue(1, "busy")
    real_get_key = store.get_key

    async def slow_get_key(key_id: str) -> KeyRecord | None:
        await asyncio.sleep(0.05)
        return await real_get_key(key_id)

    monkeypatch.setattr(store, "get_key", slow_get_key)
    leaving = asyncio.ensure_future(service.authenticate(issued.token))
    staying = asyncio.ensure_future(service.authenticate(issued.token))
    await asyncio.sleep(0.01)
    leaving.cancel()

    assert (await staying).id == issued.record.id
    assert leaving.cancelled()


async def test_revocation_by_the_same_service_is_immediate(service: KeyService) -> None:
    issued = await service.issue(1, "")
    await service.authenticate(issued.token)
    await service.revoke(issued.record.id)
    with pytest.raises(PermissionDenied):
        await service.authenticate(issued.token)


# --- revoke ------------------------------------------------------------------------------------


async def test_revoke_records_when(service: KeyService, clock: FakeClock) -> None:
    issued = await service.issue(1, "")
    clock.advance(60)
    revoked = await service.revoke(issued.record.id)
    assert revoked.id == issued.record.id
    assert revoked.revoked_at == clock.now


async def test_revoke_unknown_id_is_not_found(service: KeyService) -> None:
    with pytest.raises(NotFound):
        await service.revoke(str(uuid.uuid4()))


@pytest.mark.parametrize("key_id", ["", None, 42])
async def test_revoke_needs_a_string_id(service: KeyService, key_id: Any) -> None:
    with pytest.raises(InvalidRequest):
        await service.revoke(key_id)


async def test_revoking_twice_keeps_the_first_time(service: KeyService, clock: FakeClock) -> None:
    issued = await service.issue(1, "")
    first = await service.revoke(issued.record.id)
    clock.advance(120)
    second = await service.revoke(issued.record.id)
    assert second.revoked_at == first.revoked_at
    assert (await service.get(issued.record.id)).revoked_at == first.revoked_at


# --- issue request validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "ttl_hours",
    [0, -1, -0.5, True, False, "24", None, MAX_TTL_HOURS + 1, float("nan"), float("inf")],
    ids=repr,
)
def test_bad_ttl_is_refused(ttl_hours: Any) -> None:
    with pytest.raises(InvalidRequest, match="ttl_hours"):
        validate_issue_request(ttl_hours, "")


@pytest.mark.parametrize("label", [None, 5, ["x"], "x" * (MAX_LABEL_CHARS + 1)], ids=repr)
def test_bad_label_is_refused(label: Any) -> None:
    with pytest.raises(InvalidRequest, match="label"):
        validate_issue_request(1, label)


@pytest.mark.parametrize(
    ("ttl_hours", "label"), [(0.25, ""), (MAX_TTL_HOURS, "x" * MAX_LABEL_CHARS), (24, "ci")]
)
def test_good_issue_request_is_accepted(ttl_hours: float, label: str) -> None:
    assert validate_issue_request(ttl_hours, label) == (float(ttl_hours), label)


def test_label_with_a_nul_character_is_refused() -> None:
    """PostgreSQL cannot store NUL in text: accepting it turns a bad request into a 500."""
    with pytest.raises(InvalidRequest, match="label"):
        validate_issue_request(1, "ci\x00runner")


async def test_refused_issue_stores_nothing(service: KeyService) -> None:
    with pytest.raises(InvalidRequest):
        await service.issue(0, "refused")
    assert await service.list() == []


# --- last used -----------------------------------------------------------------------------------


async def test_flush_last_used_writes_the_authentication_time(
    service: KeyService, store: SqlStore, clock: FakeClock
) -> None:
    issued = await service.issue(1, "")
    clock.advance(30)
    await service.authenticate(issued.token)
    assert (await stored(store, issued.record.id)).last_used_at is None  # batched, not yet
    await service.flush_last_used()
    assert (await stored(store, issued.record.id)).last_used_at == clock.now


async def test_flush_last_used_never_moves_the_time_backwards(
    make_service: MakeService, store: SqlStore, clock: FakeClock
) -> None:
    ahead = make_service()
    behind = make_service(on=FakeClock(clock.now))
    issued = await ahead.issue(1, "")
    clock.advance(100)
    await ahead.authenticate(issued.token)
    await ahead.flush_last_used()
    await behind.authenticate(issued.token)
    await behind.flush_last_used()
    assert (await stored(store, issued.record.id)).last_used_at == clock.now


# --- the signing secret --------------------------------------------------------------------------


def test_token_secret_setting_wins(make_settings: Callable[..., Settings]) -> None:
    secret = random_secret()
    settings = make_settings(token_secret=secret)
    assert load_signing_secret(settings) == secret.encode()
    assert not (settings.data_dir / "token_secret").exists()


def test_unset_secret_is_generated_into_a_private_file(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(token_secret=None)
    secret = load_signing_secret(settings)
    path = settings.data_dir / "token_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip().encode() == secret
    assert len(secret) >= 32


def test_generated_secret_is_reused(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(token_secret=None)
    assert load_signing_secret(settings) == load_signing_secret(settings)


async def test_keys_survive_a_restart_with_a_generated_secret(
    make_settings: Callable[..., Settings], store: SqlStore
) -> None:
    settings = make_settings(token_secret=None)
    issued = await KeyService(store, load_signing_secret(settings)).issue(1, "")
    restarted = KeyService(store, load_signing_secret(settings))
    assert (await restarted.authenticate(issued.token)).id == issued.record.id
