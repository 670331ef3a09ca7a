"""The command line, run as a real process: tokens on the store directly, doctor, --version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from link_assistant_router import __version__
from tests.conftest import (
    OAUTH_TOKEN,
    REFRESH_TOKEN,
    TEST_SECRET,
    claude_login,
    run_cli,
    write_credentials,
)
from tests.fakes.upstream import FakeUpstream


async def cli_json(env: dict[str, str], cwd: Path, *args: str) -> Any:
    code, out, err = await run_cli(env, cwd, *args, "--json")
    assert code == 0, err
    return orjson.loads(out)


async def test_version(cli_env: dict[str, str], tmp_path: Path) -> None:
    code, out, _ = await run_cli(cli_env, tmp_path, "--version")
    assert code == 0
    assert __version__ in out


async def test_tokens_lifecycle_without_a_server(cli_env: dict[str, str], tmp_path: Path) -> None:
    issued = await cli_json(
        cli_env, tmp_path, "tokens", "issue", "--ttl-hours", "168", "--label", "laptop"
    )
    assert issued["token"].startswith("la_sk_")
    assert (issued["label"], issued["ttl_hours"]) == ("laptop", 168)

    listing = await cli_json(cli_env, tmp_path, "tokens", "list")
    assert [entry["id"] for entry in listing["data"]] == [issued["id"]]
    assert issued["token"] not in str(listing)

    shown = await cli_json(cli_env, tmp_path, "tokens", "show", issued["id"])
    assert shown["revoked_at"] is None
    revoked = await cli_json(cli_env, tmp_path, "tokens", "revoke", issued["id"])
    assert revoked["revoked_at"] is not None

    code, _out, err = await run_cli(cli_env, tmp_path, "tokens", "show", "no-such-id")
    assert code == 1
    assert "no key with id" in err


async def test_tokens_issue_prints_the_key_once_in_text(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    code, out, _ = await run_cli(cli_env, tmp_path, "tokens", "issue", "--label", "ci")
    assert code == 0
    assert out.startswith("la_sk_")
    code, out, _ = await run_cli(cli_env, tmp_path, "tokens", "list")
    assert "'ci'" in out
    assert "la_sk_" not in out


async def test_invalid_settings_are_refused_without_echoing_them(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "TOKEN_SECRET": "your-secure-secret-here"}
    code, _, err = await run_cli(env, tmp_path, "tokens", "list")
    assert code == 2
    assert "TOKEN_SECRET" in err
    assert "placeholder" in err
    code, _, err = await run_cli(cli_env, tmp_path, "tokens", "list", "--router-port", "0")
    assert code == 2
    assert "ROUTER_PORT" in err


async def test_flags_override_environment(cli_env: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    await cli_json(cli_env, tmp_path, "tokens", "issue", "--data-dir", str(other))
    assert (other / "router.db").exists()
    assert (await cli_json(cli_env, tmp_path, "tokens", "list"))["data"] == []


async def test_doctor_reports_every_check_without_secrets(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    write_credentials(tmp_path / "claude", claude_login())
    env = {**cli_env, "UPSTREAM_BASE_URL": fake_upstream.url}
    code, out, err = await run_cli(env, tmp_path, "doctor", "--json")
    assert code == 0, out + err
    report = orjson.loads(out)
    assert report["ok"] is True
    assert report["checks"]["store"]["ok"] is True
    [account] = report["checks"]["accounts"]["accounts"]
    assert (account["name"], account["kind"]) == ("primary", "claude-code")
    assert (account["state"], account["subscription_type"]) == ("ready", "max")
    assert report["checks"]["upstream"]["ok"] is True
    assert report["settings"]["TOKEN_SECRET"].startswith("set")
    for secret in (OAUTH_TOKEN, REFRESH_TOKEN, TEST_SECRET):
        assert secret not in out + err


async def test_doctor_fails_and_explains_a_missing_login(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    env = {**cli_env, "UPSTREAM_BASE_URL": fake_upstream.url}
    code, out, _ = await run_cli(env, tmp_path, "doctor")
    assert code == 1
    assert "accounts: FAILED" in out
    assert "no Claude Code login" in out
