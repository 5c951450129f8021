"""Π_log*: a Paillier ciphertext encrypts the discrete log of a point, in range (CGGMP21 §C.2, Figure 25).

"Knowledge of Exponent vs Paillier Encryption". Statement, over the *verifier's* ring-Pedersen
parameters (N̂, s, t): C = (1+N0)^x · ρ^N0 mod N0², X = x·g, and x ∈ ±2^ℓ. The prover knows x and ρ.

1. Prover samples α ← ±2^(ℓ+ε), μ ← ±2^ℓ·N̂, r ← Z*_N0, γ ← ±2^(ℓ+ε)·N̂ and sends
   S = s^x t^μ mod N̂, A = (1+N0)^α r^N0 mod N0², Y = α·g, D = s^α t^γ mod N̂.
2. Challenge e ← ±q (Fiat-Shamir over the context, N0, C, X, g, N̂, s, t, S, A, Y, D).
3. Prover sends z1 = α + e·x, z2 = r·ρ^e mod N0, z3 = γ + e·μ (z1, z3 over the integers).
Verifier: z1 ∈ ±2^(ℓ+ε); (1+N0)^z1 · z2^N0 ≡ A·C^e (mod N0²); z1·g = Y + e·X; s^z1 t^z3 ≡ D·S^e (mod N̂);
and (ours, from the paper's "Z*" domains) S, D units mod N̂, A a unit mod N0², z2 a unit mod N0.

The range check on z1 is the point: because z1 is checked over the integers and the commitments are
binding under the verifier's parameters, the plaintext of C is (up to the slack) the same small x as the
discrete log of X — not x + k·N0 for some k. That is what the server needs before it multiplies c_key
homomorphically during signing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Self

from sigil.mpc import arith
from sigil.mpc.encoding import int_to_hex, point_to_hex, read_int, read_point, require_obj
from sigil.mpc.errors import InvalidMessage, InvalidProof
from sigil.mpc.proofs._common import (
    ELL,
    EPSILON,
    MOD_BITS,
    MOD_SQUARED_BITS,
    RESPONSE_BITS,
    check_modulus,
    check_pm,
    check_unit,
    sample_pm,
    sample_unit,
)
from sigil.mpc.transcript import Transcript

if TYPE_CHECKING:
    from sigil.mpc.ringpedersen import RingPedersenParams

__all__ = ["PROOF_NAME", "LogStarProof", "prove_log_star", "verify_log_star"]

PROOF_NAME: Final = "pi_log"
_LABEL: Final = "sigil/mpc/pi_log_star/v1"


@dataclass(frozen=True)
class LogStarProof:
    """Commitments S, A, Y, D and responses z1, z2, z3 (z1, z3 signed)."""

    s: int
    a: int
    y: arith.Point
    d: int
    z1: int
    z2: int
    z3: int

    def to_json(self) -> dict[str, Any]:
        return {
            "S": int_to_hex(self.s),
            "A": int_to_hex(self.a),
            "Y": point_to_hex(self.y),
            "D": int_to_hex(self.d),
            "z1": int_to_hex(self.z1),
            "z2": int_to_hex(self.z2),
            "z3": int_to_hex(self.z3),
        }

    @classmethod
    def from_json(cls, data: Any) -> Self:
        obj = require_obj(data, "pi_log")
        return cls(
            s=read_int(obj, "S", max_bits=MOD_BITS),
            a=read_int(obj, "A", max_bits=MOD_SQUARED_BITS),
            y=read_point(obj, "Y"),
            d=read_int(obj, "D", max_bits=MOD_BITS),
            z1=read_int(obj, "z1", signed=True, max_bits=RESPONSE_BITS),
            z2=read_int(obj, "z2", max_bits=MOD_BITS),
            z3=read_int(obj, "z3", signed=True, max_bits=RESPONSE_BITS),
        )


def _challenge(
    n0: int,
    c: int,
    x_point: arith.Point,
    rp: RingPedersenParams,
    commitments: tuple[int, int, arith.Point, int],
    transcript: Transcript,
) -> int:
    t = transcript.fork()
    t.append("proof", _LABEL)
    t.append("N0", n0)
    t.append("C", c)
    t.append("X", x_point)
    t.append("g", arith.G)
    t.append("Nhat", rp.n)
    t.append("s", rp.s)
    t.append("t", rp.t)
    s_commit, a_commit, y_point, d_commit = commitments
    t.append("S", s_commit)
    t.append("A", a_commit)
    t.append("Y", y_point)
    t.append("D", d_commit)
    return t.challenge_signed("e", arith.Q)


def _encrypt(n0: int, n0_sq: int, m: int, r: int) -> int:
    """(1+N0)^m · r^N0 mod N0² = (1 + m·N0) · r^N0; m may be negative (taken mod N0)."""
    return (1 + (m % n0) * n0) * arith.powmod(r, n0, n0_sq) % n0_sq


def _scalar_point(k: int, base: arith.Point) -> arith.Point | None:
    """k·base with k reduced mod q; None for the identity (k ≡ 0)."""
    k %= arith.Q
    return None if k == 0 else arith.point_mul(base, k)


def _add(p1: arith.Point | None, p2: arith.Point | None) -> arith.Point | None:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    try:
        return p1 + p2
    except InvalidMessage:  # the sum is the identity
        return None


def _same(p1: arith.Point | None, p2: arith.Point | None) -> bool:
    return p1 is p2 if p1 is None or p2 is None else p1 == p2


def prove_log_star(
    x: int,
    rho: int,
    n0: int,
    c: int,
    x_point: arith.Point,
    rp: RingPedersenParams,
    transcript: Transcript,
) -> LogStarProof:
    """Prove C = Enc_N0(x; ρ) and X = x·G with x ∈ ±2^ℓ, over the verifier's (N̂, s, t)."""
    if not -(1 << ELL) <= x <= 1 << ELL:
        raise ValueError("Π_log*: x is out of range")
    n0_sq = n0 * n0
    while True:
        alpha = sample_pm(1 << (ELL + EPSILON))
        if alpha % arith.Q:  # Y = α·G must not be the identity (probability 2^-256)
            break
    mu = sample_pm((1 << ELL) * rp.n)
    r = sample_unit(n0)
    gamma = sample_pm((1 << (ELL + EPSILON)) * rp.n)
    s_commit = rp.commit(x, mu)
    a_commit = _encrypt(n0, n0_sq, alpha, r)
    y_point = arith.point_mul(arith.G, alpha % arith.Q)
    d_commit = rp.commit(alpha, gamma)
    e = _challenge(n0, c, x_point, rp, (s_commit, a_commit, y_point, d_commit), transcript)
    return LogStarProof(
        s=s_commit,
        a=a_commit,
        y=y_point,
        d=d_commit,
        z1=alpha + e * x,
        z2=r * arith.powmod(rho, e, n0) % n0,
        z3=gamma + e * mu,
    )


def verify_log_star(
    n0: int,
    c: int,
    x_point: arith.Point,
    rp: RingPedersenParams,
    proof: LogStarProof,
    transcript: Transcript,
) -> None:
    """Check Π_log* for (N0, C, X) over (N̂, s, t). Raises InvalidMessage (shape) or InvalidProof("pi_log")."""
    check_modulus(n0, "Paillier modulus", primality=False)  # primality: Π_mod and the pairing test it
    check_modulus(rp.n, "ring-Pedersen modulus", primality=False)
    n0_sq = n0 * n0
    check_unit(c, n0_sq, PROOF_NAME)
    check_unit(proof.a, n0_sq, PROOF_NAME)
    check_unit(proof.z2, n0, PROOF_NAME)
    check_unit(proof.s, rp.n, PROOF_NAME)
    check_unit(proof.d, rp.n, PROOF_NAME)
    check_pm(proof.z1, 1 << (ELL + EPSILON), PROOF_NAME)
    # z3 = γ + e·μ with |γ| ≤ 2^(ℓ+ε)·N̂ and |e·μ| ≤ q·2^ℓ·N̂ < 2^(ℓ+ε)·N̂: not a soundness check (the
    # paper has none on z3) but a cap on the exponent a hostile prover can make us compute with.
    check_pm(proof.z3, (1 << (ELL + EPSILON + 1)) * rp.n, PROOF_NAME)
    e = _challenge(n0, c, x_point, rp, (proof.s, proof.a, proof.y, proof.d), transcript)
    if _encrypt(n0, n0_sq, proof.z1, proof.z2) != proof.a * arith.powmod(c, e, n0_sq) % n0_sq:
        raise InvalidProof(PROOF_NAME)
    if not _same(_scalar_point(proof.z1, arith.G), _add(proof.y, _scalar_point(e, x_point))):
        raise InvalidProof(PROOF_NAME)
    if rp.commit(proof.z1, proof.z3) != proof.d * arith.powmod(proof.s, e, rp.n) % rp.n:
        raise InvalidProof(PROOF_NAME)
