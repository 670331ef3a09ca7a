"""The web console: operators see and run the router in a browser (``/console``), key holders
see their own usage (``/me``). Server-rendered pages (Jinja2, auto-escaped), htmx for the live
parts, uPlot for charts; the JavaScript and CSS ship in ``static/`` (``static/vendor``: pinned
copies with their licences, ``scripts/vendor_assets.py``), nothing is fetched from elsewhere.

- ``site``: ``Console``, the whole put together: routes, static files, the error page, headers.
- ``guard``: who may see a page and send a form (sessions, CSRF, origins), sign-in throttling,
  the security headers.
- ``sessions``: server-side sessions in the store, their cookies, CSRF tokens.
- ``kit``: what pages share: the router's parts, drawing a page, set-up snippets.
- ``signin``: signing in and out, operators and key holders.
- ``overview``, ``keys``, ``accounts``, ``reports``: the operator's pages.
- ``holder``: the key holder's page.
- ``charts``: time ranges and chart series from usage reports (pure).
- ``formatting``: numbers and times for people, the templates' filters (pure).

May import: admin, formats and everything below them (its floor is between them and
``app``). Only ``app`` imports it.
"""
