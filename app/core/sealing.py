"""Sealed values: secrets that the server must keep to use later, encrypted at rest.

AES-256-GCM with a key derived (HKDF-SHA256) from RATHAUS_SECRET_KEY and the value's purpose,
so a sealed value of one purpose cannot be opened as another. A database dump without the
secret key reveals nothing; a changed secret key makes earlier values unreadable, which
callers treat as "not kept".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12


class Sealer:
    def __init__(self, secret_key: str, purpose: str) -> None:
        self._purpose = purpose.encode()
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"rathaus-seal:" + self._purpose
        ).derive(secret_key.encode())
        self._aead = AESGCM(key)

    def seal(self, value: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode(), self._purpose)
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def seal_bytes(self, value: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, value, self._purpose)

    def open_bytes(self, sealed: bytes) -> bytes | None:
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], self._purpose)
        except (InvalidTag, ValueError):
            return None

    def open(self, sealed: str) -> str | None:
        """The value, or None when it was sealed with another key or purpose or was altered."""
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._purpose
            ).decode()
        except (InvalidTag, ValueError, binascii.Error):
            return None


def token_hash(value: str) -> str:
    """What is kept of a random secret that only needs comparing (a one-time code, a refresh
    or manage token): its SHA-256, which reveals nothing of a value with that much entropy."""
    return hashlib.sha256(value.encode()).hexdigest()
