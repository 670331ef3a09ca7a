"""Model aliases: the built-in table of today's OpenAI names, globs, DEFAULT_MODEL, refusals."""

from __future__ import annotations

import pytest

from link_assistant_router.errors import ConfigError, InvalidRequest
from link_assistant_router.formats.aliases import (
    BUILT_IN,
    HAIKU,
    OPUS,
    SONNET,
    ModelAliases,
    UnknownModel,
    parse_aliases,
)


@pytest.mark.parametrize(
    ("name", "model"),
    [
        # What Codex 0.169 and the OpenAI SDKs send by default, and their dated variants.
        ("gpt-6.1-sol", OPUS),
        ("gpt-6", OPUS),
        ("gpt-6.1-mini", HAIKU),
        ("gpt-5.1-codex", SONNET),
        ("gpt-5.1-codex-max", OPUS),
        ("gpt-5.1-codex-mini", HAIKU),
        ("gpt-5.3-codex-max-2026-10-01", OPUS),
        ("codex-mini-latest", HAIKU),
        ("gpt-5", SONNET),
        ("gpt-5.2", SONNET),
        ("gpt-5-2025-08-07", SONNET),
        ("gpt-5-mini-2025-08-07", HAIKU),
        ("gpt-5-nano", HAIKU),
        ("gpt-5.2-pro", OPUS),
        ("gpt-4o", SONNET),
        ("gpt-4", SONNET),
        ("gpt-4.1-2025-04-14", SONNET),
        ("gpt-4o-mini", HAIKU),
        ("gpt-4.1-nano", HAIKU),
        ("gpt-3.5-turbo", HAIKU),
        ("o1", OPUS),
        ("o3-mini", OPUS),
        ("o4-mini-high", OPUS),
        ("claude-haiku-4-5", "claude-haiku-4-5"),  # Claude ids pass unchanged
    ],
)
def test_built_in_aliases(name: str, model: str) -> None:
    assert ModelAliases().resolve(name) == model


@pytest.mark.parametrize("name", ["omni-model", "o", "gpt", "llama-4", "GPT-5"])
def test_a_name_nothing_maps_is_refused_naming_it_and_how_to_alias_it(name: str) -> None:
    with pytest.raises(UnknownModel) as caught:
        ModelAliases().resolve(name)
    error = caught.value
    assert isinstance(error, InvalidRequest) and error.status == 400
    assert error.param == "model"
    assert repr(name) in error.message
    assert "MODEL_ALIASES" in error.message and "DEFAULT_MODEL" in error.message


def test_default_model_takes_every_other_name_but_not_claude_ids() -> None:
    aliases = ModelAliases(default="claude-sonnet-5")
    assert aliases.resolve("llama-4") == "claude-sonnet-5"
    assert aliases.resolve("gpt-5.1-codex-max") == OPUS  # the table first
    assert aliases.resolve("claude-opus-5") == "claude-opus-5"


def test_configured_aliases_add_and_override() -> None:
    aliases = ModelAliases(parse_aliases(" gpt-4o = claude-opus-5 ,team-default=claude-sonnet-5,"))
    assert aliases.resolve("gpt-4o") == "claude-opus-5"
    assert aliases.resolve("team-default") == "claude-sonnet-5"
    assert aliases.resolve("gpt-4o-mini") == HAIKU
    assert "team-default" in aliases.names()


def test_configured_globs_win_over_the_built_in_table_most_specific_first() -> None:
    aliases = ModelAliases(
        parse_aliases("gpt-5*=claude-opus-5,gpt-5*-mini=claude-haiku-4-5,local-*=claude-sonnet-5")
    )
    assert aliases.resolve("gpt-5.1-codex") == "claude-opus-5"  # over the built-in Sonnet
    assert aliases.resolve("gpt-5-mini") == "claude-haiku-4-5"  # the more specific glob
    assert aliases.resolve("local-anything") == "claude-sonnet-5"
    assert aliases.resolve("gpt-4o") == SONNET  # still the built-in table
    assert "gpt-5*" not in aliases.names()  # patterns cannot be listed


def test_an_exact_name_beats_any_glob() -> None:
    aliases = ModelAliases(parse_aliases("gpt-5*-codex*=claude-opus-5,gpt-5.1-codex=my-model"))
    assert aliases.resolve("gpt-5.1-codex") == "my-model"
    assert aliases.resolve("gpt-5.2-codex") == "claude-opus-5"


def test_the_model_list_names_resolve() -> None:
    aliases = ModelAliases()
    names = aliases.names()
    assert {"gpt-6.1-sol", "gpt-5.1-codex", "gpt-5.1-codex-max", "gpt-4o", "o3"} <= set(names)
    assert all("*" not in name for name in names)
    for name in names:
        assert aliases.resolve(name).startswith("claude-")


def test_the_built_in_table_points_only_at_the_named_models() -> None:
    assert {model for _, model in BUILT_IN} == {SONNET, HAIKU, OPUS}


@pytest.mark.parametrize("text", ["gpt-4o", "=claude-opus-5", "gpt-4o="])
def test_malformed_aliases_are_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="MODEL_ALIASES"):
        parse_aliases(text)
