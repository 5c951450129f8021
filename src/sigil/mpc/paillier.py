"""Paillier encryption (Paillier, EUROCRYPT 1999) with g = n + 1, as Lindell 2017 uses it for c_key and c3.

- Enc(m; r) = (1 + n)^m · r^n = (1 + m·n) · r^n mod n² — the binomial form saves one full exponentiation;
  the server may precompute r^n (``random_rn``) so that signing needs only a 256-bit exponentiation.
- Dec uses the CRT (Paillier 1999 §7): m_p = L_p(c^(p-1) mod p²)·h_p mod p with L_p(x) = (x - 1)/p and
  h_p = L_p((1+n)^(p-1) mod p²)^(-1) = (-q)^(-1) mod p; the same mod q; then Garner. Four times faster than
  c^λ mod n².
- The client's modulus is a Blum integer (p ≡ q ≡ 3 mod 4, equal sizes) so CGGMP21's Π_mod and Π_fac apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sigil.mpc import arith
from sigil.mpc._arith_python import SMALL_PRIMES
from sigil.mpc.encoding import int_to_hex, read_int, require_obj
from sigil.mpc.errors import InvalidMessage

__all__ = [
    "MAX_MODULUS_BITS",
    "MIN_MODULUS_BITS",
    "PaillierPublicKey",
    "PaillierSecretKey",
    "generate_paillier",
]

MIN_MODULUS_BITS = 2048
MAX_MODULUS_BITS = 8192  # what a reader accepts; bounds the work a hostile message can cause

_SMALL_PRODUCT = 1
for _p in SMALL_PRIMES:
    _SMALL_PRODUCT *= _p
_SMALL_PRODUCT *= 2


@dataclass(frozen=True)
class PaillierPublicKey:
    """The public modulus n (and n², cached)."""

    n: int
    n2: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "n2", self.n * self.n)

    def validate(self, min_bits: int = MIN_MODULUS_BITS) -> None:
        """Cheap structural checks of a received modulus (size, odd, no small factor, not a square);
        Π_mod and Π_fac prove the rest. InvalidMessage on failure."""
        n = self.n
        if n.bit_length() < min_bits:
            raise InvalidMessage(f"Paillier modulus must have at least {min_bits} bits")
        if n.bit_length() > MAX_MODULUS_BITS:
            raise InvalidMessage(f"Paillier modulus must have at most {MAX_MODULUS_BITS} bits")
        if arith.gcd(n, _SMALL_PRODUCT) != 1:
            raise InvalidMessage("Paillier modulus has a small factor")
        r = arith.isqrt(n)
        if r * r == n:
            raise InvalidMessage("Paillier modulus is a perfect square")

    def encrypt(self, m: int, r: int | None = None) -> int:
        """(1 + m·n)·r^n mod n², m taken mod n; r fresh from ``secrets`` unless given."""
        rn = self.random_rn() if r is None else arith.powmod(r, self.n, self.n2)
        return self.encrypt_with_rn(m, rn)

    def encrypt_with_rn(self, m: int, rn: int) -> int:
        """Encryption with a precomputed rn = r^n mod n² (a randomness pool entry; use each once)."""
        return (1 + m % self.n * self.n) * rn % self.n2

    def random_rn(self) -> int:
        """r^n mod n² for a fresh uniform r in Z_n^*."""
        while True:
            r = arith.random_below(self.n)
            if r > 1 and arith.gcd(r, self.n) == 1:
                return arith.powmod(r, self.n, self.n2)

    def add(self, c1: int, c2: int) -> int:
        """Enc(m1)·Enc(m2) = Enc(m1 + m2)."""
        return c1 * c2 % self.n2

    def mul(self, c: int, k: int) -> int:
        """Enc(m)^k = Enc(k·m); a negative k inverts c."""
        return arith.powmod(c, k, self.n2)

    def check_ciphertext(self, c: int) -> None:
        """0 < c < n² and gcd(c, n) = 1: a ciphertext sharing a factor with n would leak it."""
        if type(c) is not int or not 0 < c < self.n2 or arith.gcd(c, self.n) != 1:
            raise InvalidMessage("not a valid Paillier ciphertext for this key")

    def to_json(self) -> dict[str, Any]:
        return {"n": int_to_hex(self.n)}

    @classmethod
    def from_json(cls, d: Any, *, min_bits: int = MIN_MODULUS_BITS) -> PaillierPublicKey:
        key = cls(read_int(require_obj(d, "paillier public key"), "n", max_bits=MAX_MODULUS_BITS))
        key.validate(min_bits)
        return key


@dataclass(frozen=True)
class PaillierSecretKey:
    """The factorisation p, q (p ≡ q ≡ 3 mod 4, equal sizes) and the CRT constants decryption needs."""

    p: int = field(repr=False)
    q: int = field(repr=False)
    public: PaillierPublicKey = field(init=False, compare=False)
    _p2: int = field(init=False, repr=False, compare=False)
    _q2: int = field(init=False, repr=False, compare=False)
    _hp: int = field(init=False, repr=False, compare=False)
    _hq: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        p, q = self.p, self.q
        object.__setattr__(self, "public", PaillierPublicKey(p * q))
        object.__setattr__(self, "_p2", p * p)
        object.__setattr__(self, "_q2", q * q)
        object.__setattr__(self, "_hp", arith.invert(-q % p, p))
        object.__setattr__(self, "_hq", arith.invert(-p % q, q))

    @property
    def n(self) -> int:
        return self.public.n

    def decrypt(self, c: int) -> int:
        """The plaintext in [0, n), through the CRT."""
        p, q = self.p, self.q
        mp = (arith.powmod(c % self._p2, p - 1, self._p2) - 1) // p * self._hp % p
        mq = (arith.powmod(c % self._q2, q - 1, self._q2) - 1) // q * self._hq % q
        return arith.crt_pair(mp, p, mq, q)

    def to_json(self) -> dict[str, Any]:
        return {"p": int_to_hex(self.p), "q": int_to_hex(self.q)}

    @classmethod
    def from_json(cls, d: Any, *, min_bits: int = MIN_MODULUS_BITS) -> PaillierSecretKey:
        """Structural checks only (own storage): Blum primes of equal size, distinct, n large enough.
        Primality is not re-tested (seconds under Pyodide); the key was generated here."""
        obj = require_obj(d, "paillier secret key")
        p = read_int(obj, "p", max_bits=MAX_MODULUS_BITS // 2)
        q = read_int(obj, "q", max_bits=MAX_MODULUS_BITS // 2)
        if p == q or p % 4 != 3 or q % 4 != 3 or p.bit_length() != q.bit_length():
            raise InvalidMessage("Paillier secret key is malformed")
        if (p * q).bit_length() < min_bits:
            raise InvalidMessage(f"Paillier modulus must have at least {min_bits} bits")
        return cls(p, q)


def generate_paillier(bits: int = 2048) -> PaillierSecretKey:
    """Two distinct Blum primes of bits/2 bits each (top two bits set, so n has exactly ``bits`` bits)."""
    if bits % 2 or bits < 64:
        raise ValueError("bits must be even and at least 64")
    p = arith.random_prime(bits // 2, blum=True)
    while True:
        q = arith.random_prime(bits // 2, blum=True)
        if q != p:
            return PaillierSecretKey(p, q)
