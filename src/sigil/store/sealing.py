"""Sealing of secrets at rest: AES-256-GCM under the master key.

Every sealed blob is bound to the identity of the row that holds it through GCM's associated
data, so a sealed private key copied into another row (another key id, version or kind) fails to
open instead of signing under the wrong identity.

Blob format, version 1 (STYLE.md §9, versioned persisted formats)::

    0x01 || nonce (12 bytes, random) || ciphertext || tag (16 bytes)
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sigil.errors import TamperedData

SEAL_VERSION = b"\x01"
NONCE_LEN = 12  # NIST SP 800-38D §8.2: 96-bit random nonces; 2^32 seals per key stays far below the bound
MASTER_KEY_LEN = 32


class Sealer:
    """Seals and opens secrets under a 32-byte master key. Holds no other state."""

    __slots__ = ("_aead", "_audit_key", "_challenge_key")

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != MASTER_KEY_LEN:
            raise ValueError("master key must be 32 bytes")
        self._aead = AESGCM(_derive(master_key, b"sigil seal v1"))
        self._audit_key = _derive(master_key, b"sigil audit chain v1")
        self._challenge_key = _derive(master_key, b"sigil login challenge v1")

    def __repr__(self) -> str:
        return "Sealer(<master key hidden>)"

    @property
    def audit_key(self) -> bytes:
        """The HMAC key of the audit chain (a separate subkey: sealing and MACs never share a key)."""
        return self._audit_key

    @property
    def challenge_key(self) -> bytes:
        """The base of the login challenges' HMAC key (``sigil.auth.challenges``): used as is where
        nodes share PostgreSQL, mixed with a per-start nonce on a SQLite node."""
        return self._challenge_key

    def seal(self, plaintext: bytes, *, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_LEN)
        return SEAL_VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, *, aad: bytes) -> bytes:
        if len(blob) < 1 + NONCE_LEN + 16 or blob[:1] != SEAL_VERSION:
            raise TamperedData("sealed blob has an unknown format")
        nonce = blob[1 : 1 + NONCE_LEN]
        try:
            return self._aead.decrypt(nonce, blob[1 + NONCE_LEN :], aad)
        except InvalidTag:
            raise TamperedData("sealed blob failed authentication (wrong master key or edited row)") from None


def _derive(master_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master_key)


def key_version_aad(key_id: str, version: int) -> bytes:
    """Associated data of a key version's private scalar: the row's identity and kind."""
    return f"sigil:v1:key-private:{key_id}:{version}".encode()
