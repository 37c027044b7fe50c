"""Hashing, token generation and the secret box that encrypts values at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from tenantctl.core.errors import ConfigError

API_TOKEN_PREFIX = "tc_"
API_TOKEN_PREFIX_LENGTH = len(API_TOKEN_PREFIX) + 8  # the prefix and 4 random bytes in hex: the stored lookup key


def sha256_hex(value: str) -> str:
    """SHA-256 of the UTF-8 text, as hex."""
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    """Compare two strings without leaking where they differ."""
    return hmac.compare_digest(a.encode(), b.encode())


def new_api_token() -> tuple[str, str, str]:
    """A fresh API token as (plaintext, prefix, sha256 hash)."""
    prefix = API_TOKEN_PREFIX + secrets.token_hex(4)  # API_TOKEN_PREFIX_LENGTH characters
    plaintext = f"{prefix}_{secrets.token_urlsafe(32)}"
    return plaintext, prefix, sha256_hex(plaintext)


class SecretBox:
    """Symmetric encryption (Fernet: AES-128-CBC + HMAC-SHA256) for values at rest."""

    def __init__(self, key: str | bytes, *, source: str = "TENANTCTL_SECRET_KEY") -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(f"{source} is not a valid key: generate one with `tenantctl db keygen`") from None
        self._key = base64.urlsafe_b64decode(key)  # the raw 32 bytes, however the text spelled them
        self.source = source  # where the key came from, for messages (never the key itself)

    def _derive(self, label: str) -> str:
        return hmac.new(self._key, label.encode(), hashlib.sha256).hexdigest()

    def verifier(self) -> str:
        """A fingerprint of the key (HMAC-SHA256 of a fixed label): tells keys apart without revealing them."""
        return self._derive("tenantctl key verifier")

    def webhook_secret(self, bot_id: int) -> str:
        """The bot's X-Telegram-Bot-Api-Secret-Token: HMAC-SHA256 of the key and the bot id, never stored."""
        return self._derive(f"webhook secret for bot {bot_id}")

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ConfigError(f"a stored secret cannot be decrypted: {self.source} differs from the key it was written with") from None


def load_secret_box(*, secret_key: str | None, is_sqlite: bool, key_file: str, create: bool = True) -> tuple[SecretBox, str | None]:
    """The secret box from the configured key; on SQLite a key file is created once if none is set (and `create`).

    Returns the box and, when a key file was just created, its path (so the user can be told).
    """
    if secret_key:
        return SecretBox(secret_key), None
    if not is_sqlite:
        raise ConfigError("TENANTCTL_SECRET_KEY is not set: it is required on PostgreSQL (generate one with `tenantctl db keygen`)")
    path = Path(key_file)
    if path.is_file():
        return SecretBox(path.read_text().strip(), source=f"the key file {path}"), None
    if not create:
        raise ConfigError(f"TENANTCTL_SECRET_KEY is not set and the key file {path} is missing, but this database's secrets "
                          "were written with a key: set TENANTCTL_SECRET_KEY or restore the key file")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = SecretBox.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return SecretBox(key, source=f"the key file {path}"), str(path)
