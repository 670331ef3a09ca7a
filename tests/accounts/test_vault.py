"""Encryption at rest of stored account secrets."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from link_assistant_router.accounts.vault import Vault
from link_assistant_router.errors import ConfigError

SECRET = b"accounts-key-" + b"k" * 32
OTHER_SECRET = b"accounts-key-" + b"o" * 32
PLAINTEXT = "sk-ant-oat01-stored-account-token-DO-NOT-LEAK"
# PLAINTEXT as a router stored it under SECRET: every later version must still read it.
STORED_EARLIER = (
    "v1:gAAAAABrBW0mXL1c4FCEGEaGq12YyeOJ3M_w3RbeJFAjH2yoTj6dxMc2YizVtjikYyA0nODRi5g79KR4E4Z4FCH"
    "UExwKcSnJE7gdMYCtifWXGuexdG9uB-1eOT8EtFqu6qj-oDwrcBND"
)


def derived_key(secret: bytes) -> bytes:
    """The documented derivation: HKDF-SHA256 with the fixed salt and info, as a Fernet key."""
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"link-assistant-router/vault/salt/v1",
        info=b"link-assistant-router accounts v1",
    ).derive(secret)
    return base64.urlsafe_b64encode(key)


def stored(vault: Vault, plaintext: str = PLAINTEXT) -> str:
    return vault.encrypt(plaintext)


def test_round_trip() -> None:
    vault = Vault.from_secret(SECRET)
    for plaintext in (PLAINTEXT, "", "ünïcødé ✓", "x" * 10_000):
        assert vault.decrypt(vault.encrypt(plaintext)) == plaintext


def test_another_vault_from_the_same_secret_decrypts() -> None:
    assert Vault.from_secret(SECRET).decrypt(stored(Vault.from_secret(SECRET))) == PLAINTEXT


def test_ciphertext_is_versioned_text_without_the_plaintext() -> None:
    ciphertext = stored(Vault.from_secret(SECRET))
    assert ciphertext.startswith("v1:")
    assert ciphertext.isascii()
    assert PLAINTEXT not in ciphertext
    assert "stored-account-token" not in base64.urlsafe_b64decode(ciphertext[3:]).decode("latin-1")


def test_secrets_stored_by_an_earlier_version_still_decrypt() -> None:
    assert Vault.from_secret(SECRET).decrypt(STORED_EARLIER) == PLAINTEXT


def test_key_is_hkdf_sha256_of_the_secret() -> None:
    fernet = Fernet(derived_key(SECRET))
    assert fernet.decrypt(stored(Vault.from_secret(SECRET))[3:]).decode() == PLAINTEXT
    ciphertext = "v1:" + fernet.encrypt(PLAINTEXT.encode()).decode()
    assert Vault.from_secret(SECRET).decrypt(ciphertext) == PLAINTEXT


def test_encrypting_twice_gives_different_ciphertexts() -> None:
    vault = Vault.from_secret(SECRET)
    assert vault.encrypt(PLAINTEXT) != vault.encrypt(PLAINTEXT)


def test_different_secrets_cannot_decrypt_each_others() -> None:
    mine, theirs = Vault.from_secret(SECRET), Vault.from_secret(OTHER_SECRET)
    with pytest.raises(ConfigError):
        theirs.decrypt(stored(mine))
    with pytest.raises(ConfigError):
        mine.decrypt(stored(theirs))


def flip_one_character(ciphertext: str) -> str:
    middle = len(ciphertext) // 2
    replacement = "A" if ciphertext[middle] != "A" else "B"
    return ciphertext[:middle] + replacement + ciphertext[middle + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        flip_one_character,
        lambda c: c[:-4],
        lambda c: c + "AAAA",
        lambda c: c[3:],  # the version prefix removed
        lambda c: "v2:" + c[3:],
        lambda c: "v1:" + "é" * 20,
        lambda c: "",
        lambda c: "v1:",
    ],
    ids=["flipped", "truncated", "extended", "no prefix", "unknown version", "non-ASCII", "", "v1"],
)
def test_tampered_ciphertext_is_a_config_error(tamper: object) -> None:
    vault = Vault.from_secret(SECRET)
    assert callable(tamper)
    with pytest.raises(ConfigError):
        vault.decrypt(tamper(stored(vault)))


def test_the_error_names_the_settings_and_reveals_no_data() -> None:
    ciphertext = stored(Vault.from_secret(OTHER_SECRET))
    with pytest.raises(ConfigError) as caught:
        Vault.from_secret(SECRET).decrypt(ciphertext)
    message = str(caught.value)
    assert "cannot be decrypted" in message
    assert "ACCOUNTS_KEY" in message
    assert "TOKEN_SECRET" in message
    assert ciphertext not in message
    assert ciphertext[3:20] not in message
    assert PLAINTEXT not in message
    assert caught.value.message == message


def test_repr_and_str_do_not_reveal_the_key() -> None:
    vault = Vault.from_secret(SECRET)
    key = derived_key(SECRET)
    for text in (repr(vault), str(vault), f"{vault!r} {vault}"):
        assert "Vault" in text
        assert key.decode() not in text
        assert key.decode()[:12] not in text
        assert SECRET.decode() not in text
    assert not hasattr(vault, "__dict__")


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="empty"):
        Vault.from_secret(b"")
