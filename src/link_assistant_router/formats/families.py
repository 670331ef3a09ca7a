"""What the translated routes need to know about a Claude model: its family's documented maximum
output (used when a client sends no output limit: Codex never does) and the parts of a request
it refuses, so that a translation never builds one.

- Thinking: Claude 4.6 and later take adaptive thinking steered by ``output_config.effort``;
  the Claude 5 models refuse the older ``thinking: {type: enabled, budget_tokens}`` with a 400,
  and earlier models (Haiku 4.5 among them) know only the budget form. How thinking is turned
  off differs: ``disabled`` on most models, ``between_tools`` on Sonnet 5.5 (the lowest setting
  it has), and not at all on Opus 4.7, 4.8 and 5.5, Fable and Mythos (a 400 either way).
- Sampling: Opus 4.7 and every model after it refuse a non-default ``temperature``, ``top_p``
  or ``top_k`` with a 400 (``temperature is deprecated for this model``).
- Forced tool use (``tool_choice`` ``any`` or a named tool): Opus 5.5, Sonnet 5.5 and Fable 5.1
  refuse it with a 400.

Read from Anthropic's platform docs in December 2026: the models overview ("Max output"), each
model's "What's new" and migration guide (Opus 5.5, Sonnet 5.5, Haiku 5.5, Sonnet 5) and the
adaptive-thinking page. A ``claude-`` model this table does not know is taken for a newer one
(adaptive, no way to turn thinking off, no sampling parameters): that shape works on every
current model. The table is read in order, the first match counts;
``MAX_OUTPUT_TOKENS`` (glob=tokens pairs) wins over its output limits. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from link_assistant_router.errors import ConfigError

__all__ = [
    "FALLBACK_MAX_OUTPUT",
    "FAMILIES",
    "Families",
    "Family",
    "parse_max_output",
]

FALLBACK_MAX_OUTPUT = 4096
"""For a model the table does not know."""


@dataclass(frozen=True, slots=True)
class Family:
    max_output: int
    adaptive: bool
    """Thinking is asked for as ``{type: adaptive}`` with an effort, not with a token budget."""
    off: str | None = "disabled"
    """The ``thinking.type`` that turns thinking off; None: it cannot be turned off."""
    sampling: bool = True
    """It takes ``temperature`` and ``top_p``."""
    forced_tools: bool = True
    """It takes a ``tool_choice`` of ``any`` or a named tool."""


_OLD = Family(64_000, adaptive=False)
_ADAPTIVE = Family(128_000, adaptive=True)
_NO_SAMPLING = replace(_ADAPTIVE, sampling=False)
_ALWAYS_THINKS = replace(_NO_SAMPLING, off=None)
_NEWEST = replace(_ALWAYS_THINKS, forced_tools=False)

# Max output from the models overview: the Claude 5 and 5.5 models, Opus 4.6 to 4.8 and Sonnet
# 4.6 128K; the 4.5 models and Sonnet 4 / 3.7 64K; Opus 4 and 4.1 32K; the 3.5 models 8K.
FAMILIES: tuple[tuple[str, Family], ...] = (
    ("claude-3-5-*", replace(_OLD, max_output=8_192)),
    ("claude-3-7-sonnet*", _OLD),
    ("claude-*-4-5*", _OLD),
    ("claude-opus-4-6*", _ADAPTIVE),
    ("claude-sonnet-4-6*", _ADAPTIVE),
    ("claude-opus-4-7*", _ALWAYS_THINKS),
    ("claude-opus-4-8*", _ALWAYS_THINKS),
    ("claude-opus-4*", replace(_OLD, max_output=32_000)),
    ("claude-sonnet-4*", _OLD),
    ("claude-opus-5-5*", _NEWEST),
    ("claude-sonnet-5-5*", replace(_NEWEST, off="between_tools")),
    ("claude-haiku-5-5*", _NO_SAMPLING),
    ("claude-fable-5-1*", _NEWEST),
    ("claude-mythos-5-1*", _NEWEST),
    ("claude-fable-*", _ALWAYS_THINKS),
    ("claude-mythos-*", _ALWAYS_THINKS),
    ("claude-opus-5", _NO_SAMPLING),
    ("claude-opus-5-2*", _NO_SAMPLING),
    ("claude-sonnet-5", _NO_SAMPLING),
    ("claude-sonnet-5-2*", _NO_SAMPLING),
)
"""Model patterns and their families, in order (``claude-opus-5-2*``: Opus 5's dated ids)."""
_UNKNOWN = Family(FALLBACK_MAX_OUTPUT, adaptive=False)
_UNKNOWN_CLAUDE = _ALWAYS_THINKS
"""A ``claude-`` model the table does not know (a newer one): the strictest request shape
that works on every current model, save forced tool use, which is left to the API to judge."""


def parse_max_output(text: str) -> list[tuple[str, int]]:
    """``glob=tokens,...`` (MAX_OUTPUT_TOKENS) -> pairs in the order given."""
    pairs = []
    for part in text.split(","):
        if not part.strip():
            continue
        name, _, tokens = part.partition("=")
        if not tokens.strip().isdigit():
            raise ConfigError(f"MAX_OUTPUT_TOKENS: expected glob=tokens, got {part.strip()!r}")
        pairs.append((name.strip(), int(tokens)))
    return pairs


class Families:
    """The family facts of a model: the built-in table with the configured limits over it."""

    def __init__(self, max_output: list[tuple[str, int]] | None = None) -> None:
        self._max_output = tuple(max_output or ())

    def of(self, model: str) -> Family:
        family = next(
            (family for pattern, family in FAMILIES if fnmatchcase(model, pattern)),
            _UNKNOWN_CLAUDE if model.startswith("claude-") else _UNKNOWN,
        )
        for pattern, tokens in self._max_output:
            if fnmatchcase(model, pattern):
                return replace(family, max_output=tokens)
        return family
