"""Moving requests to the upstream and answers back: the request pipeline (authenticate, admit,
choose accounts, fail over), the byte relay with its SSE handling, and the upstream client.

- ``pipeline``: ``Proxy``: the account loop every client format goes through.
- ``passthrough``: the Anthropic routes forwarded as they are.
- ``relay``: an upstream answer relayed to the client as it arrives.
- ``upstream``: the pooled HTTP client to the upstream.
- ``headers``: which headers cross, and the credential put on a request.
- ``sse``: server-sent events at the byte level.
- ``sessions``: which conversation a request belongs to (sticky accounts).
- ``usage``: token usage read from answers as they pass.

May import: metrics, probes, boundary, accounts, governance, storage and the shared modules.
"""
