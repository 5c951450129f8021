"""CGGMP21 Π_fac: honest proofs verify; altered fields, other contexts or parameters, small factors fail."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

import pytest

from sigil.mpc import arith
from sigil.mpc.errors import InvalidMessage, InvalidProof
from sigil.mpc.proofs.pifac import FacProof, prove_fac, verify_fac
from sigil.mpc.ringpedersen import RingPedersenParams, RingPedersenSecret, ServerParams, make_server_params
from sigil.mpc.transcript import Transcript

FIELDS = ("p", "q", "a", "b", "t", "sigma", "z1", "z2", "w1", "w2", "v")


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
def rp(request: pytest.FixtureRequest) -> RingPedersenParams:
    return _server_params(request.config)[0].ring_pedersen


@pytest.fixture(scope="module")
def primes() -> tuple[int, int]:
    return arith.random_prime(1024, blum=True), arith.random_prime(1024, blum=True)


@pytest.fixture(scope="module")
def proof(primes: tuple[int, int], rp: RingPedersenParams) -> FacProof:
    return prove_fac(*primes, rp, _context())


def _context(pairing_id: str = "pairing-1") -> Transcript:
    t = Transcript("test/pairing")
    t.append("pairing_id", pairing_id)
    return t


def test_honest_proof_verifies(primes: tuple[int, int], rp: RingPedersenParams, proof: FacProof) -> None:
    verify_fac(primes[0] * primes[1], rp, proof, _context())


def test_json_round_trip(primes: tuple[int, int], rp: RingPedersenParams, proof: FacProof) -> None:
    encoded = json.loads(json.dumps(proof.to_json()))
    assert set(encoded) == {"P", "Q", "A", "B", "T", "sigma", "z1", "z2", "w1", "w2", "v"}
    again = FacProof.from_json(encoded)
    assert again == proof
    verify_fac(primes[0] * primes[1], rp, again, _context())


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("how", ["plus_one", "times_t"])
def test_altered_field_fails(
    primes: tuple[int, int], rp: RingPedersenParams, proof: FacProof, field: str, how: str
) -> None:
    value = getattr(proof, field)
    changed = (
        value + 1
        if how == "plus_one"
        else value * rp.t % rp.n
        if field in ("p", "q", "a", "b", "t")
        else value * 2
    )
    with pytest.raises(InvalidProof) as info:
        verify_fac(primes[0] * primes[1], rp, dataclasses.replace(proof, **{field: changed}), _context())
    assert info.value.proof == "pi_fac"


def test_other_context_fails(primes: tuple[int, int], rp: RingPedersenParams, proof: FacProof) -> None:
    with pytest.raises(InvalidProof):
        verify_fac(primes[0] * primes[1], rp, proof, _context("pairing-2"))


def test_other_modulus_fails(rp: RingPedersenParams, proof: FacProof) -> None:
    other = arith.random_prime(1024, blum=True) * arith.random_prime(1024, blum=True)
    with pytest.raises(InvalidProof):
        verify_fac(other, rp, proof, _context())


def test_other_ring_pedersen_params_fail(
    primes: tuple[int, int], rp: RingPedersenParams, proof: FacProof
) -> None:
    """The proof is bound to the verifier's (N̂, s, t): swapping s and t, or moving s, breaks it."""
    n = primes[0] * primes[1]
    for other in (
        RingPedersenParams(n=rp.n, s=rp.t, t=rp.s),
        RingPedersenParams(n=rp.n, s=rp.s * rp.t % rp.n, t=rp.t),
    ):
        with pytest.raises(InvalidProof):
            verify_fac(n, other, proof, _context())


def test_non_units_are_refused(primes: tuple[int, int], rp: RingPedersenParams, proof: FacProof) -> None:
    n = primes[0] * primes[1]
    for field in ("p", "q", "a", "b", "t"):
        for bad in (0, rp.n, rp.n + getattr(proof, field)):
            with pytest.raises(InvalidProof):
                verify_fac(n, rp, dataclasses.replace(proof, **{field: bad}), _context())


@pytest.mark.parametrize("small_bits", [200, 128, 2])
def test_small_factor_fails(rp: RingPedersenParams, small_bits: int) -> None:
    """BitForge-style N = p_small · q_big (Blum primes, N still 2048 bits): the prover's z leaves the range.

    small_bits = 2 is N = 3·p'. Whichever order the prover passes the factors in, one of z1, z2 carries
    e·(big factor) ≈ 2^256·N/p_small, far outside ±2^(ℓ+ε)·√N0.
    """
    small = 3 if small_bits == 2 else arith.random_prime(small_bits, blum=True)
    big = arith.random_prime(2048 - small.bit_length() + 1, blum=True)
    n = small * big
    assert n.bit_length() >= 2048
    for p, q in ((small, big), (big, small)):
        proof = prove_fac(p, q, rp, _context())
        with pytest.raises(InvalidProof):
            verify_fac(n, rp, proof, _context())


def test_factor_just_large_enough_passes(rp: RingPedersenParams) -> None:
    """The bound is ~2^(ℓ+ε)·√N0: with ℓ+ε = 768 a 640-bit factor of a 2048-bit N is still accepted.

    Π_fac rules out factors below about 2^256 (|N0|/2 - ℓ - ε), which is what the BitForge attack needs
    (factors of 16 to 64 bits); it does not prove the factors balanced.
    """
    p = arith.random_prime(640, blum=True)
    q = arith.random_prime(2048 - 640 + 1, blum=True)
    verify_fac(p * q, rp, prove_fac(p, q, rp, _context()), _context())


def test_oversized_responses_are_refused(
    primes: tuple[int, int], rp: RingPedersenParams, proof: FacProof
) -> None:
    n = primes[0] * primes[1]
    huge = 1 << 6000
    for field in ("sigma", "w1", "w2", "v", "z1", "z2"):
        with pytest.raises(InvalidProof):
            verify_fac(n, rp, dataclasses.replace(proof, **{field: huge}), _context())
        with pytest.raises(InvalidProof):
            verify_fac(n, rp, dataclasses.replace(proof, **{field: -huge}), _context())


def test_from_json_refuses_malformed(proof: FacProof) -> None:
    good = proof.to_json()
    for field, value in (("P", "-1"), ("z1", "0x1"), ("v", "01"), ("sigma", 5), ("T", "G")):
        with pytest.raises(InvalidMessage):
            FacProof.from_json({**good, field: value})
    with pytest.raises(InvalidMessage):
        FacProof.from_json({k: v for k, v in good.items() if k != "w2"})
    with pytest.raises(InvalidMessage):
        FacProof.from_json([good])
    assert FacProof.from_json({**good, "z1": "-" + good["z1"].lstrip("-")}).z1 == -abs(proof.z1)


def test_small_or_even_modulus_is_refused_before_the_proof(rp: RingPedersenParams, proof: FacProof) -> None:
    small = arith.random_prime(512, blum=True) * arith.random_prime(512, blum=True)
    for n0 in (small, 1 << 2048, -small):
        with pytest.raises(InvalidMessage):
            verify_fac(n0, rp, proof, _context())
