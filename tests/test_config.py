"""Settings: defaults, env var names, refused and warned-about values, masking, the spec list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from link_assistant_router.config import MIN_SECRET_BYTES, Settings, setting_specs
from tests.conftest import random_secret

# Every variable Settings may read, aliases included: cleared so the host's environment
# cannot leak into a test.
READ_ENV = {spec.env for spec in setting_specs()} | {"CLAUDE_CONFIG_DIR", "RUST_LOG"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment with HOME in tmp_path; tests set what they need on it."""
    for name in READ_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def load() -> Settings:
    return Settings(_env_file=None)


def refusal(env: pytest.MonkeyPatch, name: str, value: str) -> ValidationError:
    env.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        load()
    return info.value


def plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


# --- defaults and env var names --------------------------------------------------------------


def test_defaults(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = load()
    assert settings.router_port == 8080
    assert settings.router_host == "0.0.0.0"
    assert settings.router_workers == 1
    assert settings.max_request_body_mb == 32
    assert settings.max_request_body_bytes == 32 * 1024 * 1024
    assert settings.upstream_connect_timeout_s == 10
    assert settings.upstream_idle_timeout_s == 600
    assert settings.log_level == "INFO"
    assert settings.log_format == "text"
    assert settings.upstream_base_url == "https://api.anthropic.com"
    assert settings.claude_code_home == tmp_path / "home" / ".claude"
    assert settings.data_dir == tmp_path / "home" / ".local" / "share" / "link-assistant-router"
    assert settings.token_secret is None
    assert settings.upstream_api_key is None
    assert settings.upstream_oauth_token is None
    assert settings.token_admin_key is None
    assert settings.database_url is None


@pytest.mark.parametrize(
    ("env_name", "raw", "field", "expected"),
    [
        ("TOKEN_SECRET", "s" * 48, "token_secret", "s" * 48),
        ("ROUTER_HOST", "127.0.0.1", "router_host", "127.0.0.1"),
        ("ROUTER_PORT", "9123", "router_port", 9123),
        ("ROUTER_WORKERS", "4", "router_workers", 4),
        ("CLAUDE_CODE_HOME", "/srv/claude", "claude_code_home", Path("/srv/claude")),
        (
            "UPSTREAM_BASE_URL",
            "http://127.0.0.1:7000/",
            "upstream_base_url",
            "http://127.0.0.1:7000",
        ),
        ("UPSTREAM_API_KEY", "sk-ant-api03-abc", "upstream_api_key", "sk-ant-api03-abc"),
        ("UPSTREAM_OAUTH_TOKEN", "sk-ant-oat01-abc", "upstream_oauth_token", "sk-ant-oat01-abc"),
        ("DATA_DIR", "/srv/router", "data_dir", Path("/srv/router")),
        (
            "DATABASE_URL",
            "postgresql+asyncpg://u@h/db",
            "database_url",
            "postgresql+asyncpg://u@h/db",
        ),
        ("TOKEN_ADMIN_KEY", "a" * 40, "token_admin_key", "a" * 40),
        ("MAX_REQUEST_BODY_MB", "1.5", "max_request_body_mb", 1.5),
        ("UPSTREAM_CONNECT_TIMEOUT_S", "3", "upstream_connect_timeout_s", 3),
        ("UPSTREAM_IDLE_TIMEOUT_S", "900", "upstream_idle_timeout_s", 900),
        ("UPSTREAM_MAX_CONNECTIONS", "17", "upstream_max_connections", 17),
        ("KEY_CACHE_TTL_S", "0.5", "key_cache_ttl_s", 0.5),
        ("ADDITIONAL_ACCOUNT_DIRS", "/a,/b", "additional_account_dirs", "/a,/b"),
        ("ACCOUNTS_KEY", "k" * 40, "accounts_key", "k" * 40),
        ("ROUTING_STRATEGY", "round-robin", "routing_strategy", "round-robin"),
        ("STICKY_TTL_MINUTES", "5", "sticky_ttl_minutes", 5),
        ("MAX_ATTEMPTS", "2", "max_attempts", 2),
        ("OVERLOAD_COOLDOWN_S", "7", "overload_cooldown_s", 7),
        ("REFRESH_MARGIN_S", "60", "refresh_margin_s", 60),
        ("OAUTH_TOKEN_URL", "http://127.0.0.1:9/t", "oauth_token_url", "http://127.0.0.1:9/t"),
        ("OAUTH_CLIENT_ID", "client-1", "oauth_client_id", "client-1"),
        ("LOG_LEVEL", "warn", "log_level", "WARNING"),
        ("LOG_FORMAT", "json", "log_format", "json"),
    ],
)
def test_env_var_is_read(
    env: pytest.MonkeyPatch, env_name: str, raw: str, field: str, expected: Any
) -> None:
    env.setenv(env_name, raw)
    assert plain(getattr(load(), field)) == expected


def test_home_paths_expand_a_tilde(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("CLAUDE_CODE_HOME", "~/claude-a")
    env.setenv("DATA_DIR", "~/router-data")
    settings = load()
    assert settings.claude_code_home == tmp_path / "home" / "claude-a"
    assert settings.data_dir == tmp_path / "home" / "router-data"


@pytest.mark.parametrize(
    ("rust_log", "level"),
    [
        ("debug", "DEBUG"),
        ("trace", "DEBUG"),
        ("warn", "WARNING"),
        ("link_assistant_router=debug", "DEBUG"),
        ("link_assistant_router=error,hyper=warn", "ERROR"),
    ],
)
def test_rust_log_is_an_alias_of_log_level(
    env: pytest.MonkeyPatch, rust_log: str, level: str
) -> None:
    env.setenv("RUST_LOG", rust_log)
    assert load().log_level == level


def test_log_level_wins_over_rust_log(env: pytest.MonkeyPatch) -> None:
    env.setenv("RUST_LOG", "debug")
    env.setenv("LOG_LEVEL", "error")
    assert load().log_level == "ERROR"


def test_unknown_log_level_is_refused(env: pytest.MonkeyPatch) -> None:
    error = refusal(env, "LOG_LEVEL", "loud")
    assert error.errors()[0]["loc"] == ("LOG_LEVEL",)


def test_claude_config_dir_is_used_when_claude_code_home_is_unset(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config-dir"))
    assert load().claude_code_home == tmp_path / "config-dir"


def test_claude_code_home_wins_over_claude_config_dir(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "config-dir"))
    env.setenv("CLAUDE_CODE_HOME", str(tmp_path / "code-home"))
    assert load().claude_code_home == tmp_path / "code-home"


# --- refused values --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["TOKEN_SECRET", "TOKEN_ADMIN_KEY", "ACCOUNTS_KEY"])
@pytest.mark.parametrize("placeholder", ["your-secure-secret-here", "CHANGE-ME", " changeme "])
def test_placeholder_secrets_are_refused(
    env: pytest.MonkeyPatch, name: str, placeholder: str
) -> None:
    error = refusal(env, name, placeholder)
    assert [entry["loc"] for entry in error.errors()] == [(name,)]


def test_placeholder_refusal_does_not_echo_the_value(env: pytest.MonkeyPatch) -> None:
    error = refusal(env, "TOKEN_SECRET", "your-secure-secret-here")
    rendered = str(error.errors(include_input=False, include_url=False))
    assert "placeholder" in rendered
    assert "your-secure-secret-here" not in rendered


@pytest.mark.parametrize("url", ["api.anthropic.com", "ftp://api.anthropic.com", "//host"])
def test_upstream_base_url_without_http_scheme_is_refused(
    env: pytest.MonkeyPatch, url: str
) -> None:
    error = refusal(env, "UPSTREAM_BASE_URL", url)
    assert error.errors()[0]["loc"] == ("UPSTREAM_BASE_URL",)


@pytest.mark.parametrize(("name", "raw"), [("ROUTER_PORT", "0"), ("ROUTER_PORT", "70000")])
def test_out_of_range_numbers_are_refused(env: pytest.MonkeyPatch, name: str, raw: str) -> None:
    error = refusal(env, name, raw)
    assert error.errors()[0]["loc"] == (name,)


@pytest.mark.parametrize("name", ["UPSTREAM_API_KEY", "UPSTREAM_OAUTH_TOKEN"])
@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_upstream_credentials_count_as_unset(
    env: pytest.MonkeyPatch, name: str, blank: str
) -> None:
    env.setenv(name, blank)
    settings = load()
    assert settings.upstream_api_key is None
    assert settings.upstream_oauth_token is None


def test_upstream_api_key_is_trimmed(env: pytest.MonkeyPatch) -> None:
    env.setenv("UPSTREAM_API_KEY", "  sk-ant-api03-abc\n")
    key = load().upstream_api_key
    assert key is not None
    assert key.get_secret_value() == "sk-ant-api03-abc"


# --- warnings --------------------------------------------------------------------------------


def mentions(warnings: list[str], word: str) -> list[str]:
    return [warning for warning in warnings if word in warning]


def test_short_token_secret_is_warned_about(env: pytest.MonkeyPatch) -> None:
    env.setenv("TOKEN_SECRET", "q" * (MIN_SECRET_BYTES - 1))
    assert len(mentions(load().warnings(), "TOKEN_SECRET")) == 1


def test_long_token_secret_is_not_warned_about(env: pytest.MonkeyPatch) -> None:
    env.setenv("TOKEN_SECRET", random_secret()[:48])
    assert mentions(load().warnings(), "TOKEN_SECRET") == []


def test_missing_admin_key_is_warned_about(env: pytest.MonkeyPatch) -> None:
    assert len(mentions(load().warnings(), "TOKEN_ADMIN_KEY")) == 1


def test_set_admin_key_is_not_warned_about(env: pytest.MonkeyPatch) -> None:
    env.setenv("TOKEN_ADMIN_KEY", random_secret())
    assert mentions(load().warnings(), "TOKEN_ADMIN_KEY") == []


# --- the store URL -----------------------------------------------------------------------------


def test_store_url_defaults_to_sqlite_under_data_dir(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("DATA_DIR", str(tmp_path / "state"))
    assert load().store_url == f"sqlite+aiosqlite:///{tmp_path / 'state' / 'router.db'}"


def test_database_url_overrides_the_store_url(env: pytest.MonkeyPatch) -> None:
    url = "postgresql+asyncpg://router@127.0.0.1:5432/router"
    env.setenv("DATABASE_URL", url)
    assert load().store_url == url


# --- masking -----------------------------------------------------------------------------------

SECRET_ENV = ("TOKEN_SECRET", "UPSTREAM_API_KEY", "UPSTREAM_OAUTH_TOKEN", "TOKEN_ADMIN_KEY")


def test_masked_never_shows_secret_values(env: pytest.MonkeyPatch) -> None:
    values = {name: f"{name.lower()}-{random_secret()}" for name in SECRET_ENV}
    for name, value in values.items():
        env.setenv(name, value)
    shown = load().masked()
    rendered = repr(shown)
    for name, value in values.items():
        assert value not in rendered
        assert shown[name] == f"set ({len(value)} chars)"


def test_masked_says_unset_for_missing_secrets(env: pytest.MonkeyPatch) -> None:
    shown = load().masked()
    for name in SECRET_ENV:
        assert shown[name] == "unset"


def test_masked_hides_the_database_password(env: pytest.MonkeyPatch) -> None:
    password = "db-" + random_secret()
    env.setenv("DATABASE_URL", f"postgresql+asyncpg://router:{password}@127.0.0.1:5432/router")
    shown = load().masked()
    assert password not in repr(shown)
    assert shown["store"] == "postgresql+asyncpg://router:***@127.0.0.1:5432/router"


# --- the spec list -----------------------------------------------------------------------------


def test_setting_specs_has_one_entry_per_field() -> None:
    specs = setting_specs()
    assert [spec.field for spec in specs] == list(Settings.model_fields)
    assert len({spec.env for spec in specs}) == len(specs)


@pytest.mark.parametrize("spec", setting_specs(), ids=lambda spec: spec.env)
def test_setting_spec_names_env_flag_and_help(spec: Any) -> None:
    assert spec.env == spec.env.upper()
    assert spec.flag == "--" + spec.field.replace("_", "-")
    assert spec.help.strip()
    assert spec.default_text.strip()


# A valid, non-default value for each setting, by type unless the field needs its own.
SAMPLE_BY_TYPE: dict[type, str] = {
    int: "4",
    float: "3.5",
    Path: "/srv/spec-check",
    str: "x" * 40,
    bool: "true",
}
SAMPLE_BY_FIELD = {
    "upstream_base_url": "http://127.0.0.1:1/spec-check",
    "oauth_token_url": "http://127.0.0.1:1/spec-check",
    "routing_strategy": "priority",
    "log_level": "error",
    "log_format": "json",
    "model_aliases": "gpt-4o=claude-opus-5",
    "cache_read_weight": "0.5",
    "trusted_proxies": "10.0.0.0/8,192.0.2.1",
    "extra_upstream_routes": "GET /v1/files, GET /v1/files/*",
    "limits_when_store_down": "refuse",
    "console": "false",
    "public_url": "https://router.example.com",
}


@pytest.mark.parametrize("spec", setting_specs(), ids=lambda spec: spec.env)
def test_setting_spec_env_is_the_variable_settings_read(env: pytest.MonkeyPatch, spec: Any) -> None:
    """The env var a spec names (shown by the CLI and README) really sets that field."""
    default = plain(getattr(load(), spec.field))
    env.setenv(spec.env, SAMPLE_BY_FIELD.get(spec.field, SAMPLE_BY_TYPE[spec.python_type]))
    assert plain(getattr(load(), spec.field)) != default


@pytest.mark.parametrize("aliases", ["gpt-4o", "gpt-4o=", "=claude-opus-5"])
def test_malformed_model_aliases_are_refused_at_start(aliases: str) -> None:
    with pytest.raises(ValidationError, match="name=model"):
        Settings(_env_file=None, model_aliases=aliases)  # type: ignore[call-arg]
