"""The store: keys, accounts and their shared state, sticky bindings, leases, the usage ledger,
limit counters, the audit log and console sessions, on SQLite or PostgreSQL.

Import from the modules; this package re-exports nothing.

- ``base``: the ``Store`` interface (what the router may ask of persistent state) and
  ``lease_holder()``
- ``records``: the records the store takes and hands out (``KeyRecord``, ``UsageRow``, ...)
- ``sql``: ``SqlStore``, the one implementation for both databases (the engine, opening,
  closing, ping), and ``open_store(url)``
- ``queries``: ``Queries``, what every concern's queries stand on (engine, dialect, upserts)
- ``keys_sql``: issuing, reading, revoking, touching and changing keys
- ``accounts_sql``: accounts added at run time, their shared state, sticky-session bindings
- ``leases_sql``: leases held by one process at a time
- ``usage_sql``: the usage ledger: recording rows and hourly totals, reports (grouped by time
  bucket, key, model or account), recent rows, latency percentiles, folding old days
- ``limits_sql``: budget windows, per-minute request grants, concurrency slots
- ``audit_sql``: recording and listing admin actions
- ``sessions_sql``: console sessions: creating, finding, ending, purging
- ``tables``: the tables as the queries see them
- ``migrations``: the ordered schema migrations, applied at start-up
- ``driver_errors``: database driver errors turned into ``StoreError``
"""
