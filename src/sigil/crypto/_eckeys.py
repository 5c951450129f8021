"""ECDSA key objects: :class:`PublicKey` (a validated point) and :class:`PrivateKey` (an opaque scalar).

Each wraps its backend's key value: a ``cryptography`` EC key for P-256 / P-384
(:mod:`sigil.crypto._openssl`), a cffi ``secp256k1_pubkey *`` or the 32-byte secret for secp256k1
(:mod:`sigil.crypto._secp256k1`). Import them from :mod:`sigil.crypto.ecdsa`, whose ``sign``/``verify``
read ``_key`` directly on their hot paths.
"""

from __future__ import annotations

import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from sigil.crypto._openssl import EC_CURVE, SPKI_UNCOMPRESSED
from sigil.crypto._openssl import load_public as _p_load_public
from sigil.crypto._secp256k1 import create_public as _k1_create_public
from sigil.crypto._secp256k1 import parse as _k1_parse
from sigil.crypto._secp256k1 import serialize as _k1_serialize
from sigil.crypto.curves import SECP256K1, Curve
from sigil.errors import BadRequest, InvalidPublicKey

__all__ = ["PrivateKey", "PublicKey"]


class PublicKey:
    """A validated public point Q on one curve (never the identity; SEC1 §3.2.2.1)."""

    __slots__ = ("_key", "_sec1", "curve")

    curve: Curve
    _key: Any  # cryptography EllipticCurvePublicKey, or a cffi ``secp256k1_pubkey *``
    _sec1: bytes  # uncompressed 04||X||Y

    def __init__(self, curve: Curve, key: Any, sec1: bytes) -> None:
        """Internal: use :meth:`from_sec1` or :meth:`PrivateKey.public_key`."""
        self.curve = curve
        self._key = key
        self._sec1 = sec1

    @classmethod
    def from_sec1(cls, curve: Curve, data: bytes) -> PublicKey:
        """Parse a SEC1 §2.3.3 point (compressed 02/03 or uncompressed 04); on-curve, not identity."""
        size = curve.byte_len
        if not isinstance(data, bytes | bytearray) or not (
            (len(data) == 1 + size and data[0] in (2, 3)) or (len(data) == 1 + 2 * size and data[0] == 4)
        ):
            raise InvalidPublicKey(f"a {curve.name} public key is a SEC1 compressed or uncompressed point")
        data = bytes(data)
        if curve is SECP256K1:
            return cls._from_k1(data)
        key = _p_load_public(curve, data)
        return cls(curve, key, data if data[0] == 4 else key.public_bytes(*SPKI_UNCOMPRESSED))

    @classmethod
    def _from_k1(cls, data: bytes) -> PublicKey:
        key = _k1_parse(data)
        return cls(SECP256K1, key, data if data[0] == 4 else _k1_serialize(key, compressed=False))

    @classmethod
    def from_cryptography(cls, key: ec.EllipticCurvePublicKey) -> PublicKey:
        """Wrap a ``cryptography`` EC public key (P-256, P-384 or secp256k1)."""
        name = {"secp256r1": "P-256", "secp384r1": "P-384", "secp256k1": "secp256k1"}.get(key.curve.name)
        if name is None:
            raise InvalidPublicKey(f"unsupported curve {key.curve.name}")
        from sigil.crypto.curves import CURVES

        return cls.from_sec1(CURVES[name], key.public_bytes(*SPKI_UNCOMPRESSED))

    def sec1(self, compressed: bool = False) -> bytes:
        """SEC1 §2.3.3 encoding: 04||X||Y, or 02/03||X when compressed."""
        if not compressed:
            return self._sec1
        size = self.curve.byte_len
        return bytes((2 | (self._sec1[-1] & 1),)) + self._sec1[1 : 1 + size]

    @property
    def x(self) -> int:
        return int.from_bytes(self._sec1[1 : 1 + self.curve.byte_len], "big")

    @property
    def y(self) -> int:
        return int.from_bytes(self._sec1[1 + self.curve.byte_len :], "big")

    def to_cryptography(self) -> ec.EllipticCurvePublicKey:
        """The same key as a ``cryptography`` object (for PEM/DER export)."""
        if self.curve is SECP256K1:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), self._sec1)
        key: ec.EllipticCurvePublicKey = self._key
        return key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self.curve is other.curve and self._sec1 == other._sec1

    def __hash__(self) -> int:
        return hash((self.curve.name, self._sec1))

    def __repr__(self) -> str:
        return f"PublicKey({self.curve.name}, {self.sec1(compressed=True).hex()})"


class PrivateKey:
    """An opaque handle on a private scalar d. Its repr and str show the curve only."""

    __slots__ = ("_key", "_pub", "curve")

    curve: Curve
    _key: Any  # cryptography EllipticCurvePrivateKey, or the 32-byte secret for secp256k1
    _pub: PublicKey | None

    def __init__(self, curve: Curve, key: Any) -> None:
        """Internal: use :meth:`generate` or :meth:`from_scalar`."""
        self.curve = curve
        self._key = key
        self._pub = None

    @classmethod
    def generate(cls, curve: Curve) -> PrivateKey:
        """A fresh key, d uniform in [1, n-1] from ``secrets`` (FIPS 186-5 §A.2.2, rejection-free form)."""
        d = secrets.randbelow(curve.order - 1) + 1
        return cls.from_scalar(curve, d.to_bytes(curve.byte_len, "big"))

    @classmethod
    def from_scalar(cls, curve: Curve, scalar: bytes) -> PrivateKey:
        """From a big-endian scalar of exactly ``byte_len`` bytes with 1 <= d < n."""
        if not isinstance(scalar, bytes | bytearray) or len(scalar) != curve.byte_len:
            raise BadRequest(f"a {curve.name} private key is {curve.byte_len} bytes")
        d = int.from_bytes(scalar, "big")
        if not 1 <= d < curve.order:
            raise BadRequest(f"a {curve.name} private key must be in [1, n-1]")
        if curve is SECP256K1:
            return cls(curve, bytes(scalar))
        return cls(curve, ec.derive_private_key(d, EC_CURVE[curve.name]))

    def scalar_bytes(self) -> bytes:
        """The big-endian scalar d, for sealing only. Never log or return it."""
        if self.curve is SECP256K1:
            secret: bytes = self._key
            return secret
        d: int = self._key.private_numbers().private_value
        return d.to_bytes(self.curve.byte_len, "big")

    def public_key(self) -> PublicKey:
        """Q = d·G (cached)."""
        pub = self._pub
        if pub is None:
            if self.curve is SECP256K1:
                key = _k1_create_public(self._key)
                pub = PublicKey(SECP256K1, key, _k1_serialize(key, compressed=False))
            else:
                bk = self._key.public_key()
                pub = PublicKey(self.curve, bk, bk.public_bytes(*SPKI_UNCOMPRESSED))
            self._pub = pub
        return pub

    def __repr__(self) -> str:
        return f"PrivateKey({self.curve.name})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("PrivateKey cannot be pickled; seal scalar_bytes() instead")
