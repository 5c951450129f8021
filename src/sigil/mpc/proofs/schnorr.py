"""Fiat–Shamir Schnorr proof of knowledge of a discrete logarithm: X = x·G.

Schnorr (CRYPTO 1989) made non-interactive by Fiat–Shamir: A = a·G, e = H(transcript ‖ X ‖ A), z = a + e·x
mod q; the verifier checks z·G = A + e·X. Used for R1 / R2 in signing (Lindell 2017, Protocol 3.2 steps 1–3:
the F_zk^{R_DL} calls) and for the constant terms of the DKG polynomials (so neither side can pick its
commitment as a function of the other's — the rogue-key attack).

The caller has already appended the protocol label, session id, party id and context (message hash, wallet,
the peer's commitment) to ``transcript``: that is what makes a proof from another session or message fail.
The transcript is consumed (the proof's values are absorbed into it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigil.mpc import arith
from sigil.mpc.arith import Point, Q
from sigil.mpc.encoding import int_to_hex, parse_int, point_to_hex, read_point, require_obj
from sigil.mpc.errors import InvalidMessage, InvalidProof
from sigil.mpc.transcript import Transcript

__all__ = ["SchnorrProof", "prove_dlog", "verify_dlog"]


@dataclass(frozen=True)
class SchnorrProof:
    commitment: Point  # A = a·G
    response: int  # z = a + e·x mod q

    def to_bytes(self) -> bytes:
        """Canonical bytes (for commitments that cover a proof)."""
        return self.commitment.to_bytes() + self.response.to_bytes(32, "big")

    def to_json(self) -> dict[str, Any]:
        return {"A": point_to_hex(self.commitment), "z": int_to_hex(self.response)}

    @classmethod
    def from_json(cls, d: Any) -> SchnorrProof:
        obj = require_obj(d, "proof")
        z = parse_int(obj.get("z"), "z", max_bits=256)
        if z >= Q:
            raise InvalidMessage("z out of range")
        return cls(read_point(obj, "A"), z)


def _challenge(public: Point, commitment: Point, transcript: Transcript) -> int:
    transcript.append("schnorr/protocol", "sigil/mpc/schnorr/v1")
    transcript.append("schnorr/G", arith.G)
    transcript.append("schnorr/X", public)
    transcript.append("schnorr/A", commitment)
    return transcript.challenge_scalar("schnorr/e")


def prove_dlog(secret: int, public: Point, transcript: Transcript) -> SchnorrProof:
    """Prove knowledge of ``secret`` with public = secret·G."""
    arith.check_scalar(secret, "secret")
    while True:
        a = arith.random_scalar()
        commitment = arith.base_mul(a)
        e = _challenge(public, commitment, transcript.fork())
        z = (a + e * secret) % Q
        if z:  # z = 0 has probability 1/q; a verifier refuses it, so draw again
            _challenge(public, commitment, transcript)
            return SchnorrProof(commitment, z)


def verify_dlog(public: Point, proof: SchnorrProof, transcript: Transcript) -> None:
    """InvalidProof("schnorr") unless z·G = A + e·X."""
    e = _challenge(public, proof.commitment, transcript)
    try:
        lhs = arith.base_mul(proof.response)
        rhs = proof.commitment + arith.point_mul(public, e) if e else proof.commitment
    except InvalidMessage:  # z = 0, or A + e·X at infinity: not a valid proof
        raise InvalidProof("schnorr") from None
    if lhs != rhs:
        raise InvalidProof("schnorr")
