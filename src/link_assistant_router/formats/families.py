"""What the translated routes need to know about a Claude model: its family's documented maximum
output (used when a client sends no output limit: Codex never does) and how its thinking is
asked for.

Claude 4.6 and later take adaptive thinking steered by ``output_config.effort``; the Claude 5
models refuse the older ``thinking: {type: enabled, budget_tokens}`` with a 400. Earlier
models (Haiku 4.5 among them) know only the budget form. The table is read in order, the first
match counts; ``MAX_OUTPUT_TOKENS`` (glob=tokens pairs) wins over it. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
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


# Read from Anthropic's models overview (platform docs, "Max output"), December 2026: the
# Claude 5 and 5.5 models 128K, Opus 4.6 to 4.8 and Sonnet 4.6 128K, the 4.5 models and
# Sonnet 4 / 3.7 64K, Opus 4 and 4.1 32K, the 3.5 models 8K.
FAMILIES: tuple[tuple[str, Family], ...] = (
    ("claude-3-5-*", Family(8_192, adaptive=False)),
    ("claude-3-7-sonnet*", Family(64_000, adaptive=False)),
    ("claude-*-4-5*", Family(64_000, adaptive=False)),
    ("claude-opus-4-6*", Family(128_000, adaptive=True)),
    ("claude-opus-4-7*", Family(128_000, adaptive=True)),
    ("claude-opus-4-8*", Family(128_000, adaptive=True)),
    ("claude-sonnet-4-6*", Family(128_000, adaptive=True)),
    ("claude-opus-4*", Family(32_000, adaptive=False)),
    ("claude-sonnet-4*", Family(64_000, adaptive=False)),
    ("claude-*-5", Family(128_000, adaptive=True)),
    ("claude-*-5-*", Family(128_000, adaptive=True)),
    ("claude-fable-*", Family(128_000, adaptive=True)),
    ("claude-mythos-*", Family(128_000, adaptive=True)),
)


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
            Family(FALLBACK_MAX_OUTPUT, adaptive=False),
        )
        for pattern, tokens in self._max_output:
            if fnmatchcase(model, pattern):
                return Family(tokens, family.adaptive)
        return family
