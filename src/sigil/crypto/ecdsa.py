"""ECDSA key generation, signing, verification and public-key recovery.

Backends: P-256 / P-384 go through ``cryptography`` (OpenSSL, :mod:`sigil.crypto._openssl`); secp256k1
goes straight to libsecp256k1 through coincurve's cffi binding (about 11x faster than OpenSSL's generic
code there; :mod:`sigil.crypto._secp256k1`). This module validates requests, hashes, and dispatches;
the key classes live in :mod:`sigil.crypto._eckeys` and are re-exported here.

Nonces (SEC1 §4.1.3 step 1): deterministic per RFC 6979 §3.2 by default; ``deterministic=False``
gives a hedged/random nonce (OpenSSL's RNG for P-256/P-384; for secp256k1, RFC 6979 with 32 bytes from
``secrets`` as the extra data of §3.6, which libsecp256k1 takes as ``ndata``).

Hot paths (``sign``/``verify`` with the default DER encoding) do one dict lookup and one backend call:
the ``ECDSA`` algorithm objects are built once per hash at import time. They are inlined in ``sign``
and ``verify``; every other request goes through ``_sign_checked``/``_verify_checked``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Final

from coincurve._libsecp256k1 import ffi, lib
from Crypto.Hash import keccak
from cryptography.exceptions import InvalidSignature as _BackendInvalidSignature
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from sigil.crypto._eckeys import PrivateKey, PublicKey
from sigil.crypto._openssl import DIG_DET as _DIG_DET
from sigil.crypto._openssl import DIG_RND as _DIG_RND
from sigil.crypto._openssl import MSG_DET as _MSG_DET
from sigil.crypto._openssl import MSG_RND as _MSG_RND
from sigil.crypto._openssl import verify as _p_verify
from sigil.crypto._secp256k1 import CTX as _CTX
from sigil.crypto._secp256k1 import NULL as _NULL
from sigil.crypto._secp256k1 import low_s_ok as low_s_ok
from sigil.crypto._secp256k1 import recover as _k1_recover
from sigil.crypto._secp256k1 import serialize as _k1_serialize
from sigil.crypto._secp256k1 import sign as _k1_sign
from sigil.crypto._secp256k1 import verify as _k1_verify
from sigil.crypto.curves import HASH_SIZES, SECP256K1, Curve
from sigil.crypto.encoding import raw_from_rs
from sigil.errors import BadRequest, InvalidEncoding, UnsupportedHash

__all__ = [
    "ENCODINGS",
    "PrivateKey",
    "PublicKey",
    "hash_message",
    "normalize_s",
    "recover",
    "sign",
    "sign_batch",
    "verify",
]

ENCODINGS: Final = ("der", "raw", "rsv")

# --- hashes -----------------------------------------------------------------------------------------

_sha256: Final = hashlib.sha256
_K1_SHA: Final = frozenset((None, "SHA-256"))  # hash_name values that mean SHA-256 on secp256k1


def _keccak256(data: bytes) -> bytes:
    """Keccak-256 as Ethereum uses it (the pre-FIPS-202 padding), via pycryptodome."""
    return keccak.new(digest_bits=256, data=data).digest()


_HASHERS: Final[dict[str, Callable[[bytes], bytes]]] = {
    "SHA-256": lambda m: hashlib.sha256(m).digest(),
    "SHA-384": lambda m: hashlib.sha384(m).digest(),
    "SHA-512": lambda m: hashlib.sha512(m).digest(),
    "KECCAK-256": _keccak256,
}


# --- helpers ------------------------------------------------------------------------------------


def _resolve_hash(curve: Curve, hash_name: str | None) -> str:
    """The hash to use: the curve's default when None; only the curve's allowed hashes."""
    if hash_name is None:
        return curve.default_hash
    if hash_name not in curve.hashes:
        raise UnsupportedHash(f"{curve.name} signs with {', '.join(curve.hashes)}, not {hash_name!r}")
    return hash_name


def _check_input(message: bytes | None, digest: bytes | None, hash_name: str) -> None:
    """Exactly one of message/digest; a digest must be exactly the hash's size."""
    if (message is None) == (digest is None):
        raise BadRequest("give exactly one of message or digest")
    if digest is not None and len(digest) != HASH_SIZES[hash_name]:
        raise InvalidEncoding(f"a {hash_name} digest is {HASH_SIZES[hash_name]} bytes, got {len(digest)}")


def _check_encoding(curve: Curve, encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise InvalidEncoding(f"encoding must be one of {', '.join(ENCODINGS)}")
    if encoding == "rsv" and curve is not SECP256K1:
        raise InvalidEncoding("rsv encoding is only for secp256k1")


def hash_message(curve: Curve, message: bytes, hash_name: str | None) -> bytes:
    """Digest ``message`` with ``hash_name`` (or the curve's default), checking it is allowed."""
    return _HASHERS[_resolve_hash(curve, hash_name)](message)


def normalize_s(curve: Curve, s: int) -> int:
    """Low-S form: s if s <= n/2 else n - s (BIP-62 / BIP-146; both verify under X9.62)."""
    return curve.order - s if s > curve.half_order else s


def _k1_digest(message: bytes | None, digest: bytes | None, hash_name: str) -> bytes:
    if digest is not None:
        return digest
    assert message is not None
    if hash_name == "SHA-256":
        return _sha256(message).digest()
    return _keccak256(message)


# --- signing --------------------------------------------------------------------------------------


def _p_finish(curve: Curve, der: bytes, encoding: str, low_s: bool) -> bytes:
    """Re-encode an OpenSSL DER signature as requested, normalising s when asked."""
    r, s = decode_dss_signature(der)
    if low_s:
        s = normalize_s(curve, s)
    if encoding == "raw":
        return raw_from_rs(r, s, curve.byte_len)
    return encode_dss_signature(r, s)


def sign(
    key: PrivateKey,
    *,
    message: bytes | None = None,
    digest: bytes | None = None,
    hash_name: str | None = None,
    encoding: str = "der",
    low_s: bool = False,
    deterministic: bool = True,
) -> bytes:
    """Sign ``message`` (hashed with ``hash_name``) or a prehashed ``digest`` (X9.62 / SEC1 §4.1.3).

    Encodings: "der" (RFC 3279), "raw" r||s (IEEE P1363), "rsv" r||s||v (secp256k1, low-S).
    """
    curve = key.curve
    if curve is SECP256K1:
        if (
            message is not None
            and digest is None
            and encoding == "der"
            and deterministic
            and hash_name in _K1_SHA
        ):
            # The hot path, inlined: SHA-256, libsecp256k1 RFC 6979 sign, DER serialisation.
            sig = ffi.new("secp256k1_ecdsa_signature *")
            if not lib.secp256k1_ecdsa_sign(_CTX, sig, _sha256(message).digest(), key._key, _NULL, _NULL):
                raise BadRequest("secp256k1 signing failed")
            out = ffi.new("unsigned char[72]")
            out_len = ffi.new("size_t *", 72)
            lib.secp256k1_ecdsa_signature_serialize_der(_CTX, out, out_len, sig)
            encoded: bytes = ffi.buffer(out, out_len[0])[:]
            return encoded
    else:
        h = curve.default_hash if hash_name is None else hash_name
        if (
            digest is None
            and message is not None
            and encoding == "der"
            and deterministic
            and not low_s
            and h in curve.hashes
        ):
            # The hot path: one backend call; OpenSSL hashes and signs (RFC 6979 §3.2).
            signature: bytes = key._key.sign(message, _MSG_DET[h])
            return signature
    return _sign_checked(key, message, digest, hash_name, encoding, low_s, deterministic)


def _sign_checked(
    key: PrivateKey,
    message: bytes | None,
    digest: bytes | None,
    hash_name: str | None,
    encoding: str,
    low_s: bool,
    deterministic: bool,
) -> bytes:
    """:func:`sign` off the hot path: validate the request, then call the curve's backend."""
    curve = key.curve
    h = _resolve_hash(curve, hash_name)
    _check_input(message, digest, h)
    _check_encoding(curve, encoding)
    if curve is SECP256K1:
        return _k1_sign(key._key, _k1_digest(message, digest, h), encoding, deterministic)
    der: bytes
    if digest is not None:
        der = key._key.sign(digest, (_DIG_DET if deterministic else _DIG_RND)[h])
    else:
        der = key._key.sign(message, (_MSG_DET if deterministic else _MSG_RND)[h])
    if encoding == "der" and not low_s:
        return der
    return _p_finish(curve, der, encoding, low_s)


def sign_batch(
    key: PrivateKey,
    *,
    messages: Sequence[bytes] | None = None,
    digests: Sequence[bytes] | None = None,
    hash_name: str | None = None,
    encoding: str = "der",
    low_s: bool = False,
) -> list[bytes]:
    """Sign many messages (or many digests) with one key; hash and encoding are resolved once."""
    curve = key.curve
    h = _resolve_hash(curve, hash_name)
    _check_encoding(curve, encoding)
    if (messages is None) == (digests is None):
        raise BadRequest("give exactly one of messages or digests")
    if digests is not None:
        size = HASH_SIZES[h]
        if any(len(d) != size for d in digests):
            raise InvalidEncoding(f"a {h} digest is {size} bytes")
    if curve is SECP256K1:
        secret = key._key
        if digests is not None:
            return [_k1_sign(secret, d, encoding, True) for d in digests]
        assert messages is not None
        return [_k1_sign(secret, _k1_digest(m, None, h), encoding, True) for m in messages]
    backend_sign = key._key.sign
    if digests is not None:
        algo, items = _DIG_DET[h], digests
    else:
        assert messages is not None
        algo, items = _MSG_DET[h], messages
    if encoding == "der" and not low_s:
        return [backend_sign(m, algo) for m in items]
    return [_p_finish(curve, backend_sign(m, algo), encoding, low_s) for m in items]


# --- verification ---------------------------------------------------------------------------------


def verify(
    public_key: PublicKey,
    signature: bytes,
    *,
    message: bytes | None = None,
    digest: bytes | None = None,
    hash_name: str | None = None,
    encoding: str = "der",
    low_s: bool = False,
) -> bool:
    """True when ``signature`` verifies (SEC1 §4.1.4); False for any bad signature, however malformed.

    Raises the BadRequest family only for a bad request: unknown encoding, rsv off secp256k1, a hash
    the curve does not allow, or a digest of the wrong length.
    """
    curve = public_key.curve
    if curve is SECP256K1:
        if (
            message is not None
            and digest is None
            and encoding == "der"
            and not low_s
            and hash_name in _K1_SHA
            and isinstance(signature, bytes)
        ):
            # The hot path, inlined: strict DER parse, normalise to low-S, verify (see _secp256k1.verify).
            sig = ffi.new("secp256k1_ecdsa_signature *")
            if not lib.secp256k1_ecdsa_signature_parse_der(_CTX, sig, signature, len(signature)):
                return False
            lib.secp256k1_ecdsa_signature_normalize(_CTX, sig, sig)
            ok: bool = lib.secp256k1_ecdsa_verify(_CTX, sig, _sha256(message).digest(), public_key._key) == 1
            return ok
    else:
        h = curve.default_hash if hash_name is None else hash_name
        if digest is None and message is not None and encoding == "der" and not low_s and h in curve.hashes:
            # The hot path: one backend call.
            try:
                public_key._key.verify(signature, message, _MSG_RND[h])
            except _BackendInvalidSignature:
                return False
            except TypeError:
                return False
            return True
    return _verify_checked(public_key, signature, message, digest, hash_name, encoding, low_s)


def _verify_checked(
    public_key: PublicKey,
    signature: bytes,
    message: bytes | None,
    digest: bytes | None,
    hash_name: str | None,
    encoding: str,
    low_s: bool,
) -> bool:
    """:func:`verify` off the hot path: validate the request, then call the curve's backend."""
    curve = public_key.curve
    h = _resolve_hash(curve, hash_name)
    _check_input(message, digest, h)
    _check_encoding(curve, encoding)
    if not isinstance(signature, bytes):
        return False
    if curve is SECP256K1:
        msg32 = _k1_digest(message, digest, h)
        return _k1_verify(public_key._key, public_key._sec1, signature, msg32, encoding, low_s)
    if digest is not None:
        return _p_verify(curve, public_key._key, signature, digest, _DIG_RND[h], encoding, low_s)
    assert message is not None
    return _p_verify(curve, public_key._key, signature, message, _MSG_RND[h], encoding, low_s)


# --- recovery (secp256k1) -------------------------------------------------------------------------


def recover(
    signature_rsv: bytes,
    *,
    message: bytes | None = None,
    digest: bytes | None = None,
    hash_name: str = "SHA-256",
) -> PublicKey:
    """The secp256k1 public key that made an r||s||v signature (InvalidSignature if none)."""
    h = _resolve_hash(SECP256K1, hash_name)
    _check_input(message, digest, h)
    key = _k1_recover(signature_rsv, _k1_digest(message, digest, h))  # SEC1 §4.1.6
    return PublicKey(SECP256K1, key, _k1_serialize(key, compressed=False))
