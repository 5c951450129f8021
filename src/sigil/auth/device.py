"""The device side of device-key login: the device's key pair (its HTTP client is
``sigil.client.device.DeviceClient``).

A device generates a P-256 private key d and registers only Q = d·G. To log in it asks for a challenge
H = SHA-256(32 random bytes ‖ domain), signs the 32 bytes of H exactly as WebCrypto does —
``sign({name: "ECDSA", hash: "SHA-256"}, key, H)``, i.e. ECDSA (FIPS 186-5 §6.4) over SHA-256(H) with
a fresh random nonce, not RFC 6979 — and sends (challenge_id, device_id, DER signature) back for a
session token. d never leaves this process except encrypted in the keystore (``sigil.auth.keystore``).
"""

from __future__ import annotations

from typing import Any

from sigil.auth.keystore import Keystore
from sigil.crypto import P256, PrivateKey, PublicKey
from sigil.crypto import sign as ecdsa_sign
from sigil.crypto.encoding import b64decode
from sigil.crypto.keys import public_key_hex, public_key_jwk, public_key_pem
from sigil.errors import BadRequest, InvalidEncoding

__all__ = [
    "CHALLENGE_BYTES",
    "DeviceKey",
    "decode_challenge",
]

CHALLENGE_BYTES = 32


class DeviceKey:
    """A device's P-256 key pair. Its repr shows the public key only; it cannot be pickled."""

    __slots__ = ("_key",)

    def __init__(self, key: PrivateKey) -> None:
        if key.curve is not P256:
            raise BadRequest("a device key is a P-256 key")
        self._key = key

    @classmethod
    def generate(cls) -> DeviceKey:
        """A fresh key pair (d uniform in [1, n-1] from ``secrets``)."""
        return cls(PrivateKey.generate(P256))

    @classmethod
    def unlock(cls, keystore: Keystore, passphrase: str) -> DeviceKey:
        """Decrypt the key held in ``keystore`` (``WrongPassphrase`` if the passphrase is wrong)."""
        return cls(keystore.unlock(passphrase))

    def seal(self, passphrase: str, *, user: str, server_url: str | None = None) -> Keystore:
        """This key encrypted under ``passphrase`` as a new keystore for ``user``."""
        return Keystore.seal(self._key, passphrase, user=user, server_url=server_url)

    @property
    def public_key(self) -> PublicKey:
        return self._key.public_key()

    @property
    def public_key_pem(self) -> str:
        return public_key_pem(self.public_key)

    @property
    def public_key_jwk(self) -> dict[str, str]:
        return public_key_jwk(self.public_key)

    @property
    def public_key_hex(self) -> str:
        """SEC1 uncompressed 04||X||Y, lowercase hex (what the server stores)."""
        return public_key_hex(self.public_key)

    def sign_challenge(self, challenge: bytes) -> bytes:
        """DER ECDSA signature over SHA-256(challenge), fresh random nonce (as WebCrypto signs).

        ``challenge`` is the 32 bytes of H as the server sent them (decoded, see ``decode_challenge``).
        """
        if not isinstance(challenge, bytes | bytearray) or len(challenge) != CHALLENGE_BYTES:
            raise BadRequest(f"a login challenge is {CHALLENGE_BYTES} bytes")
        return ecdsa_sign(
            self._key, message=bytes(challenge), hash_name="SHA-256", encoding="der", deterministic=False
        )

    def __repr__(self) -> str:
        return f"DeviceKey(P-256, {self.public_key.sec1(compressed=True).hex()})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("DeviceKey cannot be pickled; keep it in a keystore")


def decode_challenge(value: str) -> bytes:
    """The 32 bytes of H from the server's base64url (padded or not) ``challenge`` field."""
    try:
        raw = b64decode(value)
    except InvalidEncoding:
        raise InvalidEncoding("challenge is not base64url") from None
    if len(raw) != CHALLENGE_BYTES:
        raise InvalidEncoding(f"challenge must be {CHALLENGE_BYTES} bytes, got {len(raw)}")
    return raw


# --- API results -------------------------------------------------------------------------------------
