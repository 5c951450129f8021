"""CGGMP21 Π_log*: c_key encrypts the discrete log of W1, in range; every deviation is refused."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from sigil.mpc import arith
from sigil.mpc.errors import InvalidMessage, InvalidProof
from sigil.mpc.paillier import PaillierSecretKey, generate_paillier
from sigil.mpc.proofs import pilog
from sigil.mpc.proofs._common import ELL, EPSILON, sample_pm, sample_unit
from sigil.mpc.proofs.pilog import LogStarProof, prove_log_star, verify_log_star
from sigil.mpc.ringpedersen import RingPedersenParams, RingPedersenSecret, ServerParams, make_server_params
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


@dataclass(frozen=True)
class Statement:
    sk: PaillierSecretKey
    x: int
    rho: int
    c: int
    point: arith.Point

    @property
    def n(self) -> int:
        return self.sk.n


def _context(pairing_id: str = "pairing-1") -> Transcript:
    t = Transcript("test/pairing")
    t.append("pairing_id", pairing_id)
    return t


@pytest.fixture(scope="module")
def rp(request: pytest.FixtureRequest) -> RingPedersenParams:
    return _server_params(request.config)[0].ring_pedersen


@pytest.fixture(scope="module")
def st() -> Statement:
    sk = generate_paillier(2048)
    x = arith.random_scalar()
    rho = 1 + arith.random_below(sk.n - 1)
    return Statement(sk=sk, x=x, rho=rho, c=sk.public.encrypt(x, rho), point=arith.base_mul(x))


@pytest.fixture(scope="module")
def proof(st: Statement, rp: RingPedersenParams) -> LogStarProof:
    return prove_log_star(st.x, st.rho, st.n, st.c, st.point, rp, _context())


def test_honest_proof_verifies(st: Statement, rp: RingPedersenParams, proof: LogStarProof) -> None:
    verify_log_star(st.n, st.c, st.point, rp, proof, _context())
    assert st.sk.decrypt(st.c) == st.x


def test_small_and_large_scalars(st: Statement, rp: RingPedersenParams) -> None:
    for x in (1, 2, arith.Q - 1):
        rho = 1 + arith.random_below(st.n - 1)
        c = st.sk.public.encrypt(x, rho)
        point = arith.base_mul(x)
        verify_log_star(
            st.n, c, point, rp, prove_log_star(x, rho, st.n, c, point, rp, _context()), _context()
        )


def test_json_round_trip(st: Statement, rp: RingPedersenParams, proof: LogStarProof) -> None:
    encoded = json.loads(json.dumps(proof.to_json()))
    assert set(encoded) == {"S", "A", "Y", "D", "z1", "z2", "z3"}
    again = LogStarProof.from_json(encoded)
    assert again == proof
    verify_log_star(st.n, st.c, st.point, rp, again, _context())


@pytest.mark.parametrize("field", ["s", "a", "y", "d", "z1", "z2", "z3"])
def test_altered_field_fails(st: Statement, rp: RingPedersenParams, proof: LogStarProof, field: str) -> None:
    value = getattr(proof, field)
    changed = value + arith.G if field == "y" else value + 1
    with pytest.raises(InvalidProof) as info:
        verify_log_star(st.n, st.c, st.point, rp, dataclasses.replace(proof, **{field: changed}), _context())
    assert info.value.proof == "pi_log"


def test_other_context_fails(st: Statement, rp: RingPedersenParams, proof: LogStarProof) -> None:
    with pytest.raises(InvalidProof):
        verify_log_star(st.n, st.c, st.point, rp, proof, _context("pairing-2"))


def test_other_point_fails(st: Statement, rp: RingPedersenParams, proof: LogStarProof) -> None:
    """The server checks the proof against the W1 it computed itself; any other point is refused."""
    for other in (st.point + arith.G, -st.point, arith.base_mul(arith.random_scalar())):
        with pytest.raises(InvalidProof):
            verify_log_star(st.n, st.c, other, rp, proof, _context())


def test_ciphertext_of_another_value_fails(st: Statement, rp: RingPedersenParams) -> None:
    """c_key = Enc(w1 + 1) with W1 = w1·G: neither the honest algorithm nor a prover lying about x passes."""
    c_other = st.sk.public.encrypt(st.x + 1, st.rho)
    with pytest.raises(InvalidProof):  # prover claims x = w1 (matches W1, not the ciphertext)
        proof = prove_log_star(st.x, st.rho, st.n, c_other, st.point, rp, _context())
        verify_log_star(st.n, c_other, st.point, rp, proof, _context())
    with pytest.raises(InvalidProof):  # prover claims x = w1 + 1 (matches the ciphertext, not W1)
        proof = prove_log_star(st.x + 1, st.rho, st.n, c_other, st.point, rp, _context())
        verify_log_star(st.n, c_other, st.point, rp, proof, _context())


def test_out_of_range_plaintext_fails(st: Statement, rp: RingPedersenParams) -> None:
    """x' = w1 + k·q has the same point as w1 but is far out of ±2^ℓ: the z1 range check catches it.

    This is what the range part buys: c_key must hold the small w1 itself, not w1 + k·q, or the
    server's homomorphic c3 = ... ⊕ c_key^(k2⁻¹·r) would wrap mod N and leak through decryption.
    """
    k = 1 << 600
    x_big = st.x + k * arith.Q
    c_big = st.sk.public.encrypt(x_big, st.rho)
    assert arith.base_mul(x_big % arith.Q) == st.point
    # The prover refuses to prove a false statement...
    with pytest.raises(ValueError):
        prove_log_star(x_big, st.rho, st.n, c_big, st.point, rp, _context())
    # ...and a prover that runs the algorithm anyway is caught by the verifier's range check.
    proof = _prove_unchecked(x_big, st.rho, st.n, c_big, st.point, rp)
    assert abs(proof.z1) > 1 << (ELL + EPSILON)
    with pytest.raises(InvalidProof):
        verify_log_star(st.n, c_big, st.point, rp, proof, _context())


def test_slack_admits_plaintexts_beyond_q(st: Statement, rp: RingPedersenParams) -> None:
    """Π_log* proves |x| ≲ 2^(ℓ+ε), not x < q: x̃ = w1 + 2^200·q (≈ 2^456, same point) passes.

    That is the paper's slack, and it is why c3's mask ρ·q must cover u·x̃ for |x̃| up to 2^(ℓ+ε)
    (docs/mpc-proofs.md, "What the signing side must do with the bound"). Failure probability of this
    test: |e·x̃| / 2^(ℓ+ε+1) ≈ 2^-57.
    """
    x_big = st.x + (1 << 200) * arith.Q
    c_big = st.sk.public.encrypt(x_big, st.rho)
    proof = _prove_unchecked(x_big, st.rho, st.n, c_big, st.point, rp)
    verify_log_star(st.n, c_big, st.point, rp, proof, _context())
    assert st.sk.decrypt(c_big) == x_big


def test_other_ring_pedersen_params_fail(st: Statement, rp: RingPedersenParams, proof: LogStarProof) -> None:
    other = RingPedersenParams(n=rp.n, s=rp.t, t=rp.s)
    with pytest.raises(InvalidProof):
        verify_log_star(st.n, st.c, st.point, other, proof, _context())


def test_bad_elements_are_refused(st: Statement, rp: RingPedersenParams, proof: LogStarProof) -> None:
    p = st.sk.p
    cases = [
        ("a", 0),
        ("a", st.n * st.n),
        ("a", p),  # shares a factor with N
        ("z2", 0),
        ("z2", st.n),
        ("z2", st.sk.q),
        ("s", 0),
        ("s", rp.n),
        ("d", rp.n + proof.d),
        ("z1", (1 << (ELL + EPSILON)) + 1),
        ("z1", -(1 << (ELL + EPSILON)) - 1),
        ("z3", 1 << 4000),
    ]
    for field, value in cases:
        with pytest.raises(InvalidProof):
            verify_log_star(
                st.n, st.c, st.point, rp, dataclasses.replace(proof, **{field: value}), _context()
            )
    for c in (0, st.n * st.n, p * 12345):
        with pytest.raises(InvalidProof):
            verify_log_star(st.n, c, st.point, rp, proof, _context())


def test_from_json_refuses_malformed(proof: LogStarProof) -> None:
    good = proof.to_json()
    bad_points = ["02" + "00" * 32, good["Y"].upper(), good["Y"][:-2], "04" + "11" * 64]
    for value in bad_points:
        with pytest.raises(InvalidMessage):
            LogStarProof.from_json({**good, "Y": value})
    for field, value in (("S", "-5"), ("z2", "-1"), ("z1", "+1"), ("A", None)):
        with pytest.raises(InvalidMessage):
            LogStarProof.from_json({**good, field: value})


def _prove_unchecked(
    x: int, rho: int, n0: int, c: int, point: arith.Point, rp: RingPedersenParams
) -> LogStarProof:
    """Fig. 25's prover step by step, with the paper's ranges but without the prover's own guard on x."""
    alpha = sample_pm(1 << (ELL + EPSILON))
    mu = sample_pm((1 << ELL) * rp.n)
    r = sample_unit(n0)
    gamma = sample_pm((1 << (ELL + EPSILON)) * rp.n)
    s_commit, d_commit = rp.commit(x, mu), rp.commit(alpha, gamma)
    a_commit = pilog._encrypt(n0, n0 * n0, alpha, r)
    y_point = arith.base_mul(alpha % arith.Q)
    e = pilog._challenge(n0, c, point, rp, (s_commit, a_commit, y_point, d_commit), _context())
    return LogStarProof(
        s=s_commit,
        a=a_commit,
        y=y_point,
        d=d_commit,
        z1=alpha + e * x,
        z2=r * arith.powmod(rho, e, n0) % n0,
        z3=gamma + e * mu,
    )


def test_small_modulus_is_refused_before_the_proof(
    st: Statement, rp: RingPedersenParams, proof: LogStarProof
) -> None:
    small = arith.random_prime(512, blum=True) * arith.random_prime(512, blum=True)
    with pytest.raises(InvalidMessage, match="2048"):
        verify_log_star(small, st.c % small, st.point, rp, proof, _context())
