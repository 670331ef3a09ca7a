"""The ``link-assistant-router`` command: ``serve`` (the default), ``tokens``, ``accounts``,
``usage``, ``audit``, ``doctor``.

- ``main``: the command group and ``serve``; ``support``: flags from the settings, output.
- ``tokens``, ``accounts``, ``usage``, ``audit``: the commands working on the store directly.
- ``limits``: the limit flags of ``tokens issue`` and ``tokens update``.
- ``doctor``: what the router would run with, and whether each part works.

May import: everything.
"""
