"""Secrets at rest and webhook secrets.

Aurora tokens are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) through MultiFernet, so keys rotate:
the first configured key encrypts, every configured key decrypts, and `rotate` re-encrypts under the first.

Webhook secrets are derived, not stored: HMAC-SHA256(signing key, integration id + generation). The gateway
can therefore authenticate a webhook without a database on its hot path, and a rotation (new generation)
keeps the previous generation valid until it is retired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from pipeline_common.settings import CryptoSettings


class TokenCipherError(Exception):
    """A stored token could not be decrypted with any configured key."""


def _fernet_key(raw: str) -> bytes:
    # Accept real Fernet keys as they are; derive one from any other string so a passphrase also works.
    try:
        key = base64.urlsafe_b64decode(raw.encode())
        if len(key) == 32:
            return raw.encode()
    except (ValueError, base64.binascii.Error):  # type: ignore[attr-defined]
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest())


class TokenCipher:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one token encryption key is required")
        self._fernet = MultiFernet([Fernet(_fernet_key(k)) for k in keys])

    @classmethod
    def from_settings(cls, settings: CryptoSettings) -> TokenCipher:
        raw = settings.token_encryption_keys.get_secret_value()
        return cls([k.strip() for k in raw.split(",") if k.strip()])

    def encrypt(self, token: SecretStr) -> bytes:
        return self._fernet.encrypt(token.get_secret_value().encode())

    def decrypt(self, ciphertext: bytes) -> SecretStr:
        try:
            return SecretStr(self._fernet.decrypt(ciphertext).decode())
        except InvalidToken as exc:
            raise TokenCipherError("stored Aurora token cannot be decrypted with the configured keys") from exc

    def rotate(self, ciphertext: bytes) -> bytes:
        return self._fernet.rotate(ciphertext)


class WebhookSigner:
    """Derives and checks per-integration webhook secrets."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one webhook signing key is required")
        self._keys = [k.encode() for k in keys]

    @classmethod
    def from_settings(cls, settings: CryptoSettings) -> WebhookSigner:
        raw = settings.webhook_signing_keys.get_secret_value()
        return cls([k.strip() for k in raw.split(",") if k.strip()])

    def secret_for(self, integration_id: str, generation: int) -> str:
        return self._derive(self._keys[0], integration_id, generation)

    @staticmethod
    def _derive(key: bytes, integration_id: str, generation: int) -> str:
        mac = hmac.new(key, f"{integration_id}:{generation}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def verify(self, integration_id: str, generation: int, presented: str) -> bool:
        """Constant-time check of a presented secret against every configured signing key."""
        ok = False
        for key in self._keys:
            expected = self._derive(key, integration_id, generation)
            ok |= hmac.compare_digest(expected.encode(), presented.encode())
        return ok
