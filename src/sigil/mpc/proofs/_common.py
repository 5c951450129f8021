"""What the CGGMP21 proofs share: the parameters, the membership and range checks, signed integers.

Parameters (CGGMP21 §2, "Notation", and the instantiation of the aux-info proofs) for secp256k1:

- ``ELL`` (ℓ) = 256: the size of the secret a range proof speaks about; every secret scalar is below
  q < 2^256. Π_fac uses the same ℓ as the slack on a factor's size.
- ``EPSILON`` (ε) = 2ℓ = 512: the slack. A mask is ε bits wider than what it hides, so a response
  ``α + e·x`` is statistically within 2^-ε of uniform (zero knowledge), and the verifier's range check
  ``|z| ≤ 2^(ℓ+ε)`` still proves the secret is below about 2^(ℓ+ε) (soundness).
- ``M`` = 80: repetitions of the binary-challenge proofs (Π_mod, Π_prm); a cheating prover passes with
  probability at most 2^-80 per proof.
- ``MIN_MODULUS_BITS`` = 2048: the smallest Paillier or ring-Pedersen modulus anyone accepts (112-bit
  security against factoring, NIST SP 800-57 Part 1 Table 2).

Every check here raises :class:`InvalidProof` naming the proof, never with a value in the message:
the values are public, but a message is read by people who should see a reason, not a 600-digit number.
"""

from __future__ import annotations

from typing import Any, Final

from sigil.mpc import arith
from sigil.mpc.errors import InvalidMessage, InvalidProof

__all__ = [
    "ELL",
    "EPSILON",
    "MIN_MODULUS_BITS",
    "MOD_BITS",
    "MOD_SQUARED_BITS",
    "RESPONSE_BITS",
    "M",
    "check_modulus",
    "check_pm",
    "check_unit",
    "read_bools",
    "sample_pm",
    "sample_unit",
]

ELL: Final = 256
EPSILON: Final = 2 * ELL
M: Final = 80
MIN_MODULUS_BITS: Final = 2048

# Wire caps, in bits, on what a proof field may carry: moduli and their units (N, N̂ ≤ 8192 bits as
# paillier.MAX_MODULUS_BITS), elements mod N² and the largest signed response (Π_fac's v is about
# ℓ+ε+|N0|+|N̂| = 4864 bits for 2048-bit moduli). They keep a hostile message from making a verifier
# exponentiate by a megabit exponent before any range check runs; the range checks proper come later.
MOD_BITS: Final = 8192
MOD_SQUARED_BITS: Final = 2 * MOD_BITS
RESPONSE_BITS: Final = 4 * MOD_BITS


def check_modulus(n: int, what: str, *, primality: bool = True) -> None:
    """An RSA-type modulus we are willing to work with: 2048 to 8192 bits, odd, not a square, not prime.

    These are shape checks on public input (InvalidMessage): a prime or a square passes some of the
    proofs' equations (a prime N ≡ 3 mod 4 has every fourth root Π_mod asks for), so they are refused
    before any proof is looked at. The size bound is what keeps factoring out of reach. ``primality``
    False skips the one costly test (a Miller-Rabin run, ~0.5 s in pure Python) where a caller already
    made it on the same N.
    """
    if type(n) is not int or n.bit_length() < MIN_MODULUS_BITS:
        raise InvalidMessage(f"{what} must have at least {MIN_MODULUS_BITS} bits")
    if n.bit_length() > MOD_BITS:
        raise InvalidMessage(f"{what} must have at most {MOD_BITS} bits")
    if n % 2 == 0:
        raise InvalidMessage(f"{what} must be odd")
    root = arith.isqrt(n)
    if root * root == n:
        raise InvalidMessage(f"{what} must not be a perfect square")
    if primality and arith.is_probable_prime(n):
        raise InvalidMessage(f"{what} must not be prime")


def check_unit(value: int, modulus: int, proof: str) -> None:
    """``value`` is in Z_modulus^*: 0 < value < modulus and gcd(value, modulus) = 1.

    A non-unit would either reveal a factor of the modulus or make an equation hold trivially (0 times
    anything is 0), so every group element a prover sends goes through here.
    """
    if not 0 < value < modulus or arith.gcd(value, modulus) != 1:
        raise InvalidProof(proof)


def check_pm(value: int, bound: int, proof: str) -> None:
    """``value`` is in ±bound, i.e. -bound ≤ value ≤ bound (the paper's interval notation)."""
    if not -bound <= value <= bound:
        raise InvalidProof(proof)


def sample_pm(bound: int) -> int:
    """Uniform in ±bound = [-bound, bound], from ``secrets`` via arith.random_below."""
    return arith.random_below(2 * bound + 1) - bound


def sample_unit(n: int) -> int:
    """Uniform in Z_n^* (rejection: for an RSA modulus a non-unit comes up with probability ~2^-1023)."""
    while True:
        r = arith.random_below(n)
        if r > 0 and arith.gcd(r, n) == 1:
            return r


def read_bools(obj: Any, field: str, length: int) -> tuple[bool, ...]:
    """A list of exactly ``length`` JSON booleans (not 0/1, not strings)."""
    values = obj.get(field) if isinstance(obj, dict) else None
    if not isinstance(values, list) or len(values) != length or not all(isinstance(v, bool) for v in values):
        raise InvalidMessage(f"{field} must be a list of {length} booleans")
    return tuple(values)
