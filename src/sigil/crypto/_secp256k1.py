"""The libsecp256k1 backend of :mod:`sigil.crypto.ecdsa`, called through coincurve's cffi binding.

Keys here are backend values: a secret is the 32-byte big-endian scalar, a public key a cffi
``secp256k1_pubkey *``. Inputs are already validated by :mod:`sigil.crypto.ecdsa`; ``msg32`` is the
32-byte digest. The default-path ``sign``/``verify`` calls are inlined in :mod:`sigil.crypto.ecdsa`.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from sigil.crypto.curves import SECP256K1
from sigil.errors import BadRequest, InvalidEncoding, InvalidPublicKey, InvalidSignature

__all__ = ["CTX", "NULL", "create_public", "low_s_ok", "parse", "recover", "serialize", "sign", "verify"]

CTX: Final = GLOBAL_CONTEXT.ctx
NULL: Final = ffi.NULL


# --- keys -----------------------------------------------------------------------------------------


def parse(data: bytes) -> Any:
    """A SEC1 §2.3.3 point (02/03 or 04, length already checked) as a ``secp256k1_pubkey *``."""
    key = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(CTX, key, data, len(data)):
        raise InvalidPublicKey("the point is not on secp256k1")
    return key


def create_public(secret: bytes) -> Any:
    """Q = d·G as a ``secp256k1_pubkey *``."""
    key = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_create(CTX, key, secret):
        raise BadRequest("invalid secp256k1 private key")
    return key


def serialize(key: Any, *, compressed: bool) -> bytes:
    size = 33 if compressed else 65
    out = ffi.new("unsigned char[65]")
    out_len = ffi.new("size_t *", 65)
    flag = lib.SECP256K1_EC_COMPRESSED if compressed else lib.SECP256K1_EC_UNCOMPRESSED
    lib.secp256k1_ec_pubkey_serialize(CTX, out, out_len, key, flag)
    return bytes(ffi.buffer(out, size))


# --- signing --------------------------------------------------------------------------------------


def sign(secret: bytes, msg32: bytes, encoding: str, deterministic: bool) -> bytes:
    """libsecp256k1 signing (always low-S). ndata = 32 fresh bytes hedges the RFC 6979 nonce."""
    ndata = NULL if deterministic else secrets.token_bytes(32)
    if encoding == "rsv":
        rsig = ffi.new("secp256k1_ecdsa_recoverable_signature *")
        if not lib.secp256k1_ecdsa_sign_recoverable(CTX, rsig, msg32, secret, NULL, ndata):
            raise BadRequest("secp256k1 signing failed")
        out = ffi.new("unsigned char[65]")
        recid = ffi.new("int *")
        lib.secp256k1_ecdsa_recoverable_signature_serialize_compact(CTX, out, recid, rsig)
        out[64] = 27 + recid[0]  # Ethereum v = 27 + recovery id (Yellow Paper App. F)
        return bytes(ffi.buffer(out, 65))
    sig = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_sign(CTX, sig, msg32, secret, NULL, ndata):
        raise BadRequest("secp256k1 signing failed")
    if encoding == "raw":
        out = ffi.new("unsigned char[64]")
        lib.secp256k1_ecdsa_signature_serialize_compact(CTX, out, sig)
        return bytes(ffi.buffer(out, 64))
    der = ffi.new("unsigned char[72]")
    der_len = ffi.new("size_t *", 72)
    lib.secp256k1_ecdsa_signature_serialize_der(CTX, der, der_len, sig)
    return bytes(ffi.buffer(der, der_len[0]))


# --- verification and recovery --------------------------------------------------------------------


def low_s_ok(signature_rsv: bytes) -> bool:
    """True when the s of a secp256k1 r||s||v signature is at most n/2 (EIP-2)."""
    return int.from_bytes(signature_rsv[32:64], "big") <= SECP256K1.half_order


def verify(key: Any, sec1: bytes, signature: bytes, msg32: bytes, encoding: str, low_s: bool) -> bool:
    """libsecp256k1 verification. It only accepts low-S, so high-S is normalised first unless low_s.

    ``key`` and ``sec1`` are the same public key (the uncompressed SEC1 form for rsv's comparison).
    """
    if encoding == "rsv":
        try:
            return low_s_ok(signature) and serialize(recover(signature, msg32), compressed=False) == sec1
        except (InvalidEncoding, InvalidSignature):
            return False
    sig = ffi.new("secp256k1_ecdsa_signature *")
    if encoding == "der":
        # Strict DER parse; r or s >= n parse to zero, which never verifies.
        if not lib.secp256k1_ecdsa_signature_parse_der(CTX, sig, signature, len(signature)):
            return False
    elif len(signature) != 64 or not lib.secp256k1_ecdsa_signature_parse_compact(CTX, sig, signature):
        return False  # parse_compact rejects r or s >= n
    if low_s:
        if lib.secp256k1_ecdsa_signature_normalize(CTX, NULL, sig):
            return False  # s > n/2
    else:
        lib.secp256k1_ecdsa_signature_normalize(CTX, sig, sig)
    return bool(lib.secp256k1_ecdsa_verify(CTX, sig, msg32, key))


def recover(signature_rsv: bytes, msg32: bytes) -> Any:
    """SEC1 §4.1.6 public key recovery via libsecp256k1; v is 0/1 or 27/28. A ``secp256k1_pubkey *``."""
    if len(signature_rsv) != 65:
        raise InvalidEncoding("an r||s||v signature is 65 bytes")
    v = signature_rsv[64]
    recid = v - 27 if v >= 27 else v
    if recid not in (0, 1):
        raise InvalidEncoding("v must be 0, 1, 27 or 28")
    rsig = ffi.new("secp256k1_ecdsa_recoverable_signature *")
    if not lib.secp256k1_ecdsa_recoverable_signature_parse_compact(CTX, rsig, signature_rsv[:64], recid):
        raise InvalidSignature("r or s out of range")
    key = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ecdsa_recover(CTX, key, rsig, msg32):
        raise InvalidSignature("no public key recovers from this signature")
    return key
