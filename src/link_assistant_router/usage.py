"""Token usage of one answer: read from a Messages JSON body, or from its SSE stream as it passes.

A stream's ``message_start`` carries the first counts; each ``message_delta`` carries cumulative
counts, so the non-null fields of the last one overwrite (never add to) what came before.
"""

from __future__ import annotations

from dataclasses import dataclass

USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


@dataclass(slots=True)
class Usage:
    """Token counts of one answer, by Anthropic's four kinds."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def update(self, counts: object) -> None:
        """Overwrite the counts that ``counts`` (a ``usage`` object) carries as integers."""
        if not isinstance(counts, dict):
            return
        for name in USAGE_FIELDS:
            value = counts.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(self, name, value)
