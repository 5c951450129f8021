"""The pure-Python arithmetic backend: secp256k1 in Jacobian coordinates and big-integer helpers.

This is the backend Pyodide runs (no gmpy2, no coincurve there), and the reference the native backend is
tested against. Points cross this module's boundary as affine ``(x, y)`` tuples of ints, ``None`` meaning the
point at infinity; :mod:`sigil.mpc.arith` wraps them in :class:`~sigil.mpc.arith.Point`.

Curve formulas: SEC 1 v2 §2.2.1 and the "dbl-2009-l" / "add-2007-bl" / "madd-2007-bl" Jacobian formulas of
the Explicit-Formulas Database for a = 0. Python integers are not constant-time; see docs/mpc.md.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable

from sigil.mpc.errors import InvalidMessage

__all__ = [
    "FIELD_P",
    "GX",
    "GY",
    "SMALL_PRIMES",
    "Q",
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
    "powmod",
    "random_prime",
    "random_safe_prime",
    "sieve_search",
]

# SEC 2 v2 §2.4.1: secp256k1, y² = x³ + 7 over F_p, base point G of prime order Q.
FIELD_P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
Q = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8

_P = FIELD_P
_SQRT_EXP = (FIELD_P + 1) // 4  # p ≡ 3 (mod 4): sqrt(a) = a^((p+1)/4)

Affine = tuple[int, int]
_Jac = tuple[int, int, int]  # (X, Y, Z), Z == 0 is infinity


# --- curve ----------------------------------------------------------------------------------------


def _double(x1: int, y1: int, z1: int) -> _Jac:
    if z1 == 0 or y1 == 0:
        return (1, 1, 0)
    a = x1 * x1 % _P
    b = y1 * y1 % _P
    c = b * b % _P
    d = 2 * ((x1 + b) * (x1 + b) - a - c) % _P
    e = 3 * a
    x3 = (e * e - 2 * d) % _P
    return (x3, (e * (d - x3) - 8 * c) % _P, 2 * y1 * z1 % _P)


def _add(x1: int, y1: int, z1: int, x2: int, y2: int, z2: int) -> _Jac:
    if z1 == 0:
        return (x2, y2, z2)
    if z2 == 0:
        return (x1, y1, z1)
    z1z1 = z1 * z1 % _P
    z2z2 = z2 * z2 % _P
    u1 = x1 * z2z2 % _P
    u2 = x2 * z1z1 % _P
    s1 = y1 * z2 * z2z2 % _P
    s2 = y2 * z1 * z1z1 % _P
    h = (u2 - u1) % _P
    r = (s2 - s1) % _P
    if h == 0:
        return _double(x1, y1, z1) if r == 0 else (1, 1, 0)
    hh = h * h % _P
    hhh = h * hh % _P
    v = u1 * hh % _P
    x3 = (r * r - hhh - 2 * v) % _P
    return (x3, (r * (v - x3) - s1 * hhh) % _P, z1 * z2 * h % _P)


def _madd(x1: int, y1: int, z1: int, x2: int, y2: int) -> _Jac:
    """Jacobian + affine (mixed addition): the inner loop of both scalar multiplications."""
    if z1 == 0:
        return (x2, y2, 1)
    z1z1 = z1 * z1 % _P
    u2 = x2 * z1z1 % _P
    s2 = y2 * z1 * z1z1 % _P
    h = (u2 - x1) % _P
    r = (s2 - y1) % _P
    if h == 0:
        return _double(x1, y1, z1) if r == 0 else (1, 1, 0)
    hh = h * h % _P
    hhh = h * hh % _P
    v = x1 * hh % _P
    x3 = (r * r - hhh - 2 * v) % _P
    return (x3, (r * (v - x3) - y1 * hhh) % _P, z1 * h % _P)


def _to_affine(pt: _Jac) -> Affine | None:
    x, y, z = pt
    if z == 0:
        return None
    zi = pow(z, -1, _P)
    zi2 = zi * zi % _P
    return (x * zi2 % _P, y * zi2 * zi % _P)


def _batch_affine(points: list[_Jac]) -> list[Affine]:
    """Many Jacobian points (none at infinity) to affine with one inversion (Montgomery's trick)."""
    prefix = [1] * (len(points) + 1)
    for i, (_, _, z) in enumerate(points):
        prefix[i + 1] = prefix[i] * z % _P
    inv = pow(prefix[-1], -1, _P)
    out: list[Affine] = [(0, 0)] * len(points)
    for i in range(len(points) - 1, -1, -1):
        x, y, z = points[i]
        zi = inv * prefix[i] % _P
        inv = inv * z % _P
        zi2 = zi * zi % _P
        out[i] = (x * zi2 % _P, y * zi2 * zi % _P)
    return out


def on_curve(x: int, y: int) -> bool:
    return 0 <= x < _P and 0 <= y < _P and (y * y - x * x * x - 7) % _P == 0


def decompress(x: int, odd: bool) -> int | None:
    """The y with parity ``odd`` such that (x, y) is on the curve, or None (SEC 1 §2.3.4 step 2.4)."""
    if not 0 <= x < _P:
        return None
    rhs = (x * x * x + 7) % _P
    y = pow(rhs, _SQRT_EXP, _P)
    if y * y % _P != rhs:
        return None
    if (y & 1) != odd:
        y = _P - y
    return y % _P


def add(a: Affine, b: Affine) -> Affine | None:
    return _to_affine(_madd(a[0], a[1], 1, b[0], b[1]))


_WINDOW = 4


def mul(pt: Affine, k: int) -> Affine | None:
    """k·P by a fixed 4-bit window, left to right (k already reduced to [1, Q))."""
    x, y = pt
    table_j: list[_Jac] = [(x, y, 1)]
    for _ in range(14):
        table_j.append(_madd(*table_j[-1], x, y))
    if any(t[2] == 0 for t in table_j):  # only for points of tiny order; secp256k1 has none
        raise InvalidMessage("point of small order")
    table = _batch_affine(table_j)
    acc: _Jac = (1, 1, 0)
    for shift in range((k.bit_length() + 3) // 4 * 4 - 4, -4, -4):
        if acc[2]:
            for _ in range(_WINDOW):
                acc = _double(*acc)
        d = (k >> shift) & 15
        if d:
            tx, ty = table[d - 1]
            acc = _madd(*acc, tx, ty)
    return _to_affine(acc)


_BASE_TABLE: list[list[Affine]] = []


def _base_table() -> list[list[Affine]]:
    """d·16^i·G for i < 64, d in 1..15 (affine), built once on first use (about 10 ms)."""
    if not _BASE_TABLE:
        rows: list[_Jac] = []
        g: _Jac = (GX, GY, 1)
        for _ in range(64):
            gx, gy = _to_affine(g) or (0, 0)
            cur: _Jac = (gx, gy, 1)
            for _ in range(15):
                rows.append(cur)
                cur = _madd(*cur, gx, gy)
            g = cur  # 16·(16^i·G)
        flat = _batch_affine(rows)
        _BASE_TABLE.extend(flat[i * 15 : (i + 1) * 15] for i in range(64))
    return _BASE_TABLE


def base_mul(k: int) -> Affine | None:
    """k·G with the precomputed table: at most 64 mixed additions, no doublings."""
    table = _base_table()
    acc: _Jac = (1, 1, 0)
    i = 0
    while k:
        d = k & 15
        if d:
            tx, ty = table[i][d - 1]
            acc = _madd(*acc, tx, ty)
        k >>= 4
        i += 1
    return _to_affine(acc)


# --- integers -------------------------------------------------------------------------------------


def powmod(b: int, e: int, m: int) -> int:
    try:
        return pow(b, e, m)
    except ValueError:
        raise InvalidMessage("base is not invertible modulo the modulus") from None


def invert(a: int, m: int) -> int:
    if m <= 1:
        raise InvalidMessage("modulus must be > 1")
    try:
        return pow(a, -1, m)
    except ValueError:
        raise InvalidMessage("value is not invertible modulo the modulus") from None


def gcd(a: int, b: int) -> int:
    return math.gcd(a, b)


def isqrt(n: int) -> int:
    if n < 0:
        raise InvalidMessage("square root of a negative number")
    return math.isqrt(n)


def jacobi(a: int, n: int) -> int:
    """The Jacobi symbol (a/n) for odd n > 0 (Cohen, A Course in Computational Algebraic Number Theory,
    Algorithm 1.4.10)."""
    if n <= 0 or n % 2 == 0:
        raise InvalidMessage("the Jacobi symbol needs an odd positive modulus")
    a %= n
    result = 1
    while a:
        while a % 2 == 0:
            a //= 2
            if n % 8 in (3, 5):
                result = -result
        a, n = n, a
        if a % 4 == 3 and n % 4 == 3:
            result = -result
        a %= n
    return result if n == 1 else 0


def crt_pair(a_p: int, p: int, a_q: int, q: int) -> int:
    """Garner's formula: x ≡ a_p (mod p), x ≡ a_q (mod q), 0 <= x < p·q (p, q coprime)."""
    return a_p % p + p * ((a_q - a_p) * invert(p, q) % q)


def _primes_below(limit: int) -> list[int]:
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\x00\x00"
    for i in range(2, math.isqrt(limit) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytes(len(range(i * i, limit, i)))
    return [i for i in range(limit) if sieve[i]]


#: Odd primes below 2^14: trial division and the sieve of the prime searches.
SMALL_PRIMES: tuple[int, ...] = tuple(_primes_below(1 << 14)[1:])
_MR_DETERMINISTIC_LIMIT = (
    3317044064679887385961981  # bases 2..41 are exact below this (Sorenson & Webster 2015)
)
_MR_DETERMINISTIC_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)


def _miller_rabin(n: int, d: int, s: int, a: int) -> bool:
    x = pow(a, d, n)
    if x == 1 or x == n - 1:
        return True
    for _ in range(s - 1):
        x = x * x % n
        if x == n - 1:
            return True
    return False


def is_probable_prime(n: int, rounds: int = 40) -> bool:
    """Trial division, then Miller–Rabin (FIPS 186-5 §B.3.1): exact below 3.3·10^24, else base 2 and
    ``rounds`` bases from ``secrets``: error at most 4^-rounds, even for a composite an adversary chose."""
    if n < 2 or n % 2 == 0:
        return n == 2
    for p in SMALL_PRIMES[:200]:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    if n < _MR_DETERMINISTIC_LIMIT:
        return all(_miller_rabin(n, d, s, a) for a in _MR_DETERMINISTIC_BASES)
    if not _miller_rabin(n, d, s, 2):
        return False
    return all(_miller_rabin(n, d, s, 2 + secrets.randbelow(n - 3)) for _ in range(rounds))


def sieve_search(
    bits: int,
    step: int,
    residue: int,
    forbidden: Callable[[int], tuple[int, ...]],
    accept: Callable[[int], bool],
) -> int:
    """The first n = base + step·i (i < window) with no small prime r hitting ``forbidden(r)`` residues and
    ``accept(n)``, from a fresh random ``bits``-bit base ≡ ``residue`` (mod step) with its top two bits set.

    A sieve over a window (slice assignment, so it is fast in Pyodide too) instead of a trial division of
    every candidate. Incremental search from a uniform start is the usual prime generator (HAC 4.51); its bias
    toward primes after long gaps is irrelevant for the security of a Paillier or ring-Pedersen modulus.
    """
    if bits < 16:
        raise ValueError("bits must be >= 16")
    window = 1 << 14
    primes = [r for r in SMALL_PRIMES if r.bit_length() < bits - 2]
    while True:
        base = secrets.randbits(bits) | (3 << (bits - 2))
        base += (residue - base) % step
        marks = bytearray([1]) * window
        for r in primes:
            inv_step = pow(step, -1, r)
            b = base % r
            for f in forbidden(r):
                i0 = (f - b) * inv_step % r
                marks[i0::r] = bytes(len(range(i0, window, r)))
        i = marks.find(1)
        while i >= 0:
            n = base + step * i
            if n.bit_length() != bits:
                break
            if accept(n):
                return n
            i = marks.find(1, i + 1)


def _zero(r: int) -> tuple[int, ...]:
    return (0,)


def _safe(r: int) -> tuple[int, ...]:
    return (0, (r - 1) // 2)  # p' ≡ 0 or 2p'+1 ≡ 0 (mod r)


def random_prime(bits: int, *, blum: bool = False, is_prime: Callable[[int], bool] | None = None) -> int:
    """A random prime of exactly ``bits`` bits (top two bits set, so a product of two has 2·bits bits);
    ``blum`` gives p ≡ 3 (mod 4)."""
    test = is_prime or (lambda n: is_probable_prime(n, rounds=10))
    if blum:
        return sieve_search(bits, 4, 3, _zero, test)
    return sieve_search(bits, 2, 1, _zero, test)


def random_safe_prime(
    bits: int,
    *,
    is_prime: Callable[[int], bool] | None = None,
    fermat_pow: Callable[[int, int, int], object] = pow,
) -> int:
    """p = 2p' + 1 with p and p' prime, ``bits`` bits; p' odd, so p ≡ 3 (mod 4)."""
    test = is_prime or (lambda n: is_probable_prime(n, rounds=10))

    def accept(p1: int) -> bool:
        p = 2 * p1 + 1
        # Cheap filters first: base-2 Fermat on p' and on p, then the full tests.
        return fermat_pow(2, p1 - 1, p1) == 1 and fermat_pow(2, p - 1, p) == 1 and test(p1) and test(p)

    # p' has bits-1 bits with its top two bits set; p = 2p'+1 then has exactly `bits` bits.
    return 2 * sieve_search(bits - 1, 2, 1, _safe, accept) + 1
