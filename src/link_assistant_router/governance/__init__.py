"""What a key may do and what it did: the ``la_sk_`` keys, their limits enforced, the usage
ledger and the audit log.

- ``keys``: mint, verify, revoke and update keys (signed tokens; records in the store).
- ``governor``: a key's limits (rpm, concurrency, token budgets) before a request goes upstream,
  and the key's own rate-limit headers.
- ``ledger``: one row per proxied request, written in batches off the request path.
- ``audit``: who issued, changed and revoked keys and changed accounts.

May import: storage and the shared modules.
"""
