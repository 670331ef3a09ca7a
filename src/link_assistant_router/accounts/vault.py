"""Encryption at rest for the secrets the router stores itself (tokens added with ``accounts add``).

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) under a key derived with
HKDF-SHA256 from ``ACCOUNTS_KEY`` or, when that is unset, from ``TOKEN_SECRET``. A ciphertext is
text, ``v1:<Fernet token>``: the prefix names the format, so a later one can be told apart.
Pure: no I/O; the Fernet token's timestamp is the only clock read, inside ``cryptography``.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from link_assistant_router.config import Settings
from link_assistant_router.errors import ConfigError

__all__ = ["FORMAT_PREFIX", "HKDF_INFO", "HKDF_SALT", "Vault", "build_vault"]

FORMAT_PREFIX = "v1:"
HKDF_INFO = b"link-assistant-router accounts v1"
# Fixed, public: the secret it is mixed with is what must be secret (RFC 5869 §3.1).
HKDF_SALT = b"link-assistant-router/vault/salt/v1"

_UNREADABLE = (
    "the stored account secrets cannot be decrypted: ACCOUNTS_KEY (or TOKEN_SECRET, when "
    "ACCOUNTS_KEY is unset) must be the one they were stored with"
)


class Vault:
    """Encrypts and decrypts stored account secrets; its key never appears in repr or str."""

    __slots__ = ("_fernet",)

    def __init__(self, fernet: Fernet) -> None:
        self._fernet = fernet

    @classmethod
    def from_secret(cls, secret: bytes) -> Vault:
        """A vault keyed by HKDF-SHA256 of ``secret``; an empty secret is a ``ConfigError``."""
        if not secret:
            raise ConfigError("the key for stored account secrets is empty (ACCOUNTS_KEY)")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=HKDF_SALT, info=HKDF_INFO).derive(
            secret
        )
        return cls(Fernet(base64.urlsafe_b64encode(key)))

    def encrypt(self, plaintext: str) -> str:
        """``plaintext`` encrypted and authenticated, as ``v1:<Fernet token>``."""
        return FORMAT_PREFIX + self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """The plaintext of ``encrypt``'s output.

        Raises ``ConfigError`` when it was stored under another key, was tampered with or is
        not in a known format; the message names the settings to check, never the data.
        """
        if not ciphertext.startswith(FORMAT_PREFIX):
            raise ConfigError(_UNREADABLE)
        try:
            plaintext = self._fernet.decrypt(ciphertext[len(FORMAT_PREFIX) :])
        except (InvalidToken, ValueError) as exc:
            raise ConfigError(_UNREADABLE) from exc
        try:
            return plaintext.decode()
        except UnicodeDecodeError:
            raise ConfigError(_UNREADABLE) from None  # that error would carry the plaintext

    def __repr__(self) -> str:
        return "Vault(key=<hidden>)"


def build_vault(settings: Settings, signing_secret: bytes) -> Vault:
    """The key for stored account secrets: ACCOUNTS_KEY, else derived from the signing secret."""
    if settings.accounts_key is not None:
        return Vault.from_secret(settings.accounts_key.get_secret_value().encode())
    return Vault.from_secret(signing_secret)
