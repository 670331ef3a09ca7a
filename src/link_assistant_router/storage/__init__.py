"""The store: keys today; usage rows, accounts and leases as later issues add them."""

from link_assistant_router.storage.base import KeyRecord, Store
from link_assistant_router.storage.sql import SqlStore, open_store

__all__ = ["KeyRecord", "SqlStore", "Store", "open_store"]
