"""Π_mod: N is a Paillier-Blum modulus (CGGMP21, Figure 16, "Paillier-Blum Modulus ZK"), m = 80.

Statement: N = p·q with p ≡ q ≡ 3 (mod 4) and gcd(N, φ(N)) = 1. The prover knows p, q.

1. Prover picks w ∈ Z_N with Jacobi symbol (w|N) = -1 and sends it.
2. Challenge: y_1..y_m ∈ Z_N (here by Fiat-Shamir over a transcript holding the caller's context, N, w).
3. For each i the prover sends z_i = y_i^(N^-1 mod φ(N)) mod N and x_i, a_i, b_i with
   x_i^4 ≡ (-1)^a_i · w^b_i · y_i (mod N).
Verifier: N odd and not prime (and our size checks), w and every x_i, z_i units, (w|N) = -1,
z_i^N ≡ y_i and x_i^4 ≡ (-1)^a_i w^b_i y_i for every i.

Why it works: an N-th root of a random y exists for every y only when gcd(N, φ(N)) = 1, so p² | N fails
z_i^N = y_i for most y (square-freeness). For a Blum integer exactly one of ±y, ±wy is a fourth power
(−1 is a non-residue mod both primes, w mod exactly one); for any other odd composite with two or more
prime factors at most half of the y have such a fourth root, so m = 80 rounds leave 2^-80.

Prover's work: fourth roots via CRT. For a prime p ≡ 3 (mod 4) and a quadratic residue a, a^((p+1)/4)
is the square root that is itself a residue, so a^(((p+1)/4)^2 mod (p-1)) is a fourth root of a.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Self

from sigil.mpc import arith
from sigil.mpc.encoding import int_to_hex, read_int, read_int_list, require_obj
from sigil.mpc.errors import InvalidProof
from sigil.mpc.proofs._common import MOD_BITS, M, check_modulus, check_unit, read_bools
from sigil.mpc.transcript import Transcript

__all__ = ["PROOF_NAME", "ModProof", "prove_mod", "verify_mod"]

PROOF_NAME: Final = "pi_mod"
_LABEL: Final = "sigil/mpc/pi_mod/v1"


@dataclass(frozen=True)
class ModProof:
    """w, then per challenge: x_i (fourth root), a_i, b_i (which of ±y, ±wy), z_i (N-th root)."""

    w: int
    x: tuple[int, ...]
    a: tuple[bool, ...]
    b: tuple[bool, ...]
    z: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "w": int_to_hex(self.w),
            "x": [int_to_hex(v) for v in self.x],
            "a": list(self.a),
            "b": list(self.b),
            "z": [int_to_hex(v) for v in self.z],
        }

    @classmethod
    def from_json(cls, data: Any) -> Self:
        obj = require_obj(data, "pi_mod")
        return cls(
            w=read_int(obj, "w", max_bits=MOD_BITS),
            x=tuple(read_int_list(obj, "x", length=M, max_bits=MOD_BITS)),
            a=read_bools(obj, "a", M),
            b=read_bools(obj, "b", M),
            z=tuple(read_int_list(obj, "z", length=M, max_bits=MOD_BITS)),
        )


def _challenges(n: int, w: int, transcript: Transcript) -> list[int]:
    t = transcript.fork()
    t.append("proof", _LABEL)
    t.append("n", n)
    t.append("w", w)
    return [t.challenge_mod(f"y{i}", n) for i in range(M)]


def _fourth_root_exponent(p: int) -> int:
    """e with a^e a fourth root of every fourth-power residue a mod a prime p ≡ 3 (mod 4)."""
    return pow((p + 1) // 4, 2, p - 1)


def _residue_choice(y_p: int, y_q: int, w_p: int, w_q: int) -> tuple[bool, bool]:
    """(a, b) with (-1)^a·w^b·y a residue mod p and mod q, from the Legendre symbols of y and w.

    -1 is a non-residue mod both Blum primes and w mod exactly one, so exactly one pair works; a
    residue mod a Blum prime is a fourth power, which is what the prover then takes the root of.
    """
    for a in (False, True):
        for b in (False, True):
            sign = -1 if a else 1
            if sign * (w_p if b else 1) * y_p == 1 and sign * (w_q if b else 1) * y_q == 1:
                return a, b
    raise ValueError("Π_mod: no residue among ±y, ±wy (not a Blum modulus)")


def prove_mod(p: int, q: int, transcript: Transcript) -> ModProof:
    """Prove N = p·q is a Paillier-Blum modulus. p, q must be distinct primes ≡ 3 (mod 4)."""
    if p % 4 != 3 or q % 4 != 3 or p == q:
        raise ValueError("Π_mod needs distinct primes p ≡ q ≡ 3 (mod 4)")
    n = p * q
    phi = (p - 1) * (q - 1)
    # w: uniform among the units with (w|N) = (w|p)(w|q) = -1, i.e. a residue mod exactly one prime.
    while True:
        w = arith.random_below(n)
        w_p, w_q = arith.jacobi(w, p), arith.jacobi(w, q)
        if w_p * w_q == -1:
            break
    n_inv = arith.invert(n, phi)  # gcd(N, φ(N)) = 1 for distinct primes of equal size (else InvalidMessage)
    e_p, e_q = _fourth_root_exponent(p), _fourth_root_exponent(q)
    n_inv_p, n_inv_q = n_inv % (p - 1), n_inv % (q - 1)
    xs: list[int] = []
    a_bits: list[bool] = []
    b_bits: list[bool] = []
    zs: list[int] = []
    for y in _challenges(n, w, transcript):
        if arith.gcd(y, n) != 1:  # probability ~2^-1023; the verifier would refuse it anyway
            raise ValueError("Π_mod challenge is not a unit")
        a, b = _residue_choice(arith.jacobi(y, p), arith.jacobi(y, q), w_p, w_q)
        y_prime = y
        if a:
            y_prime = n - y_prime
        if b:
            y_prime = y_prime * w % n
        x = arith.crt_pair(arith.powmod(y_prime % p, e_p, p), p, arith.powmod(y_prime % q, e_q, q), q)
        z = arith.crt_pair(arith.powmod(y % p, n_inv_p, p), p, arith.powmod(y % q, n_inv_q, q), q)
        xs.append(x)
        a_bits.append(a)
        b_bits.append(b)
        zs.append(z)
    return ModProof(w=w, x=tuple(xs), a=tuple(a_bits), b=tuple(b_bits), z=tuple(zs))


def verify_mod(n: int, proof: ModProof, transcript: Transcript) -> None:
    """Check Π_mod for N. Raises InvalidMessage (N's shape) or InvalidProof("pi_mod")."""
    check_modulus(n, "Paillier modulus")  # odd, not prime (Fig. 16's first check), ≥ 2048 bits, no square
    if not (len(proof.x) == len(proof.a) == len(proof.b) == len(proof.z) == M):
        raise InvalidProof(PROOF_NAME)
    check_unit(proof.w, n, PROOF_NAME)
    if arith.jacobi(proof.w, n) != -1:
        raise InvalidProof(PROOF_NAME)
    ys = _challenges(n, proof.w, transcript)
    for y, x, a, b, z in zip(ys, proof.x, proof.a, proof.b, proof.z, strict=True):
        check_unit(x, n, PROOF_NAME)
        check_unit(z, n, PROOF_NAME)
        expected = y
        if a:
            expected = n - expected
        if b:
            expected = expected * proof.w % n
        if arith.powmod(x, 4, n) != expected:  # the cheap check first
            raise InvalidProof(PROOF_NAME)
        if arith.powmod(z, n, n) != y:
            raise InvalidProof(PROOF_NAME)
