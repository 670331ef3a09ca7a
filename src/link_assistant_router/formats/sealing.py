"""Claude's thinking blocks sealed for a client to hold and give back: the ``encrypted_content``
of Responses ``reasoning`` items.

A thinking block (its text and Anthropic's signature) or a redacted thinking block is encrypted
and authenticated with AES-256-GCM under a key derived with HKDF-SHA256 from the router's
signing secret (TOKEN_SECRET, or the one generated in DATA_DIR), so the client can neither read
it nor make one: a block that does not open here is refused (``ReasoningNotSealedHere``, a 400
naming the item) rather than sent upstream. The sealed text is ``lar1.<base64url(nonce,
ciphertext)>``; the prefix names the format. Pure: no I/O (the nonce is random).
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from link_assistant_router.errors import ConfigError, InvalidRequest

__all__ = [
    "HKDF_INFO",
    "HKDF_SALT",
    "PREFIX",
    "ReasoningNotSealedHere",
    "ReasoningSeal",
]

PREFIX = "lar1."
HKDF_INFO = b"link-assistant-router reasoning v1"
# Fixed, public: the secret it is mixed with is what must be secret (RFC 5869 section 3.1).
HKDF_SALT = b"link-assistant-router/reasoning/salt/v1"
_AAD = b"claude thinking block"
_NONCE_BYTES = 12
_SEALED_TYPES = frozenset({"thinking", "redacted_thinking"})


class ReasoningNotSealedHere(InvalidRequest):
    """Reasoning a client sent back that this router did not seal, or that was changed."""

    def __init__(self, param: str) -> None:
        super().__init__(
            f"{param}: this reasoning was not sealed by this router, or it was changed (or the "
            "router's TOKEN_SECRET changed since): send the reasoning items exactly as this "
            "router gave them, or leave them out",
            param,
        )


class ReasoningSeal:
    """Seals and opens thinking blocks; its key never appears in repr or str."""

    __slots__ = ("_aead",)

    def __init__(self, aead: AESGCM) -> None:
        self._aead = aead

    @classmethod
    def from_secret(cls, secret: bytes) -> ReasoningSeal:
        if not secret:
            raise ConfigError("the signing secret is empty: reasoning cannot be sealed")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=HKDF_INFO).derive(
            secret
        )
        return cls(AESGCM(key))

    def seal(self, block: dict[str, Any]) -> str:
        """A ``thinking`` or ``redacted_thinking`` block -> its sealed text."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, orjson.dumps(block), _AAD)
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")

    def open(self, text: Any, param: str) -> dict[str, Any]:
        """The block ``seal`` made ``text`` of; ``ReasoningNotSealedHere`` (naming ``param``)
        for anything else."""
        if not isinstance(text, str) or not text.startswith(PREFIX):
            raise ReasoningNotSealedHere(param)
        encoded = text[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD)
            block = orjson.loads(plain)
        except (binascii.Error, ValueError, InvalidTag, orjson.JSONDecodeError):
            raise ReasoningNotSealedHere(param) from None
        if not isinstance(block, dict) or block.get("type") not in _SEALED_TYPES:
            raise ReasoningNotSealedHere(param)
        return block

    def __repr__(self) -> str:
        return "ReasoningSeal(key=<hidden>)"
