"""The upstream accounts: the logins and API keys the router spends on behalf of its keys.

- ``account``: one account, its state (ready, cooling down, needs login, disabled) and why.
- ``credentials``: reading a credential from a Claude Code login or a given token.
- ``credfile``: writing a refreshed login back to a Claude Code credentials file, under lock.
- ``oauth``: Anthropic's OAuth token endpoint (refresh).
- ``refresher``: one refresh per account at a time, across workers and replicas.
- ``health``: what an upstream answer says about the account that served it (quota, overload).
- ``pool``: which accounts may serve a key now; shared state kept in step with the store.
- ``scheduler``: the order accounts are tried in (sticky sessions, least used, ...).
- ``vault``: encryption at rest for the secrets the router stores itself.

May import: governance, storage and the shared modules.
"""
