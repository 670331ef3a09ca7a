"""``sealing``: thinking blocks sealed for clients, opened only here, unchanged."""

from __future__ import annotations

import base64

import pytest

from link_assistant_router.formats.sealing import PREFIX, ReasoningNotSealedHere, ReasoningSeal

BLOCK = {"type": "thinking", "thinking": "SECRET-THOUGHT", "signature": "c2ln"}
SEAL = ReasoningSeal.from_secret(b"one secret " * 4)


def test_a_sealed_block_opens_unchanged_and_reads_as_nothing() -> None:
    sealed = SEAL.seal(BLOCK)
    assert sealed.startswith(PREFIX)
    assert "SECRET" not in sealed and b"SECRET" not in base64.urlsafe_b64decode(sealed[5:] + "==")
    assert SEAL.open(sealed, "input[0].encrypted_content") == BLOCK
    assert SEAL.seal(BLOCK) != sealed  # a fresh nonce each time
    assert "secret" not in repr(SEAL)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s[:-2] + ("AA" if not s.endswith("AA") else "BB"),  # the tag
        lambda s: s[:8] + ("A" if s[8] != "A" else "B") + s[9:],  # the nonce
        lambda s: s[: len(s) // 2],  # cut
        lambda s: s.replace(PREFIX, "lar2."),
        lambda s: "gAAAAABfernet-from-somewhere-else",
        lambda s: PREFIX + "!!!",
        lambda s: ReasoningSeal.from_secret(b"another secret " * 4).seal(BLOCK),
        lambda s: ReasoningSeal.from_secret(b"one secret " * 4).seal({"type": "text", "text": "x"}),
    ],
)
def test_a_changed_or_foreign_block_is_refused_naming_the_field(change: object) -> None:
    sealed = change(SEAL.seal(BLOCK))  # type: ignore[operator]
    with pytest.raises(ReasoningNotSealedHere) as caught:
        SEAL.open(sealed, "input[3].encrypted_content")
    assert caught.value.status == 400
    assert caught.value.param == "input[3].encrypted_content"


@pytest.mark.parametrize("value", [None, 7, {"a": 1}])
def test_what_is_not_text_is_refused(value: object) -> None:
    with pytest.raises(ReasoningNotSealedHere):
        SEAL.open(value, "x")
