"""Sigil's pure crypto core: curves, encodings, ECDSA, public key formats, JWT. No I/O."""

from sigil.crypto.curves import CURVES, HASH_SIZES, P256, P384, SECP256K1, Curve, get_curve
from sigil.crypto.ecdsa import (
    PrivateKey,
    PublicKey,
    hash_message,
    normalize_s,
    recover,
    sign,
    sign_batch,
    verify,
)

__all__ = [
    "CURVES",
    "HASH_SIZES",
    "P256",
    "P384",
    "SECP256K1",
    "Curve",
    "PrivateKey",
    "PublicKey",
    "get_curve",
    "hash_message",
    "normalize_s",
    "recover",
    "sign",
    "sign_batch",
    "verify",
]
