"""The store: keys, accounts and their shared state, sticky bindings, leases, the usage ledger,
limit counters and the audit log, on SQLite or PostgreSQL.

Import from the modules; this package re-exports nothing.

- ``base``: the ``Store`` interface (what the router may ask of persistent state) and
  ``lease_holder()``
- ``records``: the records the store takes and hands out (``KeyRecord``, ``UsageRow``, ...)
- ``sql``: ``SqlStore``, the one implementation for both databases, and ``open_store(url)``
- ``usage_sql``: the usage ledger, limit counters and audit log queries of ``SqlStore``
- ``tables``: the tables as the queries see them
- ``migrations``: the ordered schema migrations, applied at start-up
- ``driver_errors``: database driver errors turned into ``StoreError``
"""
