"""CGGMP21 Π_prm on the server's ring-Pedersen parameters: honest proofs verify; s ∉ ⟨t⟩ or edits fail."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

import pytest

from sigil.mpc import arith
from sigil.mpc.errors import InvalidMessage, InvalidProof
from sigil.mpc.proofs import piprm
from sigil.mpc.proofs._common import M
from sigil.mpc.proofs.piprm import PrmProof, prove_prm, verify_prm
from sigil.mpc.ringpedersen import (
    PARAMS_LABEL,
    RingPedersenParams,
    RingPedersenSecret,
    ServerParams,
    make_server_params,
    verify_server_params,
)
from sigil.mpc.transcript import Transcript


def _server_params(config: pytest.Config) -> tuple[ServerParams, RingPedersenSecret]:
    """The server's parameters (two 1024-bit safe primes), made once, kept in pytest's cache (else /tmp)."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        directory = cache.mkdir("sigil-mpc-unit")
    else:  # -p no:cacheprovider
        directory = Path(tempfile.gettempdir()) / f"sigil-mpc-unit-{os.getuid()}"
        directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / "server-params-2048.json"
    if path.exists():
        data = json.loads(path.read_text())
        return ServerParams.from_json(data["params"]), RingPedersenSecret.from_json(data["secret"])
    params, secret = make_server_params(2048)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"params": params.to_json(), "secret": secret.to_json()}))
    tmp.replace(path)
    return params, secret


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> tuple[ServerParams, RingPedersenSecret]:
    return _server_params(request.config)


def _params_transcript() -> Transcript:
    return Transcript(PARAMS_LABEL)


def test_served_params_verify(server: tuple[ServerParams, RingPedersenSecret]) -> None:
    params, _ = server
    verify_prm(params.ring_pedersen, params.prm_proof, _params_transcript())
    verify_server_params(params)
    verify_server_params(ServerParams.from_json(json.loads(json.dumps(params.to_json()))))


def test_fresh_proof_verifies_and_round_trips(server: tuple[ServerParams, RingPedersenSecret]) -> None:
    params, secret = server
    rp = params.ring_pedersen
    proof = prove_prm(rp, secret, Transcript("test/prm"))
    assert len(proof.a) == len(proof.z) == M == 80
    again = PrmProof.from_json(json.loads(json.dumps(proof.to_json())))
    assert again == proof
    verify_prm(rp, again, Transcript("test/prm"))
    with pytest.raises(InvalidProof) as info:  # bound to its transcript
        verify_prm(rp, proof, Transcript("test/other"))
    assert info.value.proof == "pi_prm"


@pytest.mark.parametrize("index", [0, 41, 79])
@pytest.mark.parametrize("field", ["a", "z"])
def test_altered_entry_fails(server: tuple[ServerParams, RingPedersenSecret], index: int, field: str) -> None:
    params, _ = server
    rp, proof = params.ring_pedersen, params.prm_proof
    values = list(getattr(proof, field))
    values[index] = values[index] * rp.t % rp.n if field == "a" else values[index] + 1
    with pytest.raises(InvalidProof):
        verify_prm(rp, dataclasses.replace(proof, **{field: tuple(values)}), _params_transcript())


def test_swapped_entries_fail(server: tuple[ServerParams, RingPedersenSecret]) -> None:
    params, _ = server
    proof = params.prm_proof
    with pytest.raises(InvalidProof):
        verify_prm(
            params.ring_pedersen,
            dataclasses.replace(proof, z=proof.z[1:] + proof.z[:1]),
            _params_transcript(),
        )


def test_altered_params_fail(server: tuple[ServerParams, RingPedersenSecret]) -> None:
    params, _ = server
    rp, proof = params.ring_pedersen, params.prm_proof
    for other in (
        RingPedersenParams(n=rp.n, s=rp.s * rp.t % rp.n, t=rp.t),  # still in ⟨t⟩, but another statement
        RingPedersenParams(n=rp.n, s=rp.t, t=rp.s),
        RingPedersenParams(n=rp.n, s=rp.s, t=rp.t * rp.t % rp.n),
    ):
        with pytest.raises(InvalidProof):
            verify_server_params(ServerParams(ring_pedersen=other, prm_proof=proof))


def test_s_outside_the_group_of_t_fails(server: tuple[ServerParams, RingPedersenSecret]) -> None:
    """s' = -s is not a square (−1 is a non-residue mod a Blum prime), so it is not in ⟨t⟩ ⊂ QR_N̂.

    A server choosing such s could read the parity class of w1 from the client's commitments s^x·t^μ.
    Its best attempt, the honest prover with its λ, answers the e_i = 0 rounds only.
    """
    params, secret = server
    rp = params.ring_pedersen
    bad = RingPedersenParams(n=rp.n, s=rp.n - rp.s, t=rp.t)
    bad.validate()  # the shape checks cannot see it; only Π_prm can
    proof = prove_prm(bad, secret, _params_transcript())
    with pytest.raises(InvalidProof):
        verify_prm(bad, proof, _params_transcript())
    with pytest.raises(InvalidProof):
        verify_server_params(ServerParams(ring_pedersen=bad, prm_proof=proof))


def test_guessed_challenges_do_not_help(server: tuple[ServerParams, RingPedersenSecret]) -> None:
    """A prover without λ who sets A_i = t^z_i / s, hoping for e_i = 1 everywhere, is caught by the hash."""
    params, _ = server
    rp = params.ring_pedersen
    zs = tuple(arith.random_below(rp.n) for _ in range(M))
    # guess "all ones": A_i = t^z_i · s^-1
    a_values = tuple(arith.powmod(rp.t, z, rp.n) * arith.invert(rp.s, rp.n) % rp.n for z in zs)
    bits = piprm._challenge_bits(rp, a_values, _params_transcript())
    assert not all(bits)  # the hash picks the bits; probability 2^-80 otherwise
    with pytest.raises(InvalidProof):
        verify_prm(rp, PrmProof(a=a_values, z=zs), _params_transcript())


def test_out_of_range_and_non_units_fail(server: tuple[ServerParams, RingPedersenSecret]) -> None:
    params, secret = server
    rp, proof = params.ring_pedersen, params.prm_proof
    for a0 in (0, rp.n, secret.p, rp.n + proof.a[0]):
        with pytest.raises(InvalidProof):
            verify_prm(rp, dataclasses.replace(proof, a=(a0, *proof.a[1:])), _params_transcript())
    for z0 in (-1, rp.n, proof.z[0] + secret.phi):  # t^(z+φ) = t^z: only the range check refuses it
        with pytest.raises(InvalidProof):
            verify_prm(rp, dataclasses.replace(proof, z=(z0, *proof.z[1:])), _params_transcript())
    with pytest.raises(InvalidProof):
        verify_prm(rp, dataclasses.replace(proof, a=proof.a[:79], z=proof.z[:79]), _params_transcript())


def test_from_json_refuses_malformed(server: tuple[ServerParams, RingPedersenSecret]) -> None:
    good = server[0].prm_proof.to_json()
    for bad in ({**good, "A": good["A"][:79]}, {**good, "z": [*good["z"][:79], "-1"]}, {"A": good["A"]}, []):
        with pytest.raises(InvalidMessage):
            PrmProof.from_json(bad)


def test_fixed_base_powers_match_pow(server: tuple[ServerParams, RingPedersenSecret]) -> None:
    """The pure-Python backend's fixed-base table gives exactly pow(t, z, N̂)."""
    rp = server[0].ring_pedersen
    exponents = (0, 1, 2, 15, 16, 17, rp.n - 1, *(arith.random_below(rp.n) for _ in range(5)))
    assert piprm._fixed_base_powers(rp.t, exponents, rp.n) == [pow(rp.t, e, rp.n) for e in exponents]
    assert piprm._fixed_base_powers(rp.t, (), rp.n) == []
