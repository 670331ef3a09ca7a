"""The admin API (and the parts of it the CLI shares): keys, accounts, usage, the audit log and
the metrics endpoint, each under the same access rule (``common.check_admin``).

- ``common``: who may call an admin route, JSON in and out, a key's record as shown.
- ``keys``: ``/api/tokens*``.
- ``accounts``: ``/api/accounts*`` and ``AccountAdmin``, which the CLI uses too.
- ``usage``: ``GET /v1/usage``, ``GET /v1/usage/requests`` and ``GET /api/me``; the reports
  and CSV the CLI and the console share.
- ``audit``: ``GET /api/audit``.
- ``metrics``: ``GET /metrics``.

May import: proxy and everything below it.
"""
