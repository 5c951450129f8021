"""Π_fac: N0 has no small factors (CGGMP21 §C.5, Figure 28, "No Small Factor Proof").

Statement, over the *verifier's* ring-Pedersen parameters (N̂, s, t): N0 = p·q with p, q ≤ 2^ℓ·√N0
(up to the slack 2^ε), i.e. neither factor is smaller than √N0 / 2^(ℓ+ε). With |N0| = 2048, ℓ = 256,
ε = 512 that is no factor below 2^256. The prover knows p and q.

1. Prover samples α, β ← ±2^(ℓ+ε)·√N0; μ, ν ← ±2^ℓ·N̂; σ ← ±2^ℓ·N0·N̂; r ← ±2^(ℓ+ε)·N0·N̂;
   x, y ← ±2^(ℓ+ε)·N̂ and sends P = s^p t^μ, Q = s^q t^ν, A = s^α t^x, B = s^β t^y, T = Q^α t^r (mod N̂)
   and σ.
2. Challenge e ← ±q (Fiat-Shamir over the context, N0, N̂, s, t, P, Q, A, B, T, σ).
3. With σ̂ = σ − ν·p, the prover sends z1 = α + e·p, z2 = β + e·q, w1 = x + e·μ, w2 = y + e·ν,
   v = r + e·σ̂ (all over the integers).
Verifier, with R = s^N0 t^σ: s^z1 t^w1 ≡ A·P^e, s^z2 t^w2 ≡ B·Q^e, Q^z1 t^v ≡ T·R^e (mod N̂), and
z1, z2 ∈ ±2^(ℓ+ε)·√N0. The third equation ties the committed p and q to N0 = p·q (Q^p = s^(pq) t^(νp));
the range checks bound each factor from above, hence the other from below.

Why it matters: the BitForge attacks (Fireblocks, 2023) on GG18/GG20 implementations that skipped this
proof let a party choose N0 = p1·p2·...·p16·q with small p_i; the plaintext of a homomorphic result mod
each small p_i then leaks, and a few signatures give away the other party's share. With Π_fac the
server's c3 computations are safe to send to the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Self

from sigil.mpc import arith
from sigil.mpc.encoding import int_to_hex, read_int, require_obj
from sigil.mpc.errors import InvalidProof
from sigil.mpc.proofs._common import (
    ELL,
    EPSILON,
    MOD_BITS,
    RESPONSE_BITS,
    check_modulus,
    check_pm,
    check_unit,
    sample_pm,
)
from sigil.mpc.transcript import Transcript

if TYPE_CHECKING:
    from sigil.mpc.ringpedersen import RingPedersenParams

__all__ = ["PROOF_NAME", "FacProof", "prove_fac", "verify_fac"]

PROOF_NAME: Final = "pi_fac"
_LABEL: Final = "sigil/mpc/pi_fac/v1"

_COMMITMENTS: Final = ("P", "Q", "A", "B", "T")
_RESPONSES: Final = ("sigma", "z1", "z2", "w1", "w2", "v")


@dataclass(frozen=True)
class FacProof:
    """Commitments P, Q, A, B, T (mod N̂), σ, and responses z1, z2, w1, w2, v (signed integers)."""

    p: int
    q: int
    a: int
    b: int
    t: int
    sigma: int
    z1: int
    z2: int
    w1: int
    w2: int
    v: int

    def to_json(self) -> dict[str, Any]:
        values = (
            self.p,
            self.q,
            self.a,
            self.b,
            self.t,
            self.sigma,
            self.z1,
            self.z2,
            self.w1,
            self.w2,
            self.v,
        )
        return {name: int_to_hex(v) for name, v in zip((*_COMMITMENTS, *_RESPONSES), values, strict=True)}

    @classmethod
    def from_json(cls, data: Any) -> Self:
        obj = require_obj(data, "pi_fac")
        commitments = [read_int(obj, name, max_bits=MOD_BITS) for name in _COMMITMENTS]
        responses = [read_int(obj, name, signed=True, max_bits=RESPONSE_BITS) for name in _RESPONSES]
        return cls(*commitments, *responses)


def _challenge(
    n0: int, rp: RingPedersenParams, proof_commitments: tuple[int, ...], transcript: Transcript
) -> int:
    t = transcript.fork()
    t.append("proof", _LABEL)
    t.append("N0", n0)
    t.append("Nhat", rp.n)
    t.append("s", rp.s)
    t.append("t", rp.t)
    for name, value in zip((*_COMMITMENTS, "sigma"), proof_commitments, strict=True):
        t.append(name, value)  # the transcript encodes the sign of σ
    return t.challenge_signed("e", arith.Q)


def prove_fac(p: int, q: int, rp: RingPedersenParams, transcript: Transcript) -> FacProof:
    """Prove N0 = p·q has no factor below about √N0 / 2^(ℓ+ε), over the verifier's (N̂, s, t)."""
    n0 = p * q
    nhat = rp.n
    root = arith.isqrt(n0)
    alpha = sample_pm((1 << (ELL + EPSILON)) * root)
    beta = sample_pm((1 << (ELL + EPSILON)) * root)
    mu = sample_pm((1 << ELL) * nhat)
    nu = sample_pm((1 << ELL) * nhat)
    sigma = sample_pm((1 << ELL) * n0 * nhat)
    r = sample_pm((1 << (ELL + EPSILON)) * n0 * nhat)
    x = sample_pm((1 << (ELL + EPSILON)) * nhat)
    y = sample_pm((1 << (ELL + EPSILON)) * nhat)
    p_commit = rp.commit(p, mu)
    q_commit = rp.commit(q, nu)
    a_commit = rp.commit(alpha, x)
    b_commit = rp.commit(beta, y)
    t_commit = arith.powmod(q_commit, alpha, nhat) * arith.powmod(rp.t, r, nhat) % nhat
    e = _challenge(n0, rp, (p_commit, q_commit, a_commit, b_commit, t_commit, sigma), transcript)
    sigma_hat = sigma - nu * p
    return FacProof(
        p=p_commit,
        q=q_commit,
        a=a_commit,
        b=b_commit,
        t=t_commit,
        sigma=sigma,
        z1=alpha + e * p,
        z2=beta + e * q,
        w1=x + e * mu,
        w2=y + e * nu,
        v=r + e * sigma_hat,
    )


def verify_fac(n0: int, rp: RingPedersenParams, proof: FacProof, transcript: Transcript) -> None:
    """Check Π_fac for N0 over (N̂, s, t). Raises InvalidMessage (shapes) or InvalidProof("pi_fac")."""
    check_modulus(n0, "Paillier modulus", primality=False)  # primality: Π_mod and the pairing test it
    check_modulus(rp.n, "ring-Pedersen modulus", primality=False)
    nhat = rp.n
    for value in (proof.p, proof.q, proof.a, proof.b, proof.t):
        check_unit(value, nhat, PROOF_NAME)
    bound = (1 << (ELL + EPSILON)) * arith.isqrt(n0)
    check_pm(proof.z1, bound, PROOF_NAME)
    check_pm(proof.z2, bound, PROOF_NAME)
    # Caps on the other exponents at twice their honest maxima (no soundness role; they bound our work).
    check_pm(proof.sigma, (1 << (ELL + 1)) * n0 * nhat, PROOF_NAME)
    check_pm(proof.w1, (1 << (ELL + EPSILON + 1)) * nhat, PROOF_NAME)
    check_pm(proof.w2, (1 << (ELL + EPSILON + 1)) * nhat, PROOF_NAME)
    check_pm(proof.v, (1 << (ELL + EPSILON + 1)) * n0 * nhat, PROOF_NAME)
    e = _challenge(n0, rp, (proof.p, proof.q, proof.a, proof.b, proof.t, proof.sigma), transcript)
    if rp.commit(proof.z1, proof.w1) != proof.a * arith.powmod(proof.p, e, nhat) % nhat:
        raise InvalidProof(PROOF_NAME)
    if rp.commit(proof.z2, proof.w2) != proof.b * arith.powmod(proof.q, e, nhat) % nhat:
        raise InvalidProof(PROOF_NAME)
    r_value = rp.commit(n0, proof.sigma)
    lhs = arith.powmod(proof.q, proof.z1, nhat) * arith.powmod(rp.t, proof.v, nhat) % nhat
    if lhs != proof.t * arith.powmod(r_value, e, nhat) % nhat:
        raise InvalidProof(PROOF_NAME)
