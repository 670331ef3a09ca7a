"""Model aliases for the OpenAI-compatible routes."""

from __future__ import annotations

import pytest

from link_assistant_router.errors import ConfigError
from link_assistant_router.formats.aliases import HAIKU, OPUS, SONNET, ModelAliases, parse_aliases


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("gpt-4o", SONNET),
        ("gpt-4", SONNET),
        ("gpt-4o-mini", HAIKU),
        ("o1", OPUS),
        ("o3-mini", OPUS),
        ("o4-mini-high", OPUS),
        ("claude-haiku-4-5", "claude-haiku-4-5"),  # Claude ids pass unchanged
        ("omni-model", "omni-model"),  # "o" alone is no family
        ("some-other-model", "some-other-model"),  # the upstream decides
    ],
)
def test_built_in_aliases(name: str, model: str) -> None:
    assert ModelAliases({}).resolve(name) == model


def test_configured_aliases_add_and_override() -> None:
    aliases = ModelAliases(parse_aliases(" gpt-4o = claude-opus-5 ,team-default=claude-sonnet-5,"))
    assert aliases.resolve("gpt-4o") == "claude-opus-5"
    assert aliases.resolve("team-default") == "claude-sonnet-5"
    assert aliases.resolve("gpt-4o-mini") == HAIKU
    assert "team-default" in aliases.names()


@pytest.mark.parametrize("text", ["gpt-4o", "=claude-opus-5", "gpt-4o="])
def test_malformed_aliases_are_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="MODEL_ALIASES"):
        parse_aliases(text)
