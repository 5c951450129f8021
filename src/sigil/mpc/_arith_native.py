"""The native arithmetic backend: libsecp256k1 (through coincurve's cffi binding) and GMP (gmpy2).

Same functions, same affine ``(x, y)`` tuples and same results as :mod:`sigil.mpc._arith_python` (tested);
roughly 10x faster for points and 7x for 2048/4096-bit powmod. Results are converted back to plain ``int``
so callers never see ``mpz``. Importing this module fails (ImportError) when either library is missing, and
:mod:`sigil.mpc.arith` then falls back to pure Python.
"""

from __future__ import annotations

import gmpy2
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from sigil.mpc import _arith_python as _py
from sigil.mpc.errors import InvalidMessage

__all__ = [
    "add",
    "base_mul",
    "crt_pair",
    "decompress",
    "gcd",
    "invert",
    "is_probable_prime",
    "isqrt",
    "jacobi",
    "mul",
    "on_curve",
    "powmod",
    "random_prime",
    "random_safe_prime",
]

_CTX = GLOBAL_CONTEXT.ctx
_UNCOMPRESSED = lib.SECP256K1_EC_UNCOMPRESSED

Affine = tuple[int, int]
on_curve = _py.on_curve


# --- curve ----------------------------------------------------------------------------------------


def _parse(pt: Affine) -> object:
    key = ffi.new("secp256k1_pubkey *")
    data = b"\x04" + pt[0].to_bytes(32, "big") + pt[1].to_bytes(32, "big")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, key, data, 65):
        raise InvalidMessage("point is not on secp256k1")
    return key


def _affine(key: object) -> Affine:
    out = ffi.new("unsigned char[65]")
    out_len = ffi.new("size_t *", 65)
    lib.secp256k1_ec_pubkey_serialize(_CTX, out, out_len, key, _UNCOMPRESSED)
    raw = ffi.buffer(out, 65)
    return (int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:65], "big"))


def decompress(x: int, odd: bool) -> int | None:
    if not 0 <= x < _py.FIELD_P:
        return None
    key = ffi.new("secp256k1_pubkey *")
    data = (b"\x03" if odd else b"\x02") + x.to_bytes(32, "big")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, key, data, 33):
        return None
    return _affine(key)[1]


def add(a: Affine, b: Affine) -> Affine | None:
    ka, kb = _parse(a), _parse(b)  # keep the owners alive: the pointer array does not
    keys = ffi.new("secp256k1_pubkey *[2]", [ka, kb])
    out = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_combine(_CTX, out, keys, 2):
        return None  # the sum is the point at infinity
    return _affine(out)


def mul(pt: Affine, k: int) -> Affine | None:
    key = _parse(pt)
    if not lib.secp256k1_ec_pubkey_tweak_mul(_CTX, key, k.to_bytes(32, "big")):
        return None
    return _affine(key)


def base_mul(k: int) -> Affine | None:
    key = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_create(_CTX, key, k.to_bytes(32, "big")):
        return None
    return _affine(key)


# --- integers -------------------------------------------------------------------------------------

_powmod = gmpy2.powmod
_mpz = gmpy2.mpz


def powmod(b: int, e: int, m: int) -> int:
    if m <= 0:
        raise InvalidMessage("modulus must be positive")
    try:
        return int(_powmod(b, e, m))
    except (ZeroDivisionError, ValueError):
        raise InvalidMessage("base is not invertible modulo the modulus") from None


def invert(a: int, m: int) -> int:
    if m <= 1:
        raise InvalidMessage("modulus must be > 1")
    try:
        return int(gmpy2.invert(a, m))
    except (ZeroDivisionError, ValueError):
        raise InvalidMessage("value is not invertible modulo the modulus") from None


def gcd(a: int, b: int) -> int:
    return int(gmpy2.gcd(a, b))


def isqrt(n: int) -> int:
    if n < 0:
        raise InvalidMessage("square root of a negative number")
    return int(gmpy2.isqrt(n))


def jacobi(a: int, n: int) -> int:
    if n <= 0 or n % 2 == 0:
        raise InvalidMessage("the Jacobi symbol needs an odd positive modulus")
    return int(gmpy2.jacobi(a, n))


def crt_pair(a_p: int, p: int, a_q: int, q: int) -> int:
    return int(a_p % p + p * ((a_q - a_p) * gmpy2.invert(p, q) % q))


def is_probable_prime(n: int) -> bool:
    """GMP's test: trial division, Baillie–PSW, then 30 − 24 = 6 Miller–Rabin rounds (no BPSW pseudoprime
    is known)."""
    if n < 2:
        return False
    return bool(gmpy2.is_prime(n, 30))


def _is_prime_generated(n: int) -> bool:
    return bool(gmpy2.is_prime(n, 10))


def random_prime(bits: int, *, blum: bool = False) -> int:
    return _py.random_prime(bits, blum=blum, is_prime=_is_prime_generated)


def random_safe_prime(bits: int) -> int:
    return _py.random_safe_prime(bits, is_prime=_is_prime_generated, fermat_pow=_powmod)
