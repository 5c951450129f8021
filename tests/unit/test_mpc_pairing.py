"""Pairing: client_pair / server_verify_pairing end to end, replays, and the malicious requests of issue 5."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sigil.mpc import arith, pairing
from sigil.mpc.errors import InvalidMessage, InvalidProof, MpcError
from sigil.mpc.paillier import PaillierSecretKey
from sigil.mpc.pairing import (
    ClientPairing,
    PairingContext,
    PairingRequest,
    ServerPairing,
    client_pair,
    server_verify_pairing,
)
from sigil.mpc.proofs._common import sample_unit
from sigil.mpc.proofs.pifac import prove_fac
from sigil.mpc.proofs.pilog import prove_log_star
from sigil.mpc.proofs.pimod import ModProof, prove_mod
from sigil.mpc.proofs.piprm import PrmProof
from sigil.mpc.ringpedersen import RingPedersenSecret, ServerParams, make_server_params

ROOT = Path(__file__).resolve().parents[2]


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
def sp(request: pytest.FixtureRequest) -> ServerParams:
    return _server_params(request.config)[0]


def _context(**changes: object) -> PairingContext:
    base = {
        "wallet_id": "wal_1",
        "pairing_id": "pair_1",
        "nonce": bytes(range(32)),
        "client_index": 1,
        "public_key": arith.base_mul(7),
    }
    return PairingContext(**{**base, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def honest(sp: ServerParams) -> tuple[int, ClientPairing, PairingRequest]:
    w1 = arith.random_scalar()
    client, request = client_pair(_context(), w1, sp)
    return w1, client, request


def _verify(
    request: PairingRequest, w1: int, sp: ServerParams, context: PairingContext | None = None
) -> ServerPairing:
    # Through JSON, as the server receives it.
    wire = PairingRequest.from_json(json.loads(json.dumps(request.to_json())))
    return server_verify_pairing(context or _context(), wire, arith.base_mul(w1), sp)


def _request(
    sp: ServerParams,
    w1: int,
    p: int,
    q: int,
    *,
    plaintext: int | None = None,
    mod_proof: ModProof | None = None,
    context: PairingContext | None = None,
) -> PairingRequest:
    """What a malicious client can send: its own primes, any plaintext, every proof it can compute."""
    n = p * q
    rho = sample_unit(n)
    c_key = (1 + (w1 if plaintext is None else plaintext) % n * n) * arith.powmod(rho, n, n * n) % (n * n)
    w1_point = arith.base_mul(w1)
    transcript = pairing._statement_transcript(context or _context(), n, c_key, w1_point)
    rp = sp.ring_pedersen
    return PairingRequest(
        paillier_n=n,
        c_key=c_key,
        pi_mod=mod_proof or prove_mod(p, q, transcript),
        pi_fac=prove_fac(p, q, rp, transcript),
        pi_log=prove_log_star(w1, rho, n, c_key, w1_point, rp, transcript),
    )


# --- the honest run -----------------------------------------------------------------------------------------


def test_honest_pairing(sp: ServerParams, honest: tuple[int, ClientPairing, PairingRequest]) -> None:
    w1, client, request = honest
    server = _verify(request, w1, sp)
    assert server.paillier_n == request.paillier_n == client.paillier.n
    assert server.c_key == request.c_key == client.c_key
    assert server.w1_point == arith.base_mul(w1)
    assert client.paillier.decrypt(client.c_key) == w1
    assert client.paillier.n.bit_length() == 2048
    assert client.paillier.p % 4 == 3 and client.paillier.q % 4 == 3


def test_states_round_trip(sp: ServerParams, honest: tuple[int, ClientPairing, PairingRequest]) -> None:
    w1, client, request = honest
    server = _verify(request, w1, sp)
    assert ClientPairing.from_json(json.loads(json.dumps(client.to_json()))) == client
    assert ServerPairing.from_json(json.loads(json.dumps(server.to_json()))) == server
    assert PairingContext.from_json(json.loads(json.dumps(_context().to_json()))) == _context()
    assert set(request.to_json()) == {"paillier_n", "c_key", "pi_mod", "pi_fac", "pi_log"}


def test_client_secrets_stay_out_of_repr(honest: tuple[int, ClientPairing, PairingRequest]) -> None:
    w1, client, _ = honest
    text = repr(client) + str(client)
    for secret in (w1, client.paillier.p, client.paillier.q):
        assert f"{secret:x}" not in text and str(secret) not in text


def test_backup_index_pairs_too(sp: ServerParams) -> None:
    w3 = arith.random_scalar()
    context = _context(client_index=3, pairing_id="pair_backup")
    _, request = client_pair(context, w3, sp)
    _verify(request, w3, sp, context)


# --- replay and binding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"pairing_id": "pair_2"},
        {"nonce": bytes(32)},
        {"wallet_id": "wal_2"},
        {"client_index": 3},
        {"public_key": arith.base_mul(8)},
    ],
)
def test_request_replayed_into_another_context_fails(
    sp: ServerParams, honest: tuple[int, ClientPairing, PairingRequest], changes: dict[str, object]
) -> None:
    w1, _, request = honest
    with pytest.raises(InvalidProof):
        _verify(request, w1, sp, _context(**changes))


def test_proofs_from_another_pairing_fail(
    sp: ServerParams, honest: tuple[int, ClientPairing, PairingRequest]
) -> None:
    w1, _, request = honest
    _, other = client_pair(_context(), w1, sp)  # same context and w1, another key
    for field in ("pi_mod", "pi_fac", "pi_log"):
        with pytest.raises(InvalidProof) as info:
            _verify(dataclasses.replace(request, **{field: getattr(other, field)}), w1, sp)
        assert info.value.proof == field


def test_other_server_params_fail(
    sp: ServerParams, honest: tuple[int, ClientPairing, PairingRequest]
) -> None:
    """Π_fac and Π_log* are over the server's own (N̂, s, t); the proofs do not carry to other parameters."""
    w1, _, request = honest
    rp = sp.ring_pedersen
    other = dataclasses.replace(sp, ring_pedersen=dataclasses.replace(rp, s=rp.s * rp.t % rp.n))
    with pytest.raises(InvalidProof):
        server_verify_pairing(_context(), request, arith.base_mul(w1), other)


# --- c_key and W1 -------------------------------------------------------------------------------------------


def test_wrong_w1_point_fails(sp: ServerParams, honest: tuple[int, ClientPairing, PairingRequest]) -> None:
    w1, _, request = honest
    with pytest.raises(InvalidProof) as info:
        _verify(request, w1 + 1, sp)
    assert info.value.proof == "pi_log"


def test_c_key_of_another_value_fails(sp: ServerParams) -> None:
    w1 = arith.random_scalar()
    p, q = arith.random_prime(1024, blum=True), arith.random_prime(1024, blum=True)
    for plaintext in (w1 + 1, 0, w1 + arith.Q, arith.Q - w1):
        with pytest.raises(InvalidProof) as info:
            _verify(_request(sp, w1, p, q, plaintext=plaintext), w1, sp)
        assert info.value.proof == "pi_log"
    _verify(_request(sp, w1, p, q), w1, sp)  # the same malicious-client helper, honest inputs: accepted


def test_c_key_out_of_range_or_not_a_unit(
    sp: ServerParams, honest: tuple[int, ClientPairing, PairingRequest]
) -> None:
    w1, client, request = honest
    n = request.paillier_n
    for c_key in (0, n * n, n * n + request.c_key, client.paillier.p, client.paillier.q * 99):
        with pytest.raises(InvalidMessage, match="c_key"):
            _verify(dataclasses.replace(request, c_key=c_key), w1, sp)


# --- the modulus --------------------------------------------------------------------------------------------


def test_modulus_below_2048_bits(sp: ServerParams) -> None:
    w1 = arith.random_scalar()
    _, request = client_pair(_context(), w1, sp, paillier_bits=1024)  # the client's own choice
    with pytest.raises(InvalidMessage, match="2048"):
        _verify(request, w1, sp)


def test_modulus_with_a_tiny_factor(
    sp: ServerParams, honest: tuple[int, ClientPairing, PairingRequest]
) -> None:
    """N = 3·p': refused by the shape check (no factor below 2^14) before any proof is read."""
    w1 = arith.random_scalar()
    big = arith.random_prime(2047, blum=True)
    with pytest.raises(InvalidMessage, match="small factor"):
        _verify(_request(sp, w1, 3, big, mod_proof=honest[2].pi_mod), w1, sp)


@pytest.mark.parametrize("small_bits", [64, 200])
def test_modulus_with_a_small_factor_fails_pi_fac(sp: ServerParams, small_bits: int) -> None:
    """BitForge: N = p_small·q_big with Blum primes passes Π_mod; Π_fac refuses it."""
    w1 = arith.random_scalar()
    small = arith.random_prime(small_bits, blum=True)
    big = arith.random_prime(2049 - small_bits, blum=True)
    request = _request(sp, w1, small, big)
    with pytest.raises(InvalidProof) as info:
        _verify(request, w1, sp)
    assert info.value.proof == "pi_fac"


def test_square_modulus(sp: ServerParams, honest: tuple[int, ClientPairing, PairingRequest]) -> None:
    w1, _, request = honest
    p = arith.random_prime(1024, blum=True)
    with pytest.raises(InvalidMessage, match="square"):
        _verify(dataclasses.replace(request, paillier_n=p * p), w1, sp)


def test_prime_modulus(sp: ServerParams, honest: tuple[int, ClientPairing, PairingRequest]) -> None:
    w1, _, request = honest
    with pytest.raises(InvalidMessage, match="prime"):
        _verify(dataclasses.replace(request, paillier_n=arith.random_prime(2048, blum=True)), w1, sp)


def test_non_blum_modulus_fails_pi_mod(
    sp: ServerParams, honest: tuple[int, ClientPairing, PairingRequest]
) -> None:
    """p ≡ q ≡ 1 (mod 4): Π_fac and Π_log* hold (they do not care), Π_mod cannot be answered."""
    w1, _, honest_request = honest

    def prime_1_mod_4(bits: int) -> int:
        while (p := arith.random_prime(bits)) % 4 != 1:
            pass
        return p

    p, q = prime_1_mod_4(1024), prime_1_mod_4(1024)
    request = _request(sp, w1, p, q, mod_proof=honest_request.pi_mod)  # no Π_mod exists for it
    with pytest.raises(InvalidProof) as info:
        _verify(request, w1, sp)
    assert info.value.proof == "pi_mod"


# --- the server's parameters, as the client sees them -------------------------------------------------------


def test_client_refuses_unproved_server_params(sp: ServerParams) -> None:
    rp = sp.ring_pedersen
    bad = [
        dataclasses.replace(sp, ring_pedersen=dataclasses.replace(rp, s=rp.n - rp.s)),  # s ∉ ⟨t⟩
        dataclasses.replace(sp, prm_proof=PrmProof(a=sp.prm_proof.a, z=sp.prm_proof.z[::-1])),
    ]
    for params in bad:
        with pytest.raises(InvalidProof) as info:
            client_pair(_context(), arith.random_scalar(), params)
        assert info.value.proof == "pi_prm"
    with pytest.raises(InvalidMessage):
        client_pair(
            _context(),
            arith.random_scalar(),
            dataclasses.replace(sp, ring_pedersen=dataclasses.replace(rp, t=1)),
        )


def test_client_refuses_bad_inputs(sp: ServerParams) -> None:
    for w1 in (0, arith.Q, -1):
        with pytest.raises(InvalidMessage):
            client_pair(_context(), w1, sp)
    with pytest.raises(InvalidMessage):
        _context(nonce=bytes(31))
    for index in (2, 0, True):
        with pytest.raises(InvalidMessage):
            _context(client_index=index)


def test_request_from_json_refuses_malformed(honest: tuple[int, ClientPairing, PairingRequest]) -> None:
    good = honest[2].to_json()
    bad: object
    for bad in (
        {k: v for k, v in good.items() if k != "pi_fac"},
        {**good, "paillier_n": "0x1"},
        {**good, "c_key": -1},
        {**good, "pi_mod": {**good["pi_mod"], "a": [1] * 80}},
        {**good, "pi_log": {**good["pi_log"], "Y": "02" + "ff" * 32}},
        [],
    ):
        with pytest.raises(InvalidMessage):
            PairingRequest.from_json(bad)


def test_errors_never_carry_secrets(sp: ServerParams) -> None:
    """Whatever fails, the message names the field or proof, not a number."""
    w1 = arith.random_scalar()
    p, q = arith.random_prime(1024, blum=True), arith.random_prime(1024, blum=True)
    request = _request(sp, w1, p, q, plaintext=w1 + 1)
    try:
        _verify(request, w1, sp)
    except MpcError as exc:
        text = str(exc)
        assert len(text) < 120 and f"{w1:x}" not in text and str(p) not in text
    else:
        pytest.fail("a c_key of w1 + 1 was accepted")


# --- the pure-Python backend (what Pyodide runs) agrees -----------------------------------------------------

_PY_SCRIPT = """
import json, sys
from sigil.mpc import arith
assert arith.BACKEND == "python", arith.BACKEND
from sigil.mpc.pairing import PairingContext, PairingRequest, client_pair, server_verify_pairing
from sigil.mpc.encoding import read_point, read_scalar
from sigil.mpc.ringpedersen import ServerParams

data = json.load(open(sys.argv[1]))
params = ServerParams.from_json(data["params"])
context = PairingContext.from_json(data["context"])
# 1. the native side's request verifies here
w1_point = read_point(data, "w1_point")
server_verify_pairing(context, PairingRequest.from_json(data["request"]), w1_point, params)
# 2. a request made here verifies here (and is handed back for the native side)
w1 = read_scalar(data, "w1")
client, request = client_pair(context, w1, params)
server_verify_pairing(context, request, arith.base_mul(w1), params)
print(json.dumps(request.to_json()))
"""


@pytest.mark.slow  # ~10 s idle, more under load; tests/pyodide runs the client side under Pyodide too
def test_pure_python_backend_agrees(
    sp: ServerParams, honest: tuple[int, ClientPairing, PairingRequest], tmp_path: Path
) -> None:
    w1, _, request = honest
    data = {
        "params": sp.to_json(),
        "context": _context().to_json(),
        "request": request.to_json(),
        "w1_point": arith.base_mul(w1).to_bytes().hex(),
        "w1": f"{w1:x}",
    }
    path = tmp_path / "pairing.json"
    path.write_text(json.dumps(data))
    env = {**os.environ, "SIGIL_MPC_BACKEND": "python", "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-c", _PY_SCRIPT, str(path)], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    python_request = PairingRequest.from_json(json.loads(result.stdout))
    _verify(python_request, w1, sp)  # made by pure Python, verified by gmpy2/libsecp256k1


def test_nonce_is_32_random_bytes_in_the_spec() -> None:
    assert pairing.NONCE_SIZE == 32
    _context(nonce=secrets.token_bytes(32))


def test_paillier_secret_has_blum_primes(honest: tuple[int, ClientPairing, PairingRequest]) -> None:
    key: PaillierSecretKey = honest[1].paillier
    assert key.p != key.q and key.p.bit_length() == key.q.bit_length() == 1024
