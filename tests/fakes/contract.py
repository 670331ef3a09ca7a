"""What the real Messages API refuses by model, for the fake upstream: a request it would answer
with a 400 gets that 400 here too, so that a translation building one fails its test.

Written from Anthropic's platform docs (December 2026: each model's "What's new" page and
migration guide, the adaptive-thinking page) on their own, not from the router's table:

- non-default ``temperature``, ``top_p`` or ``top_k``: refused by Opus 4.7 and every model
  since (Opus 4.8, the Claude 5 and 5.5 models, Fable, Mythos);
- ``thinking: {type: enabled, budget_tokens}``: refused by the same models;
- ``thinking: {type: disabled}``: refused by Opus 4.7, 4.8 and 5.5, Sonnet 5.5, Fable and
  Mythos; ``between_tools`` is Sonnet 5.5's lowest setting (at effort low to high only);
- a forced ``tool_choice`` (``any`` or a named tool): refused by Opus 5.5, Sonnet 5.5 and
  Fable 5.1.
"""

from __future__ import annotations

from typing import Any

__all__ = ["contract_refusal"]

_NEWER = (
    "claude-opus-4-7",
    "claude-opus-4-8",
    "claude-opus-5",
    "claude-sonnet-5",
    "claude-haiku-5-5",
    "claude-fable-",
    "claude-mythos-",
)
_NEVER_OFF = (
    "claude-opus-4-7",
    "claude-opus-4-8",
    "claude-opus-5-5",
    "claude-sonnet-5-5",
    "claude-fable-",
    "claude-mythos-",
)
_BETWEEN_TOOLS = ("claude-sonnet-5-5",)
_NO_FORCED_TOOLS = ("claude-opus-5-5", "claude-sonnet-5-5", "claude-fable-5-1")
_SAMPLING = ("temperature", "top_p", "top_k")
_DEFAULT_SAMPLING = {"temperature": 1.0, "top_p": 1.0}


def contract_refusal(document: Any) -> dict[str, object] | None:
    """The API's 400 for a Messages ``document`` its model refuses; None when it takes it."""
    if not isinstance(document, dict) or not isinstance(document.get("model"), str):
        return None
    model: str = document["model"]
    if model.startswith(_NEWER):
        for name in _SAMPLING:
            if name in document and document[name] != _DEFAULT_SAMPLING.get(name):
                return _refusal(f"`{name}` is deprecated for this model.")
    thinking = document.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "enabled" and model.startswith(_NEWER):
        return _refusal(_unsupported("enabled"))
    if kind == "disabled" and model.startswith(_NEVER_OFF):
        return _refusal(_unsupported("disabled"))
    if kind == "between_tools":
        if not model.startswith(_BETWEEN_TOOLS):
            return _refusal(_unsupported("between_tools"))
        config = document.get("output_config")
        effort = config.get("effort") if isinstance(config, dict) else None
        if effort in ("xhigh", "max"):
            return _refusal(f'"thinking.type.between_tools" is not supported at effort {effort}.')
    choice = document.get("tool_choice")
    forced = isinstance(choice, dict) and choice.get("type") in ("any", "tool")
    if forced and model.startswith(_NO_FORCED_TOOLS):
        return _refusal("Forced tool use is not supported for this model: use auto or none.")
    return None


def _unsupported(kind: str) -> str:
    return (
        f'"thinking.type.{kind}" is not supported for this model. Use "thinking.type.adaptive" '
        'and "output_config.effort" to control thinking behavior.'
    )


def _refusal(message: str) -> dict[str, object]:
    return {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": message},
        "request_id": "req_fake_400_contract",
    }
