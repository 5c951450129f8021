"""The OpenSSL backend of :mod:`sigil.crypto.ecdsa` for P-256 and P-384, through ``cryptography``.

Keys here are ``cryptography`` EC key objects. The ``ECDSA`` algorithm objects are built once per
hash at import time, so a signing or verifying call is one dict lookup and one backend call.
Inputs are already validated by :mod:`sigil.crypto.ecdsa`.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidSignature as _BackendInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from sigil.crypto.curves import P256, P384, Curve
from sigil.errors import InvalidPublicKey

__all__ = [
    "DIG_DET",
    "DIG_RND",
    "EC_CURVE",
    "MSG_DET",
    "MSG_RND",
    "SPKI_UNCOMPRESSED",
    "load_public",
    "verify",
]

EC_CURVE: Final[dict[str, ec.EllipticCurve]] = {P256.name: ec.SECP256R1(), P384.name: ec.SECP384R1()}
_HASH_ALG: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "SHA-256": hashes.SHA256,
    "SHA-384": hashes.SHA384,
    "SHA-512": hashes.SHA512,
}
# Keyed by hash name. "message" tables let OpenSSL hash; "digest" tables take a prehashed input.
MSG_DET: Final = {h: ec.ECDSA(c(), deterministic_signing=True) for h, c in _HASH_ALG.items()}
MSG_RND: Final = {h: ec.ECDSA(c()) for h, c in _HASH_ALG.items()}
DIG_DET: Final = {h: ec.ECDSA(Prehashed(c()), deterministic_signing=True) for h, c in _HASH_ALG.items()}
DIG_RND: Final = {h: ec.ECDSA(Prehashed(c())) for h, c in _HASH_ALG.items()}
SPKI_UNCOMPRESSED: Final = (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def load_public(curve: Curve, data: bytes) -> ec.EllipticCurvePublicKey:
    """A SEC1 §2.3.3 point (02/03 or 04, length already checked) on ``curve``."""
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(EC_CURVE[curve.name], data)
    except ValueError:
        raise InvalidPublicKey(f"the point is not on {curve.name}") from None


def verify(
    curve: Curve,
    key: ec.EllipticCurvePublicKey,
    signature: bytes,
    data: bytes,
    algo: ec.ECDSA,
    encoding: str,
    low_s: bool,
) -> bool:
    """OpenSSL verification. OpenSSL itself rejects non-DER input and r, s outside [1, n-1]."""
    if encoding == "raw":
        size = curve.byte_len
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        n = curve.order
        if not (0 < r < n and 0 < s < n) or (low_s and s > curve.half_order):
            return False
        signature = encode_dss_signature(r, s)
    elif low_s:
        try:
            _, s = decode_dss_signature(signature)
        except ValueError:
            return False
        if s > curve.half_order:
            return False
    try:
        key.verify(signature, data, algo)
    except _BackendInvalidSignature:
        return False
    return True
