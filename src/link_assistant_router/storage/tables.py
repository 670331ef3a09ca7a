"""The tables as queries see them now; ``migrations.py`` owns how they came to be."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

from link_assistant_router.storage.records import USAGE_TOTALS

__all__ = [
    "account_state",
    "accounts",
    "api_keys",
    "audit_log",
    "console_sessions",
    "key_inflight",
    "key_minutes",
    "key_windows",
    "leases",
    "message_batches",
    "sticky_sessions",
    "usage_daily",
    "usage_events",
    "usage_hourly",
]

_metadata = MetaData()


def _totals() -> list[Column[int]]:
    """The columns of a usage total (``usage_daily``, ``usage_hourly``)."""
    return [Column(name, BigInteger, nullable=False) for name in USAGE_TOTALS]


api_keys = Table(
    "api_keys",
    _metadata,
    Column("id", String(36), primary_key=True),
    Column("label", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float),
    Column("last_used_at", Float),
    Column("account", String(100)),
    Column("group_name", String(100)),
    Column("limits", Text),
)

accounts = Table(
    "accounts",
    _metadata,
    Column("name", String(100), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("group_name", String(100)),
    Column("claude_home", String(1000)),
    Column("secret", Text),
    Column("created_at", Float, nullable=False),
)

account_state = Table(
    "account_state",
    _metadata,
    Column("name", String(100), primary_key=True),
    Column("state", String(20), nullable=False),
    Column("reason", String(500)),
    Column("cooldown_until", Float),
    Column("login_fingerprint", String(64)),
    Column("quota", Text),
    Column("requests", BigInteger, nullable=False),
    Column("last_error", String(500)),
    Column("updated_at", Float, nullable=False),
)

sticky_sessions = Table(
    "sticky_sessions",
    _metadata,
    Column("session", String(200), primary_key=True),
    Column("account", String(100), nullable=False),
    Column("expires_at", Float, nullable=False),
)

leases = Table(
    "leases",
    _metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", Float, nullable=False),
)

usage_events = Table(
    "usage_events",
    _metadata,
    Column("request_id", String(40), nullable=False),
    Column("at", Float, nullable=False),
    Column("day", Integer, nullable=False),
    Column("key_id", String(36), nullable=False),
    Column("account", String(100), nullable=False),
    Column("model", String(100), nullable=False),
    Column("session", String(200)),
    Column("client", String(60)),
    Column("route", String(200), nullable=False),
    Column("status", Integer),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cache_creation_input_tokens", BigInteger, nullable=False),
    Column("cache_read_input_tokens", BigInteger, nullable=False),
    Column("ttfb_ms", Float),
    Column("duration_ms", Float, nullable=False),
    Column("error_type", String(60)),
    Column("complete", SmallInteger, nullable=False),
    Column("cache_creation_5m_input_tokens", BigInteger, nullable=False),
    Column("cache_creation_1h_input_tokens", BigInteger, nullable=False),
    Column("web_search_requests", Integer, nullable=False),
    Column("web_fetch_requests", Integer, nullable=False),
    Column("cost_micros", BigInteger, nullable=False),
    Column("subscription", SmallInteger, nullable=False),
    Column("unpriced", SmallInteger, nullable=False),
)

usage_daily = Table(
    "usage_daily",
    _metadata,
    Column("day", Integer, primary_key=True),
    Column("key_id", String(36), primary_key=True),
    Column("account", String(100), primary_key=True),
    Column("model", String(100), primary_key=True),
    *_totals(),
)

usage_hourly = Table(
    "usage_hourly",
    _metadata,
    Column("hour", Integer, primary_key=True),  # at // 3600
    Column("key_id", String(36), primary_key=True),
    Column("account", String(100), primary_key=True),
    Column("model", String(100), primary_key=True),
    *_totals(),
)

key_windows = Table(
    "key_windows",
    _metadata,
    Column("key_id", String(36), primary_key=True),
    Column("name", String(10), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("tokens", Float, nullable=False),
    Column("cost_micros", BigInteger, nullable=False),
)

key_minutes = Table(
    "key_minutes",
    _metadata,
    Column("key_id", String(36), primary_key=True),
    Column("minute", Integer, primary_key=True),
    Column("requests", Integer, nullable=False),
    Column("granted", Integer, nullable=False),
)

key_inflight = Table(
    "key_inflight",
    _metadata,
    Column("request_id", String(40), primary_key=True),
    Column("key_id", String(36), nullable=False),
    Column("expires_at", Float, nullable=False),
)

audit_log = Table(
    "audit_log",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("at", Float, nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(200), nullable=False),
    Column("actor", String(20), nullable=False),
    Column("request_id", String(40)),
    Column("details", Text),
)

message_batches = Table(
    "message_batches",
    _metadata,
    Column("id", String(100), primary_key=True),
    Column("key_id", String(36), nullable=False),
    Column("account", String(100), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("worst_case_tokens", BigInteger, nullable=False),
    Column("counted_at", Float),
)

console_sessions = Table(
    "console_sessions",
    _metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie's token, hex
    Column("kind", String(10), nullable=False),
    Column("key_id", String(36)),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("client", String(60)),
)
