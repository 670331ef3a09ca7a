"""The store: keys, accounts and their shared state, sticky bindings and leases."""

from link_assistant_router.storage.base import AccountRecord, AccountStateRecord, KeyRecord, Store
from link_assistant_router.storage.sql import SqlStore, open_store

__all__ = ["AccountRecord", "AccountStateRecord", "KeyRecord", "SqlStore", "Store", "open_store"]
