"""Settings: the one place that reads the environment, ``.env`` and command-line flags.

Every setting is declared once below, with its env var, default and help text. The CLI builds
its flags from these declarations (``setting_specs``), and so does the README's table
(``scripts/settings_table.py``), so the three can't drift apart.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from link_assistant_router.limits import IpNetwork, parse_networks
from link_assistant_router.routes import parse_extra_routes

__all__ = ["MIN_SECRET_BYTES", "PLACEHOLDER_SECRETS", "SettingSpec", "Settings", "setting_specs"]

# Values copied from documentation examples: a gateway started with one of these is one
# whose keys anybody can forge, so it refuses to start.
PLACEHOLDER_SECRETS = frozenset(
    {
        "your-secure-secret-here",
        "your-secret-here",
        "your-secret",
        "your-secret-key",
        "your-admin-key",
        "your-admin-key-here",
        "change-me",
        "changeme",
        "change-this",
        "replace-me",
        "secret",
        "password",
        "example",
        "test",
    }
)
MIN_SECRET_BYTES = 32

_LOG_LEVELS = {
    "trace": "DEBUG",
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "error": "ERROR",
    "critical": "CRITICAL",
    "off": "CRITICAL",
}


def _default_claude_home() -> Path:
    return Path.home() / ".claude"


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "link-assistant-router"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """The router's configuration, parsed once at start-up and passed down, frozen."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    token_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("TOKEN_SECRET"),
        description="HS256 secret that signs la_sk_ keys. Unset: generated on first start and "
        "kept (mode 0600) in DATA_DIR/token_secret. Under 32 bytes: a warning; "
        "documentation placeholders are refused.",
        json_schema_extra={"default_text": "generated, kept in DATA_DIR"},
    )
    router_host: str = Field(
        "0.0.0.0", validation_alias=_env("ROUTER_HOST"), description="Address to listen on."
    )
    router_port: int = Field(
        8080, ge=1, le=65535, validation_alias=_env("ROUTER_PORT"), description="Port to listen on."
    )
    router_workers: int | Literal["auto"] = Field(
        1,
        validation_alias=_env("ROUTER_WORKERS"),
        description="Worker processes sharing the port (SO_REUSEPORT), one event loop each; "
        "auto: one per CPU core.",
    )
    client_header_timeout_s: float = Field(
        10,
        gt=0,
        validation_alias=_env("CLIENT_HEADER_TIMEOUT_S"),
        description="A client must send a request's whole head (request line and headers) "
        "within this long, or its connection is closed.",
    )
    client_keepalive_s: float = Field(
        75,
        gt=0,
        validation_alias=_env("CLIENT_KEEPALIVE_S"),
        description="How long an idle keep-alive connection from a client stays open.",
    )
    max_client_connections: int = Field(
        16384,
        ge=1,
        validation_alias=_env("MAX_CLIENT_CONNECTIONS"),
        description="Client connections open at once, per worker; past it new ones are closed "
        "at once (and the log says so). The router raises its open-file limit to what this and "
        "UPSTREAM_MAX_CONNECTIONS need, and warns when the system's hard limit is lower.",
    )
    claude_code_home: Path = Field(
        default_factory=_default_claude_home,
        validation_alias=_env("CLAUDE_CODE_HOME", "CLAUDE_CONFIG_DIR"),
        description="Directory holding the Claude Code login (.credentials.json).",
        json_schema_extra={"default_text": "$CLAUDE_CONFIG_DIR or ~/.claude"},
    )
    upstream_base_url: str = Field(
        "https://api.anthropic.com",
        validation_alias=_env("UPSTREAM_BASE_URL"),
        description="Base URL of the Anthropic API.",
    )
    upstream_api_key: SecretStr | None = Field(
        None,
        validation_alias=_env("UPSTREAM_API_KEY"),
        description="An Anthropic API key (sk-ant-api...) to use instead of the Claude Code "
        "login; sent as x-api-key.",
    )
    upstream_oauth_token: SecretStr | None = Field(
        None,
        validation_alias=_env("UPSTREAM_OAUTH_TOKEN"),
        description="A long-lived OAuth token from `claude setup-token` to use instead of the "
        "Claude Code login.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        validation_alias=_env("DATA_DIR"),
        description="Where the router keeps its state (SQLite store, generated secret).",
        json_schema_extra={"default_text": "~/.local/share/link-assistant-router"},
    )
    database_url: str | None = Field(
        None,
        validation_alias=_env("DATABASE_URL"),
        description="SQLAlchemy URL of the store: sqlite+aiosqlite:///PATH or "
        "postgresql+asyncpg://USER@HOST/DB.",
        json_schema_extra={"default_text": "sqlite+aiosqlite:///$DATA_DIR/router.db"},
    )
    token_admin_key: SecretStr | None = Field(
        None,
        validation_alias=_env("TOKEN_ADMIN_KEY"),
        description="Admin key for the admin API (/api/tokens*, /api/accounts*, /v1/usage, "
        "/api/audit, /metrics), on either listener. Unset: the admin API answers only on the "
        "loopback admin listener (ADMIN_PORT), to local clients that sent no proxy header.",
    )
    admin_port: int = Field(
        8081,
        ge=0,
        le=65535,
        validation_alias=_env("ADMIN_PORT"),
        description="Port of the admin listener, bound to 127.0.0.1 and ::1 only. 0: none (then "
        "the admin API needs TOKEN_ADMIN_KEY).",
    )
    trusted_proxies: str = Field(
        "",
        validation_alias=_env("TRUSTED_PROXIES"),
        description="Comma-separated CIDRs of reverse proxies in front of the router: from "
        "them, the client address is read from X-Forwarded-For / Forwarded / X-Real-IP (for "
        "network limits and logs). From anyone else those headers are ignored.",
        json_schema_extra={"default_text": "none"},
    )
    console: bool = Field(
        True,
        validation_alias=_env("CONSOLE"),
        description="Serve the web console: /console for operators (under the admin API's "
        "rule: a sign-in with TOKEN_ADMIN_KEY, or only the loopback admin listener while it is "
        "unset) and /me for key holders (a sign-in with their own key). false: both are 404.",
    )
    console_session_hours: float = Field(
        12,
        gt=0,
        le=24 * 30,
        validation_alias=_env("CONSOLE_SESSION_HOURS"),
        description="How long a console sign-in lasts (a key holder's ends with the key, too).",
    )
    behind_tls_proxy: bool = Field(
        False,
        validation_alias=_env("BEHIND_TLS_PROXY"),
        description="Browsers reach the router through a reverse proxy that terminates TLS: "
        "console cookies are marked Secure. (They are whenever a request came over TLS, or "
        "through a TRUSTED_PROXIES proxy that sent X-Forwarded-Proto: https.)",
    )
    public_url: str = Field(
        "",
        validation_alias=_env("PUBLIC_URL"),
        description="The router's address as clients reach it (e.g. https://router.example.com)"
        ", used in the console's set-up snippets. Unset: the address the browser used, with "
        "ROUTER_PORT on the admin listener.",
        json_schema_extra={"default_text": "the browser's"},
    )
    store_timeout_s: float = Field(
        5.0,
        gt=0,
        validation_alias=_env("STORE_TIMEOUT_S"),
        description="Deadline of every store call (connecting, waiting for a pooled connection, "
        "the statements): past it the call fails and the router goes on without the store "
        "where it can (see LIMITS_WHEN_STORE_DOWN).",
    )
    limits_when_store_down: Literal["local", "refuse"] = Field(
        "local",
        validation_alias=_env("LIMITS_WHEN_STORE_DOWN"),
        description="Keys with limits while the store cannot be reached: local (each process "
        "enforces its last-known share of the key's rate, concurrency and budgets, "
        "conservatively) or refuse (503 until the store is back).",
    )
    ledger_spill_mb: float = Field(
        256,
        ge=0,
        validation_alias=_env("LEDGER_SPILL_MB"),
        description="While the store is away, usage ledger rows beyond what memory keeps wait "
        "in a file in DATA_DIR/ledger-spill, up to this size per process (0: none); they are "
        "written when the store is back, and rows beyond it are dropped and counted.",
    )
    max_request_body_mb: float = Field(
        32,
        gt=0,
        validation_alias=_env("MAX_REQUEST_BODY_MB"),
        description="Larger request bodies get 413 request_too_large before they are read.",
    )
    upstream_connect_timeout_s: float = Field(
        10,
        gt=0,
        validation_alias=_env("UPSTREAM_CONNECT_TIMEOUT_S"),
        description="Timeout for connecting to the upstream (504 when it passes).",
    )
    upstream_idle_timeout_s: float = Field(
        240,
        gt=0,
        validation_alias=_env("UPSTREAM_IDLE_TIMEOUT_S"),
        description="Longest silence allowed from the upstream (before its answer, or between "
        "two pieces of it); there is no total-duration limit. Below Claude Code's own 300 s, so "
        "the router ends a dead stream, saying why, before the client gives up on it.",
    )
    upstream_max_connections: int = Field(
        8192,
        ge=1,
        validation_alias=_env("UPSTREAM_MAX_CONNECTIONS"),
        description="Requests in flight to the upstream at once, per worker (each holds a "
        "connection); sized for thousands of concurrent streams.",
    )
    upstream_pool_timeout_s: float = Field(
        10,
        gt=0,
        validation_alias=_env("UPSTREAM_POOL_TIMEOUT_S"),
        description="How long a request waits for one of UPSTREAM_MAX_CONNECTIONS to free up "
        "before it gets 503 with retry-after.",
    )
    key_cache_ttl_s: float = Field(
        2,
        ge=0,
        validation_alias=_env("KEY_CACHE_TTL_S"),
        description="How long a worker trusts its cached copy of a key's record; a revocation "
        "made elsewhere takes effect within this time.",
    )
    additional_account_dirs: str = Field(
        "",
        validation_alias=_env("ADDITIONAL_ACCOUNT_DIRS"),
        description="More Claude Code homes to use as accounts, comma-separated.",
        json_schema_extra={"default_text": "none"},
    )
    accounts_key: SecretStr | None = Field(
        None,
        validation_alias=_env("ACCOUNTS_KEY"),
        description="Key that encrypts account secrets the router stores itself (tokens added "
        "with `accounts add`). Unset: derived from the token signing secret.",
    )
    routing_strategy: Literal["sticky", "round-robin", "priority", "least-used"] = Field(
        "sticky",
        validation_alias=_env("ROUTING_STRATEGY"),
        description="How requests are spread over accounts: sticky (a conversation stays on one "
        "account, keeping its prompt cache), round-robin, priority, least-used (lowest 5-hour "
        "utilization).",
    )
    disable_metrics: bool = Field(
        False,
        validation_alias=_env("DISABLE_METRICS"),
        description="Turn GET /metrics off (404).",
    )
    metrics_per_key: bool = Field(
        False,
        validation_alias=_env("METRICS_PER_KEY"),
        description="Label token metrics with the key's label too (one series per key).",
    )
    usage_retention_days: int = Field(
        90,
        ge=1,
        validation_alias=_env("USAGE_RETENTION_DAYS"),
        description="How many days of per-request usage rows are kept; older days are folded "
        "into daily totals, which are kept forever.",
    )
    cache_read_weight: float = Field(
        0.1,
        ge=0,
        le=1,
        validation_alias=_env("CACHE_READ_WEIGHT"),
        description="How much a cache-read token counts against a key's token budgets "
        "(input, output and cache-write tokens count fully).",
    )
    prices_file: Path | None = Field(
        None,
        validation_alias=_env("PRICES_FILE"),
        description="A TOML (or .json) file of model prices in dollars per million tokens that "
        "add to or replace the built-in table (Anthropic's list prices); see the README's Cost "
        "section. Requests to models with no price cost $0 and are flagged in reports.",
        json_schema_extra={"default_text": "none (the built-in table)"},
    )
    sticky_ttl_minutes: float = Field(
        60,
        gt=0,
        validation_alias=_env("STICKY_TTL_MINUTES"),
        description="How long an idle conversation stays bound to its account.",
    )
    max_attempts: int = Field(
        3,
        ge=1,
        le=10,
        validation_alias=_env("MAX_ATTEMPTS"),
        description="Accounts tried for one request before its failure reaches the client.",
    )
    overload_cooldown_s: float = Field(
        30,
        ge=0,
        validation_alias=_env("OVERLOAD_COOLDOWN_S"),
        description="How long an account rests after the upstream answers 529 overloaded.",
    )
    refresh_margin_s: float = Field(
        300,
        ge=0,
        validation_alias=_env("REFRESH_MARGIN_S"),
        description="Refresh a Claude Code login this many seconds before it expires.",
    )
    model_aliases: str = Field(
        "",
        validation_alias=_env("MODEL_ALIASES"),
        description="Model names for the OpenAI-compatible, Bedrock and Vertex routes, as "
        "name=claude-model pairs, comma-separated; a name may be a glob "
        "(gpt-5*-mini=claude-haiku-5-5). They win over the built-in table (today's OpenAI "
        "defaults: gpt-6.x and gpt-5.x-codex-max -> Opus, gpt-5.x and -codex -> Sonnet, "
        "-mini and -nano -> Haiku, o1/o3/o4 -> Opus); the most specific entry wins.",
        json_schema_extra={"default_text": "none"},
    )
    default_model: str = Field(
        "",
        validation_alias=_env("DEFAULT_MODEL"),
        description="The Claude model for any other model name a client sends that is not a "
        "claude-... id. Unset: such a name gets a 400 that names it.",
        json_schema_extra={"default_text": "unset (refuse)"},
    )
    max_output_tokens: str = Field(
        "",
        validation_alias=_env("MAX_OUTPUT_TOKENS"),
        description="The output limit of translated requests whose client sends none, per "
        "Claude model, as glob=tokens pairs, comma-separated (claude-opus-*=64000); they win "
        "over the built-in table of each family's documented maximum.",
        json_schema_extra={"default_text": "none"},
    )
    unsupported_tools: Literal["drop", "refuse"] = Field(
        "drop",
        validation_alias=_env("UNSUPPORTED_TOOLS"),
        description="What a translated request does with a built-in OpenAI tool Claude cannot "
        "honour (file_search, code_interpreter, image_generation, ...): drop leaves it out "
        "and names it in the x-router-tools-left-out header and the log line; refuse answers "
        "400 naming it.",
    )
    batches: bool = Field(
        False,
        validation_alias=_env("BATCHES"),
        description="Forward Anthropic's Message Batches API: each request in a batch is checked "
        "against the key's model limits, the batch's worst case (max_tokens) against its "
        "budgets, and its results are counted when read, for the key that created it.",
    )
    extra_upstream_routes: str = Field(
        "",
        validation_alias=_env("EXTRA_UPSTREAM_ROUTES"),
        description="More Anthropic API routes to forward for any valid key, as comma-separated "
        "'METHOD /v1/path' pairs, * for one path segment (e.g. 'GET /v1/files, GET /v1/files/*'). "
        "Only messages, count_tokens and the model list are forwarded otherwise; organization, "
        "OAuth and batch routes never are.",
        json_schema_extra={"default_text": "none"},
    )
    oauth_token_url: str = Field(
        "https://platform.claude.com/v1/oauth/token",
        validation_alias=_env("OAUTH_TOKEN_URL"),
        description="Anthropic's OAuth token endpoint, used to refresh Claude Code logins.",
    )
    oauth_client_id: str = Field(
        "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
        validation_alias=_env("OAUTH_CLIENT_ID"),
        description="The OAuth client id Claude Code logins belong to.",
    )
    log_level: str = Field(
        "info",
        validation_alias=_env("LOG_LEVEL", "RUST_LOG"),
        description="trace, debug, info, warn, error (RUST_LOG is read too).",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        validation_alias=_env("LOG_FORMAT"),
        description="text, or json for one JSON object per line.",
    )

    @field_validator("token_secret", "token_admin_key", "accounts_key")
    @classmethod
    def _refuse_placeholders(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value().strip()
        if not raw:
            return None
        if raw.lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                "is a placeholder from the documentation; generate one with "
                "`openssl rand -base64 48` (or leave TOKEN_SECRET unset to have one generated)"
            )
        return value

    @field_validator("upstream_api_key", "upstream_oauth_token")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("upstream_base_url", "oauth_token_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("model_aliases")
    @classmethod
    def _check_aliases(cls, value: str) -> str:
        for part in value.split(","):
            name, sep, model = part.partition("=")
            if part.strip() and (not sep or not name.strip() or not model.strip()):
                raise ValueError(f"expected name=model pairs, got {part.strip()!r}")
        return value

    @field_validator("max_output_tokens")
    @classmethod
    def _check_max_output_tokens(cls, value: str) -> str:
        for part in value.split(","):
            name, sep, tokens = part.partition("=")
            if part.strip() and (
                not sep or not name.strip() or not tokens.strip().isdigit() or int(tokens) < 1
            ):
                raise ValueError(f"expected glob=tokens pairs, got {part.strip()!r}")
        return value

    @field_validator("extra_upstream_routes")
    @classmethod
    def _check_extra_routes(cls, value: str) -> str:
        parse_extra_routes(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        parse_networks(value, "TRUSTED_PROXIES")
        return value

    @model_validator(mode="after")
    def _ports_differ(self) -> Settings:
        if self.admin_port and self.admin_port == self.router_port:
            raise ValueError("ADMIN_PORT must differ from ROUTER_PORT (or be 0 for none)")
        return self

    @field_validator("prices_file", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("claude_code_home", "data_dir", "prices_file")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @field_validator("log_level")
    @classmethod
    def _parse_log_level(cls, value: str) -> str:
        # RUST_LOG may look like "info" or "link_assistant_router=debug,hyper=warn":
        # the first level named wins.
        for part in value.replace(",", " ").split():
            level = part.rsplit("=", 1)[-1].strip().lower()
            if level in _LOG_LEVELS:
                return _LOG_LEVELS[level]
        raise ValueError(f"unknown log level {value!r}; use one of {', '.join(_LOG_LEVELS)}")

    @field_validator("router_workers")
    @classmethod
    def _check_workers(cls, value: int | str) -> int | str:
        if value != "auto" and not 1 <= int(value) <= 64:
            raise ValueError("must be auto or a number from 1 to 64")
        return value

    @property
    def workers(self) -> int:
        """ROUTER_WORKERS as a number (auto: the CPU cores this process may use)."""
        if self.router_workers == "auto":
            if hasattr(os, "sched_getaffinity"):
                return max(1, len(os.sched_getaffinity(0)))
            return os.cpu_count() or 1
        return int(self.router_workers)

    @property
    def store_url(self) -> str:
        """The store's SQLAlchemy URL, with the SQLite default filled in."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'router.db'}"

    @property
    def extra_claude_homes(self) -> list[Path]:
        """ADDITIONAL_ACCOUNT_DIRS as paths, in order, without blanks or repeats."""
        homes: list[Path] = []
        for part in self.additional_account_dirs.split(","):
            if part.strip():
                home = Path(part.strip()).expanduser()
                if home not in homes:
                    homes.append(home)
        return homes

    @property
    def trusted_proxy_networks(self) -> tuple[IpNetwork, ...]:
        return parse_networks(self.trusted_proxies, "TRUSTED_PROXIES")

    @property
    def max_request_body_bytes(self) -> int:
        return int(self.max_request_body_mb * 1024 * 1024)

    def warnings(self) -> list[str]:
        """Things that work but that an operator should hear about at start-up."""
        found = []
        secret = self.token_secret
        if secret is not None and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            found.append(
                f"TOKEN_SECRET is shorter than {MIN_SECRET_BYTES} bytes; "
                "use `openssl rand -base64 48`"
            )
        if self.token_admin_key is None:
            where = (
                f"on 127.0.0.1:{self.admin_port} and [::1]:{self.admin_port} (ADMIN_PORT), to "
                "local clients without proxy headers"
                if self.admin_port
                else "nowhere (ADMIN_PORT=0)"
            )
            found.append(f"TOKEN_ADMIN_KEY is not set: the admin API answers only {where}")
        try:
            host_is_public = not ipaddress.ip_address(self.router_host).is_loopback
        except ValueError:
            host_is_public = self.router_host != "localhost"
        if host_is_public and self.upstream_base_url.startswith("http://"):
            found.append("UPSTREAM_BASE_URL is plain http:// while the router listens publicly")
        return found

    def masked(self) -> dict[str, Any]:
        """Every setting by env var name, secrets replaced by whether they are set."""
        shown: dict[str, Any] = {}
        for spec in setting_specs():
            value = getattr(self, spec.field)
            if isinstance(value, SecretStr):
                value = f"set ({len(value.get_secret_value())} chars)"
            elif value is None:
                value = "unset" if spec.secret else None
            elif isinstance(value, Path):
                value = str(value)
            elif spec.env == "DATABASE_URL":
                value = _mask_url(value)
            shown[spec.env] = value
        shown["store"] = _mask_url(self.store_url)
        return shown


def _mask_url(url: str) -> str:
    """Hide a password in a database URL."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest or not sep:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


@dataclass(frozen=True)
class SettingSpec:
    """One setting as the CLI and the README show it."""

    field: str
    env: str
    flag: str
    python_type: type
    default_text: str
    help: str
    secret: bool


def _base_type(annotation: Any) -> type:
    """``int`` for ``int``, ``SecretStr`` for ``SecretStr | None``, ``str`` for a Literal."""
    args = [arg for arg in get_args(annotation) if arg is not type(None)]
    if get_origin(annotation) is Literal or (not isinstance(annotation, type) and not args):
        return str
    if args and get_origin(annotation) is not Literal:
        return _base_type(args[0])
    return annotation if isinstance(annotation, type) else str


def setting_specs() -> list[SettingSpec]:
    """The settings in declaration order, for building flags and documentation."""
    specs = []
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        env = alias.choices[0] if isinstance(alias, AliasChoices) else name.upper()
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        python_type = _base_type(info.annotation)
        secret = python_type is SecretStr
        default_text = extra.get("default_text")
        if default_text is None:
            default_text = "unset" if info.default is None else str(info.default)
            if isinstance(info.default, bool):
                default_text = default_text.lower()
        specs.append(
            SettingSpec(
                field=name,
                env=str(env),
                flag="--" + name.replace("_", "-"),
                python_type=python_type if python_type in (int, float, Path, bool) else str,
                default_text=str(default_text),
                help=info.description or "",
                secret=secret,
            )
        )
    return specs
