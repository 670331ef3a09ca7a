"""Model names for the OpenAI-compatible routes: aliases to Claude models, and the model list.

OpenAI clients often have a model name built in. ``ModelAliases.resolve`` maps it to a Claude
model: first ``MODEL_ALIASES`` (exact names), then the built-in families below. Claude ids
(``claude-...``) and names it does not know pass unchanged, so the upstream decides, and its
answer (a 404 for an unknown model) reaches the client.
"""

from __future__ import annotations

from link_assistant_router.errors import ConfigError

__all__ = [
    "BUILT_IN",
    "BUILT_IN_FAMILIES",
    "HAIKU",
    "OPUS",
    "SONNET",
    "ModelAliases",
    "parse_aliases",
]

SONNET = "claude-sonnet-5"
HAIKU = "claude-haiku-4-5"
OPUS = "claude-opus-5"

BUILT_IN: dict[str, str] = {
    "gpt-4o": SONNET,
    "gpt-4": SONNET,
    "gpt-4-turbo": SONNET,
    "gpt-4.1": SONNET,
    "gpt-5": SONNET,
    "gpt-4o-mini": HAIKU,
    "gpt-4.1-mini": HAIKU,
    "gpt-4.1-nano": HAIKU,
    "gpt-3.5-turbo": HAIKU,
    "gpt-5-mini": HAIKU,
}
# Reasoning families: every o1-..., o3-..., o4-... name.
BUILT_IN_FAMILIES: tuple[tuple[str, str], ...] = (("o1", OPUS), ("o3", OPUS), ("o4", OPUS))


def parse_aliases(text: str) -> dict[str, str]:
    """``name=model,name=model`` -> a mapping; a malformed pair is a ConfigError."""
    aliases: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, model = part.partition("=")
        if not sep or not name.strip() or not model.strip():
            raise ConfigError(f"MODEL_ALIASES: expected name=model, got {part.strip()!r}")
        aliases[name.strip()] = model.strip()
    return aliases


class ModelAliases:
    def __init__(self, configured: dict[str, str]) -> None:
        self._exact = {**BUILT_IN, **configured}

    def resolve(self, name: str) -> str:
        """The Claude model to ask for when a client names ``name``."""
        exact = self._exact.get(name)
        if exact is not None:
            return exact
        if name.startswith("claude-"):
            return name
        for family, model in BUILT_IN_FAMILIES:
            if name == family or name.startswith(family + "-"):
                return model
        return name

    def names(self) -> list[str]:
        """Every alias name, for the OpenAI model list."""
        return sorted(self._exact)
