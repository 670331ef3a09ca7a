"""The upstream credential: parsing Claude Code login files, watching a home, choosing a source."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from link_assistant_router.accounts.credentials import (
    RECHECK_INTERVAL_S,
    ClaudeCodeHomeSource,
    Credential,
    StaticCredentialSource,
    credential_source,
    parse_credentials,
)
from link_assistant_router.config import Settings
from link_assistant_router.errors import NoCredential
from tests.conftest import OAUTH_TOKEN, REFRESH_TOKEN, claude_login, write_credentials

API_KEY = "sk-ant-api03-test-api-key-DO-NOT-LEAK"
SOURCE = "/home/someone/.claude/.credentials.json"


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def parse(document: Any) -> Credential | None:
    return parse_credentials(orjson.dumps(document), SOURCE)


def rewrite(path: Path, document: Any) -> None:
    """Replace a login file so that its mtime certainly changes."""
    before = path.stat().st_mtime_ns
    write_credentials(path.parent, document, name=path.name)
    later = before + 1_000_000_000
    os.utime(path, ns=(later, later))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "claude"


@pytest.fixture
def source(home: Path, clock: FakeClock) -> ClaudeCodeHomeSource:
    return ClaudeCodeHomeSource(home, clock=clock)


# --- parse_credentials -------------------------------------------------------------------------


def test_nested_claude_code_login_is_parsed() -> None:
    expires_at_ms = 4_102_444_800_000
    credential = parse(claude_login(expires_at_ms=expires_at_ms))
    assert credential is not None
    assert credential.token == OAUTH_TOKEN
    assert credential.refresh_token == REFRESH_TOKEN
    assert credential.expires_at == expires_at_ms / 1000
    assert credential.subscription_type == "max"
    assert credential.rate_limit_tier == "default_claude_max_20x"
    assert credential.kind == "oauth"
    assert credential.source == SOURCE


@pytest.mark.parametrize("field", ["accessToken", "access_token", "oauthToken", "oauth_token"])
def test_flat_token_fields_are_read(field: str) -> None:
    credential = parse({field: OAUTH_TOKEN, "expiresAt": 4_102_444_800_000})
    assert credential is not None
    assert credential.token == OAUTH_TOKEN
    assert credential.kind == "oauth"
    assert credential.expires_at == 4_102_444_800


def test_flat_refresh_token_is_read() -> None:
    credential = parse({"access_token": OAUTH_TOKEN, "refresh_token": REFRESH_TOKEN})
    assert credential is not None
    assert credential.refresh_token == REFRESH_TOKEN


def test_flat_api_key_is_an_api_key_credential() -> None:
    credential = parse({"accessToken": API_KEY})
    assert credential is not None
    assert credential.kind == "api_key"
    assert credential.token == API_KEY


@pytest.mark.parametrize(
    "document", [{}, {"theme": "dark"}, {"accessToken": ""}, {"accessToken": 12345}]
)
def test_json_without_a_token_is_none(document: dict[str, Any]) -> None:
    assert parse(document) is None


def test_corrupt_json_names_the_file_but_not_its_content() -> None:
    content = b'{"claudeAiOauth": {"accessToken": "' + OAUTH_TOKEN.encode()
    with pytest.raises(NoCredential) as info:
        parse_credentials(content, SOURCE)
    assert SOURCE in info.value.message
    assert OAUTH_TOKEN not in info.value.message
    assert OAUTH_TOKEN not in str(info.value)


def test_invalid_utf8_is_no_credential() -> None:
    with pytest.raises(NoCredential, match="not valid JSON"):
        parse_credentials(b"\xff\xfe{", SOURCE)


@pytest.mark.parametrize("document", [[{"accessToken": OAUTH_TOKEN}], "token", 42], ids=repr)
def test_json_that_is_not_an_object_is_no_credential(document: Any) -> None:
    with pytest.raises(NoCredential, match=re.escape(SOURCE)):
        parse(document)


@pytest.mark.parametrize(
    "nested",
    [{"refreshToken": REFRESH_TOKEN}, {"accessToken": ""}, {"accessToken": None}, "oops"],
    ids=repr,
)
def test_claude_ai_oauth_without_an_access_token_is_no_credential(nested: Any) -> None:
    with pytest.raises(NoCredential, match="claudeAiOauth"):
        parse({"claudeAiOauth": nested})


def test_credential_repr_hides_the_tokens() -> None:
    credential = parse(claude_login())
    assert credential is not None
    assert OAUTH_TOKEN not in repr(credential)
    assert REFRESH_TOKEN not in repr(credential)


def test_credential_describe_hides_the_tokens() -> None:
    credential = parse(claude_login())
    assert credential is not None
    described = repr(credential.describe(now=0))
    assert OAUTH_TOKEN not in described
    assert REFRESH_TOKEN not in described


def test_credential_knows_when_it_has_expired() -> None:
    credential = parse(claude_login(expires_at_ms=2_000_000_000_000))
    assert credential is not None
    assert not credential.is_expired(2_000_000_000 - 1)
    assert credential.is_expired(2_000_000_000)


# --- ClaudeCodeHomeSource ----------------------------------------------------------------------


def test_home_login_is_loaded(home: Path, source: ClaudeCodeHomeSource) -> None:
    path = write_credentials(home, claude_login())
    credential = source.current()
    assert credential.token == OAUTH_TOKEN
    assert credential.source == str(path)


def test_credentials_json_beats_dot_credentials_json(
    home: Path, source: ClaudeCodeHomeSource
) -> None:
    write_credentials(home, claude_login("from-dot-file"), name=".credentials.json")
    write_credentials(home, claude_login("from-plain-file"), name="credentials.json")
    assert source.current().token == "from-plain-file"


def test_file_without_a_token_is_passed_over(home: Path, source: ClaudeCodeHomeSource) -> None:
    write_credentials(home, {"theme": "dark"}, name="credentials.json")
    write_credentials(home, {"oauth_token": OAUTH_TOKEN}, name="config.json")
    assert source.current().token == OAUTH_TOKEN


def test_missing_home_explains_how_to_log_in(tmp_path: Path, clock: FakeClock) -> None:
    source = ClaudeCodeHomeSource(tmp_path / "nowhere", clock=clock)
    with pytest.raises(NoCredential) as info:
        source.current()
    assert "`claude`" in info.value.message
    assert "UPSTREAM_API_KEY" in info.value.message
    assert str(tmp_path / "nowhere") in info.value.message


def test_corrupt_dot_credentials_falls_back_to_auth_json(
    home: Path, source: ClaudeCodeHomeSource
) -> None:
    write_credentials(home, b"{not json", name=".credentials.json")
    write_credentials(home, {"accessToken": "from-auth-json"}, name="auth.json")
    assert source.current().token == "from-auth-json"


def test_only_a_corrupt_file_is_no_credential_naming_it(
    home: Path, source: ClaudeCodeHomeSource
) -> None:
    path = write_credentials(home, b'{"claudeAiOauth": {"accessToken": "' + OAUTH_TOKEN.encode())
    with pytest.raises(NoCredential) as info:
        source.current()
    assert str(path) in info.value.message
    assert OAUTH_TOKEN not in info.value.message


def test_rewritten_login_is_picked_up_after_the_recheck_interval(
    home: Path, source: ClaudeCodeHomeSource, clock: FakeClock
) -> None:
    path = write_credentials(home, claude_login("first-token"))
    assert source.current().token == "first-token"
    rewrite(path, claude_login("second-token"))
    clock.advance(RECHECK_INTERVAL_S / 2)
    assert source.current().token == "first-token"
    clock.advance(RECHECK_INTERVAL_S / 2)
    assert source.current().token == "second-token"


def test_reload_reads_the_home_at_once(
    home: Path, source: ClaudeCodeHomeSource, clock: FakeClock
) -> None:
    path = write_credentials(home, claude_login("first-token"))
    assert source.current().token == "first-token"
    rewrite(path, claude_login("second-token"))
    assert source.reload().token == "second-token"


def test_login_that_becomes_corrupt_then_is_fixed(
    home: Path, source: ClaudeCodeHomeSource, clock: FakeClock
) -> None:
    path = write_credentials(home, claude_login("first-token"))
    assert source.current().token == "first-token"

    rewrite(path, b"{ half written")
    clock.advance(RECHECK_INTERVAL_S)
    with pytest.raises(NoCredential, match="not valid JSON"):
        source.current()

    rewrite(path, claude_login("fixed-token"))
    clock.advance(RECHECK_INTERVAL_S)
    assert source.current().token == "fixed-token"


def test_login_that_appears_later_is_picked_up(
    home: Path, source: ClaudeCodeHomeSource, clock: FakeClock
) -> None:
    with pytest.raises(NoCredential):
        source.current()
    write_credentials(home, claude_login())
    clock.advance(RECHECK_INTERVAL_S)
    assert source.current().token == OAUTH_TOKEN


def test_home_describe_never_shows_the_token(home: Path, source: ClaudeCodeHomeSource) -> None:
    path = write_credentials(home, claude_login())
    described = source.describe()
    assert described == {"source": str(path), "status": "loaded"}
    assert OAUTH_TOKEN not in repr(described)
    assert REFRESH_TOKEN not in repr(described)


def test_home_describe_explains_a_missing_login(home: Path, source: ClaudeCodeHomeSource) -> None:
    described = source.describe()
    assert described["status"] == "missing"
    assert described["source"] == str(home)
    assert "UPSTREAM_API_KEY" in described["reason"]


def test_home_describe_of_a_corrupt_login_hides_its_content(
    home: Path, source: ClaudeCodeHomeSource
) -> None:
    write_credentials(home, b'{"claudeAiOauth": {"accessToken": "' + OAUTH_TOKEN.encode())
    described = source.describe()
    assert described["status"] == "missing"
    assert OAUTH_TOKEN not in repr(described)


# --- credential_source -------------------------------------------------------------------------

MakeSettings = Callable[..., Settings]


def test_upstream_api_key_setting_gives_an_api_key_credential(
    make_settings: MakeSettings,
) -> None:
    source = credential_source(make_settings(upstream_api_key=API_KEY))
    assert isinstance(source, StaticCredentialSource)
    assert source.current().kind == "api_key"
    assert source.current().token == API_KEY
    assert API_KEY not in repr(source.describe())


def test_upstream_oauth_token_setting_gives_an_oauth_credential(
    make_settings: MakeSettings,
) -> None:
    source = credential_source(make_settings(upstream_oauth_token=OAUTH_TOKEN))
    assert isinstance(source, StaticCredentialSource)
    assert source.current().kind == "oauth"
    assert source.current().token == OAUTH_TOKEN
    assert OAUTH_TOKEN not in repr(source.describe())


def test_upstream_api_key_wins_over_oauth_token(make_settings: MakeSettings) -> None:
    settings = make_settings(upstream_api_key=API_KEY, upstream_oauth_token=OAUTH_TOKEN)
    assert credential_source(settings).current().token == API_KEY


def test_without_settings_credentials_the_claude_code_home_is_used(
    make_settings: MakeSettings,
) -> None:
    settings = make_settings(upstream_api_key="  ")
    source = credential_source(settings)
    assert isinstance(source, ClaudeCodeHomeSource)
    assert source.home == settings.claude_code_home
    write_credentials(settings.claude_code_home, claude_login())
    assert source.current().token == OAUTH_TOKEN
