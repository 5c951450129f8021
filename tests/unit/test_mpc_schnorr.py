"""sigil.mpc.proofs.schnorr: completeness, soundness checks, and binding to the transcript context."""

from __future__ import annotations

import pytest

from sigil.mpc import arith
from sigil.mpc.arith import Q
from sigil.mpc.errors import InvalidMessage, InvalidProof
from sigil.mpc.proofs.schnorr import SchnorrProof, prove_dlog, verify_dlog
from sigil.mpc.transcript import Transcript


def _t(session: bytes = b"s1", message: bytes = b"m") -> Transcript:
    t = Transcript("sigil/mpc/test/v1")
    t.append("session_id", session)
    t.append("message_hash", message)
    return t


def test_prove_and_verify() -> None:
    x = arith.random_scalar()
    X = arith.base_mul(x)
    proof = prove_dlog(x, X, _t())
    verify_dlog(X, proof, _t())
    assert SchnorrProof.from_json(proof.to_json()) == proof
    assert len(proof.to_bytes()) == 65


def test_proof_is_bound_to_its_context() -> None:
    x = arith.random_scalar()
    X = arith.base_mul(x)
    proof = prove_dlog(x, X, _t())
    for t in (_t(session=b"s2"), _t(message=b"other"), Transcript("sigil/mpc/other/v1")):
        with pytest.raises(InvalidProof) as exc:
            verify_dlog(X, proof, t)
        assert exc.value.proof == "schnorr"
    with pytest.raises(InvalidProof):
        verify_dlog(arith.base_mul(x + 1), proof, _t())  # another statement


def test_forged_proofs_fail() -> None:
    x = arith.random_scalar()
    X = arith.base_mul(x)
    proof = prove_dlog(x, X, _t())
    forged = [
        SchnorrProof(proof.commitment, (proof.response + 1) % Q),
        SchnorrProof(arith.base_mul(7), proof.response),
        SchnorrProof(proof.commitment, 0),
    ]
    for f in forged:
        with pytest.raises(InvalidProof):
            verify_dlog(X, f, _t())


def test_from_json_validates() -> None:
    proof = prove_dlog(5, arith.base_mul(5), _t())
    d = proof.to_json()
    for bad in ({**d, "z": f"{Q:x}"}, {**d, "A": "02" + "00" * 32}, {"z": d["z"]}, {**d, "z": 5}, []):
        with pytest.raises(InvalidMessage):
            SchnorrProof.from_json(bad)


def test_secret_out_of_range() -> None:
    with pytest.raises(InvalidMessage):
        prove_dlog(0, arith.G, _t())
