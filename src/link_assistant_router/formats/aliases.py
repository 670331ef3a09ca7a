"""Model names clients send, mapped to Claude models: ``MODEL_ALIASES``, the built-in table of
the names today's OpenAI clients send by default, and ``DEFAULT_MODEL``.

``ModelAliases.resolve`` looks a name up in this order: ``claude-...`` ids pass unchanged; then
the configured aliases; then the built-in table; then ``DEFAULT_MODEL``. Within each table the
most specific entry wins: an exact name before any pattern, then the pattern with the most
literal characters (``gpt-5*-codex-max*`` before ``gpt-5*-codex*`` before ``gpt-5*``). Patterns
are shell globs (``*``, ``?``, ``[...]``), matched against the whole name, case-sensitively. A
name nothing maps is refused (``UnknownModel``, a 400 naming the model and how to alias it)
rather than sent upstream, where it would come back as a 404 the client cannot explain.

The Claude models the built-ins point at are the three constants below: when a model retires,
changing them moves every alias with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from link_assistant_router.errors import ConfigError, InvalidRequest

__all__ = [
    "BUILT_IN",
    "HAIKU",
    "OPUS",
    "SONNET",
    "ModelAliases",
    "UnknownModel",
    "parse_aliases",
]

# Anthropic's current models (platform docs, models overview, December 2026).
SONNET = "claude-sonnet-5-5"
HAIKU = "claude-haiku-5-5"
OPUS = "claude-opus-5-5"

_WILDCARDS = frozenset("*?[")

# The names OpenAI's clients send by default (Codex, the Agents SDK, LangChain, llm, aider), by
# family. Exact names are listed by GET /v1/models; patterns catch dated and newer variants.
BUILT_IN: tuple[tuple[str, str], ...] = (
    # GPT-6 and the Codex-tuned GPT-5 models: Codex's defaults (gpt-6.1-sol, gpt-5.1-codex-max).
    ("gpt-6*", OPUS),
    ("gpt-6*-mini*", HAIKU),
    ("gpt-6*-nano*", HAIKU),
    ("gpt-5*-codex*", SONNET),
    ("gpt-5*-codex-max*", OPUS),
    ("gpt-5*-codex-mini*", HAIKU),
    ("codex-mini*", HAIKU),
    ("gpt-5*", SONNET),
    ("gpt-5*-pro*", OPUS),
    ("gpt-5*-mini*", HAIKU),
    ("gpt-5*-nano*", HAIKU),
    ("gpt-4*", SONNET),
    ("gpt-4*-mini*", HAIKU),
    ("gpt-4*-nano*", HAIKU),
    ("chatgpt-4o*", SONNET),
    ("gpt-3.5*", HAIKU),
    # The o-series reasoning models, every size.
    ("o1", OPUS),
    ("o1-*", OPUS),
    ("o3", OPUS),
    ("o3-*", OPUS),
    ("o4", OPUS),
    ("o4-*", OPUS),
    # Listed by name so that the model list shows them.
    ("gpt-6.1-sol", OPUS),
    ("gpt-5.2-codex", SONNET),
    ("gpt-5.1-codex", SONNET),
    ("gpt-5.1-codex-max", OPUS),
    ("gpt-5.1-codex-mini", HAIKU),
    ("gpt-5.2", SONNET),
    ("gpt-5", SONNET),
    ("gpt-5-mini", HAIKU),
    ("gpt-5-nano", HAIKU),
    ("gpt-4.1", SONNET),
    ("gpt-4.1-mini", HAIKU),
    ("gpt-4o", SONNET),
    ("gpt-4o-mini", HAIKU),
)


class UnknownModel(InvalidRequest):
    """A model name no alias maps, with no DEFAULT_MODEL to fall back on."""

    def __init__(self, name: str) -> None:
        shown = name if len(name) <= 80 else name[:77] + "..."
        super().__init__(
            f"the model {shown!r} is not a Claude model and no alias maps it: ask for a Claude "
            f"model (such as {SONNET!r}), or have the router's operator map the name with "
            f"MODEL_ALIASES (for example MODEL_ALIASES='{shown}={SONNET}', globs allowed) "
            "or set DEFAULT_MODEL",
            param="model",
        )


def parse_aliases(text: str) -> list[tuple[str, str]]:
    """``name=model,pattern*=model`` -> pairs in the order given; a malformed pair is a
    ConfigError."""
    aliases: list[tuple[str, str]] = []
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, model = part.partition("=")
        if not sep or not name.strip() or not model.strip():
            raise ConfigError(f"MODEL_ALIASES: expected name=model, got {part.strip()!r}")
        aliases.append((name.strip(), model.strip()))
    return aliases


class _Table:
    """Names and glob patterns, looked up most specific first."""

    __slots__ = ("exact", "patterns")

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        self.exact: dict[str, str] = {}
        patterns: list[tuple[str, str]] = []
        for name, model in entries:
            if _WILDCARDS.isdisjoint(name):
                self.exact[name] = model
            else:
                patterns.append((name, model))
        # Most literal characters first; a stable sort keeps the given order among equals.
        patterns.sort(key=lambda entry: -sum(c not in _WILDCARDS for c in entry[0]))
        self.patterns = tuple(patterns)

    def get(self, name: str) -> str | None:
        model = self.exact.get(name)
        if model is not None:
            return model
        for pattern, model in self.patterns:
            if fnmatchcase(name, pattern):
                return model
        return None


class ModelAliases:
    """The configured aliases (they win), the built-in ones, and the default model."""

    def __init__(
        self,
        configured: Iterable[tuple[str, str]] = (),
        default: str | None = None,
        built_in: Iterable[tuple[str, str]] = BUILT_IN,
    ) -> None:
        self._configured = _Table(configured)
        self._built_in = _Table(built_in)
        self._default = default or None

    def resolve(self, name: str) -> str:
        """The Claude model to ask for when a client names ``name``; ``UnknownModel`` when
        nothing maps it."""
        if name.startswith("claude-"):
            return name
        model = self._configured.get(name) or self._built_in.get(name) or self._default
        if model is None:
            raise UnknownModel(name)
        return model

    def names(self) -> list[str]:
        """The names the aliases offer by name (patterns cannot be listed), for the model
        list: each one resolves to a Claude model."""
        return sorted({*self._configured.exact, *self._built_in.exact})
