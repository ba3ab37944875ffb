"""Credentials at rest: Fernet (AES-128-CBC + HMAC) with a key derived from the secret.

SWITCHBOARD_SECRET_KEY may be any string; it is stretched with HKDF into a Fernet
key, so operators need not produce base64 key material by hand.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBoxError(Exception):
    pass


HOW_TO_SET = (
    "SWITCHBOARD_SECRET_KEY is not set. It encrypts the credentials of connected systems; set it "
    "to a long random string and keep it safe (without it the stored credentials cannot be read), "
    "for example:\n  export SWITCHBOARD_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\n"
    "Only `switchboard demo` runs without it (it keeps a generated key in its data dir)."
)


class MissingSecretKey(SecretBoxError):
    """No SWITCHBOARD_SECRET_KEY: refuse to encrypt or decrypt with anything made up."""

    def __init__(self) -> None:
        super().__init__(HOW_TO_SET)


class SecretBox:
    def __init__(self, secret: str):
        if not secret or len(secret) < 16:
            raise SecretBoxError("SWITCHBOARD_SECRET_KEY must be at least 16 characters")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"switchboard-credentials", info=b"v1").derive(
            secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, data: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode())

    def open(self, token: bytes | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            return dict(json.loads(self._fernet.decrypt(token)))
        except InvalidToken as exc:
            raise SecretBoxError(
                "stored credentials cannot be decrypted with this SWITCHBOARD_SECRET_KEY"
            ) from exc
