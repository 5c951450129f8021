"""Ring-Pedersen parameters: generation with safe primes, shape checks, JSON, the secret never printed."""

from __future__ import annotations

import json

import pytest

from sigil.mpc import arith
from sigil.mpc.errors import InvalidMessage, InvalidProof
from sigil.mpc.proofs.piprm import PrmProof, prove_prm
from sigil.mpc.ringpedersen import (
    RingPedersenParams,
    RingPedersenSecret,
    ServerParams,
    generate_ring_pedersen,
    make_server_params,
    verify_server_params,
)
from sigil.mpc.transcript import Transcript


@pytest.fixture(scope="module")
def made() -> tuple[ServerParams, RingPedersenSecret]:
    """Fresh parameters (this module tests generation itself; the proof modules reuse a cached set)."""
    return make_server_params(2048)


def test_generated_params_have_the_papers_shape(made: tuple[ServerParams, RingPedersenSecret]) -> None:
    params, secret = made
    rp = params.ring_pedersen
    p, q = secret.p, secret.q
    assert rp.n == p * q and p != q and rp.n.bit_length() == 2048
    for prime in (p, q):  # safe primes: p = 2p' + 1
        assert prime.bit_length() == 1024
        assert arith.is_probable_prime(prime) and arith.is_probable_prime((prime - 1) // 2)
        assert prime % 4 == 3
    # t = τ² is a quadratic residue mod both primes; s = t^λ
    assert arith.jacobi(rp.t, p) == 1 and arith.jacobi(rp.t, q) == 1
    assert arith.powmod(rp.t, secret.lam, rp.n) == rp.s
    assert 0 <= secret.lam < secret.phi == (p - 1) * (q - 1)
    rp.validate()


def test_served_params_verify_and_round_trip(made: tuple[ServerParams, RingPedersenSecret]) -> None:
    params, secret = made
    verify_server_params(params)
    encoded = json.loads(json.dumps(params.to_json()))
    assert set(encoded) == {"ring_pedersen", "prm_proof"}
    again = ServerParams.from_json(encoded)
    assert again == params
    verify_server_params(again)
    assert RingPedersenSecret.from_json(json.loads(json.dumps(secret.to_json()))) == secret


def test_secret_is_not_in_repr(made: tuple[ServerParams, RingPedersenSecret]) -> None:
    _, secret = made
    text = repr(secret) + str(secret)
    for value in (secret.p, secret.q, secret.lam):
        assert f"{value:x}" not in text and str(value) not in text


def test_generate_refuses_small_moduli() -> None:
    with pytest.raises(ValueError):
        generate_ring_pedersen(1024)


def test_commit_is_s_to_x_times_t_to_r(made: tuple[ServerParams, RingPedersenSecret]) -> None:
    rp = made[0].ring_pedersen
    assert rp.commit(5, 7) == pow(rp.s, 5, rp.n) * pow(rp.t, 7, rp.n) % rp.n
    assert rp.commit(-5, 7) * rp.commit(5, 0) % rp.n == rp.commit(0, 7)


def test_validate_refuses_bad_shapes(made: tuple[ServerParams, RingPedersenSecret]) -> None:
    rp = made[0].ring_pedersen
    p = made[1].p
    small = arith.random_prime(512, blum=True) * arith.random_prime(512, blum=True)
    prime = arith.random_prime(2048, blum=True)
    cases = [
        RingPedersenParams(n=small, s=2, t=3),  # 1024 bits
        RingPedersenParams(n=rp.n + 1, s=rp.s, t=rp.t),  # even
        RingPedersenParams(n=p * p, s=rp.s % (p * p), t=rp.t % (p * p)),  # square
        RingPedersenParams(n=prime, s=2, t=3),  # prime
        RingPedersenParams(n=rp.n, s=1, t=rp.t),
        RingPedersenParams(n=rp.n, s=rp.s, t=1),
        RingPedersenParams(n=rp.n, s=0, t=rp.t),
        RingPedersenParams(n=rp.n, s=rp.s, t=rp.n),
        RingPedersenParams(n=rp.n, s=rp.t, t=rp.t),  # s = t
        RingPedersenParams(n=rp.n, s=p, t=rp.t),  # not a unit: shares the factor p
        RingPedersenParams(n=rp.n, s=rp.s, t=rp.n + rp.t),
    ]
    for bad in cases:
        with pytest.raises(InvalidMessage):
            bad.validate()
        with pytest.raises(InvalidMessage):
            RingPedersenParams.from_json(bad.to_json())


def test_server_params_with_a_foreign_proof_fail(made: tuple[ServerParams, RingPedersenSecret]) -> None:
    """A valid Π_prm for the same parameters but another transcript (not the server-params label) fails."""
    params, secret = made
    foreign = prove_prm(params.ring_pedersen, secret, Transcript("sigil/mpc/some-other-protocol/v1"))
    with pytest.raises(InvalidProof) as info:
        verify_server_params(ServerParams(ring_pedersen=params.ring_pedersen, prm_proof=foreign))
    assert info.value.proof == "pi_prm"


def test_from_json_refuses_malformed(made: tuple[ServerParams, RingPedersenSecret]) -> None:
    good = made[0].to_json()
    rp = good["ring_pedersen"]
    for bad in (
        {**good, "ring_pedersen": {**rp, "n": "0x" + rp["n"]}},
        {**good, "ring_pedersen": {**rp, "s": rp["s"].upper()}},
        {**good, "ring_pedersen": {k: v for k, v in rp.items() if k != "t"}},
        {"ring_pedersen": rp},
        {**good, "prm_proof": {"A": [], "z": []}},
        None,
    ):
        with pytest.raises(InvalidMessage):
            ServerParams.from_json(bad)
    with pytest.raises(InvalidMessage):
        PrmProof.from_json({"A": ["1"] * 80, "z": ["1"] * 81})
    with pytest.raises(InvalidMessage):
        RingPedersenSecret.from_json({**made[1].to_json(), "version": 2})
