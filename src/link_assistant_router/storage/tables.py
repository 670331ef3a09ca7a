"""The tables as queries see them now; ``migrations.py`` owns how they came to be."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, String, Table, Text

_metadata = MetaData()

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
