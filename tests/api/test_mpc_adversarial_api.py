"""``/v1/mpc`` against a hostile client: each attack is a clear 4xx problem+json and changes nothing
stored (every MPC row and every successful audit entry compared before and after, read from the
database itself), and the honest message still works afterwards where the session is still open.

Issue 5, "Adversarial tests": forged or replayed Schnorr proof; wrong decommitment; reused or
expired session; another principal's wallet; N below 2048 bits; N with small factors; N = p² or not
a Blum integer; c_key that does not encrypt W1's discrete log; points off the curve or at infinity;
scalars out of range. (A malicious c3 is the client's check: tests/unit.)
"""

from __future__ import annotations

import copy
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sigil.mpc import arith, keygen, pairing, shares
from support.mpc_api import (
    Paired,
    Snapshot,
    Wallet,
    client_share,
    dkg_wallet,
    mpc_env,
    new_token,
    pair,
    problem,
    server_params,
    sign_round1,
    start_pairing,
)
from support.server import ServerProcess

Q = arith.Q
FIELD_P = arith.FIELD_P
_POINT = re.compile(r"^0[23][0-9a-f]{64}$")

# --- servers and parties ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    proc = ServerProcess(env=mpc_env(request.config)).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def short_ttl(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """Keygen and signing sessions that expire after one second, pairing nonces after three."""
    env = mpc_env(request.config, SIGIL_MPC_SESSION_TTL="1", SIGIL_MPC_PAIRING_TTL="3")
    proc = ServerProcess(env=env).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client(new_token(server, "owner")) as client:
        yield client


@pytest.fixture(scope="module")
def intruder(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client(new_token(server, "intruder")) as client:
        yield client


@pytest.fixture(scope="module")
def snap(server: ServerProcess) -> Iterator[Snapshot]:
    s = Snapshot(server)
    yield s
    s.close()


@pytest.fixture(scope="module")
def wallet(api: httpx.Client) -> Wallet:
    return dkg_wallet(api)


@pytest.fixture(scope="module")
def paired(api: httpx.Client, wallet: Wallet) -> Paired:
    return pair(api, wallet, 1)


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


# --- JSON surgery ------------------------------------------------------------------------------------


Path = tuple[Any, ...]


def leaves(obj: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaves(v, (*path, i))
    else:
        yield path, obj


def nodes(obj: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from nodes(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from nodes(v, (*path, i))


def with_value(obj: Any, path: Path, value: Any) -> Any:
    out = copy.deepcopy(obj)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


def point_paths(obj: Any) -> list[Path]:
    return [p for p, v in leaves(obj) if isinstance(v, str) and _POINT.match(v)]


def schnorr_paths(obj: Any) -> list[Path]:
    """Paths of the Schnorr proofs ({A, z}) inside a message."""
    return [p for p, v in nodes(obj) if isinstance(v, dict) and set(v) == {"A", "z"}]


def off_curve_x() -> int:
    """An x with no point on secp256k1 (x³ + 7 is not a square mod p)."""
    x = 5
    while pow((x**3 + 7) % FIELD_P, (FIELD_P - 1) // 2, FIELD_P) == 1:
        x += 1
    return x


OFF_CURVE = "02" + format(off_curve_x(), "064x")
INFINITY = "00"
NOT_ON_FIELD = "02" + format(FIELD_P + 1, "064x")  # x >= p


def bump_hex(value: str, by: int = 1) -> str:
    return format((int(value, 16) + by) % Q or 1, "x")


# --- signing round 2 -------------------------------------------------------------------------------


def post_nonce(api: httpx.Client, sid: str, nonce: Any) -> httpx.Response:
    return api.post(f"/v1/mpc/sessions/{sid}", json={"nonce": nonce})


def test_forged_schnorr_proof_on_r1(
    api: httpx.Client, paired: Paired, snap: Snapshot, server: ServerProcess
) -> None:
    sid, _state, nonce = sign_round1(api, paired, digest("forged"))
    honest = nonce.to_json()
    [proof] = schnorr_paths(honest)
    forged = with_value(honest, (*proof, "z"), bump_hex(honest_at(honest, proof)["z"]))
    with snap.unchanged():
        problem(post_nonce(api, sid, forged), 422, "mpc_invalid_proof")
    # The attempt is in the audit log (outcome = the code), for whoever watches for forgeries.
    with server.client(server.admin_token) as admin:
        entries = admin.get("/v1/audit", params={"limit": 1000}).json()["entries"]
    assert any(e["key_id"] == sid and e["outcome"] == "mpc_invalid_proof" for e in entries)
    # The rejected message changed nothing: the session is still open for the honest one.
    assert post_nonce(api, sid, honest).status_code == 200


def test_replayed_schnorr_proof_from_another_session(
    api: httpx.Client, paired: Paired, snap: Snapshot
) -> None:
    sid_a, _a, nonce_a = sign_round1(api, paired, digest("session a"))
    sid_b, _b, _nonce_b = sign_round1(api, paired, digest("session b"))
    with snap.unchanged():
        # R1 and its proof are bound to session a's transcript (session id and message hash).
        problem(post_nonce(api, sid_b, nonce_a.to_json()), 422, "mpc_invalid_proof")
    assert post_nonce(api, sid_a, nonce_a.to_json()).status_code == 200
    with snap.unchanged():
        problem(post_nonce(api, sid_a, nonce_a.to_json()), 409, "mpc_session_used")


def test_r1_off_the_curve_or_at_infinity(api: httpx.Client, paired: Paired, snap: Snapshot) -> None:
    sid, _state, nonce = sign_round1(api, paired, digest("points"))
    honest = nonce.to_json()
    for path in point_paths(honest):
        for bad in (OFF_CURVE, INFINITY, NOT_ON_FIELD, "04" + "00" * 64, "zz", 5, None):
            with snap.unchanged():
                problem(post_nonce(api, sid, with_value(honest, path, bad)), 422, "mpc_invalid_message")
    assert post_nonce(api, sid, honest).status_code == 200


def test_scalars_out_of_range(api: httpx.Client, paired: Paired, snap: Snapshot) -> None:
    sid, _state, nonce = sign_round1(api, paired, digest("scalars"))
    honest = nonce.to_json()
    [proof] = schnorr_paths(honest)
    for bad in (format(Q, "x"), format(Q + 5, "x"), "f" * 65, "-1", "", "0x10", 7):
        with snap.unchanged():
            r = post_nonce(api, sid, with_value(honest, (*proof, "z"), bad))
            assert r.status_code == 422, r.text
            assert r.json()["code"] in ("mpc_invalid_message", "mpc_invalid_proof"), r.text
    assert post_nonce(api, sid, honest).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"nonce": "not an object"},
        {"nonce": []},
        {"nonce": {}},
        {"nonce": {"unexpected": 1}},
        {},
        {"nonce": {}, "extra": 1},
    ],
)
def test_malformed_nonce(api: httpx.Client, paired: Paired, snap: Snapshot, body: dict[str, Any]) -> None:
    sid, _state, _nonce = sign_round1(api, paired, digest("malformed"))
    with snap.unchanged():
        r = api.post(f"/v1/mpc/sessions/{sid}", json=body)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] in ("validation_error", "mpc_invalid_message")


def test_not_json(api: httpx.Client, paired: Paired, snap: Snapshot) -> None:
    sid, _state, _nonce = sign_round1(api, paired, digest("not json"))
    with snap.unchanged():
        problem(api.post(f"/v1/mpc/sessions/{sid}", content=b"{nonce"), 400, "malformed_body")
        problem(api.post(f"/v1/mpc/pairings/{paired.pairing_id}/sign", content=b"[1]"), 400, "malformed_body")


@pytest.mark.parametrize(
    "body",
    [
        {"message_hash": "00" * 31},
        {"message_hash": "00" * 33},
        {"message_hash": "zz" * 32},
        {"message_hash": 5},
        {},
        {"message_hash": "00" * 32, "hash": "SHA-256"},
    ],
)
def test_bad_message_hash(api: httpx.Client, paired: Paired, snap: Snapshot, body: dict[str, Any]) -> None:
    with snap.unchanged():
        problem(api.post(f"/v1/mpc/pairings/{paired.pairing_id}/sign", json=body), 422, "validation_error")


def test_unknown_session_ids(api: httpx.Client, paired: Paired, snap: Snapshot) -> None:
    _sid, _state, nonce = sign_round1(api, paired, digest("unknown"))
    with snap.unchanged():
        for sid in ("00" * 16, "not-a-session", "A" * 32, "0" * 200):
            problem(post_nonce(api, sid, nonce.to_json()), 404, "not_found")


# --- distributed keygen ------------------------------------------------------------------------------


def start_dkg(api: httpx.Client) -> tuple[str, Any, dict[str, Any]]:
    r = api.post("/v1/mpc/keygen", json={})
    assert r.status_code == 201, r.text
    started = r.json()
    sid = bytes.fromhex(started["session_id"])
    state, message = keygen.client_dkg_round(sid, keygen.DkgCommitment.from_json(started["commitment"]))
    return started["keygen_id"], state, message.to_json()


def finish_dkg(api: httpx.Client, keygen_id: str, message: Any) -> httpx.Response:
    return api.post(f"/v1/mpc/keygen/{keygen_id}", json={"message": message})


def test_dkg_forged_proof_and_tampered_commitments(api: httpx.Client, snap: Snapshot) -> None:
    keygen_id, _state, honest = start_dkg(api)
    [proof] = schnorr_paths(honest)
    forged = with_value(honest, (*proof, "z"), bump_hex(honest_at(honest, proof)["z"]))
    with snap.unchanged():
        problem(finish_dkg(api, keygen_id, forged), 422, "mpc_invalid_proof")
        # A Feldman commitment swapped for another point: the share and the proof no longer match it.
        other = arith.base_mul(12345).to_bytes().hex()
        for path in point_paths(honest):
            if path[: len(proof)] == proof:
                continue
            r = finish_dkg(api, keygen_id, with_value(honest, path, other))
            assert r.status_code == 422, r.text
            assert r.json()["code"] in ("mpc_invalid_proof", "mpc_invalid_share"), r.text
    assert finish_dkg(api, keygen_id, honest).status_code == 201


def test_dkg_share_that_does_not_match(api: httpx.Client, snap: Snapshot) -> None:
    keygen_id, _state, honest = start_dkg(api)
    share_paths = [
        p for p, v in leaves(honest) if isinstance(v, str) and not _POINT.match(v) and "share" in str(p)
    ]
    assert share_paths, honest
    with snap.unchanged():
        for path in share_paths:
            problem(
                finish_dkg(api, keygen_id, with_value(honest, path, bump_hex(honest_at(honest, path)))),
                422,
                "mpc_invalid_share",
            )
            for bad in ("0", format(Q, "x")):
                r = finish_dkg(api, keygen_id, with_value(honest, path, bad))
                assert r.status_code == 422 and r.json()["code"] in (
                    "mpc_invalid_message",
                    "mpc_invalid_share",
                ), r.text
    assert finish_dkg(api, keygen_id, honest).status_code == 201


def test_dkg_points_off_curve(api: httpx.Client, snap: Snapshot) -> None:
    keygen_id, _state, honest = start_dkg(api)
    with snap.unchanged():
        for path in point_paths(honest):
            for bad in (OFF_CURVE, INFINITY):
                problem(finish_dkg(api, keygen_id, with_value(honest, path, bad)), 422, "mpc_invalid_message")
    assert finish_dkg(api, keygen_id, honest).status_code == 201


def test_dkg_session_is_single_use(api: httpx.Client, snap: Snapshot) -> None:
    keygen_id, _state, honest = start_dkg(api)
    assert finish_dkg(api, keygen_id, honest).status_code == 201
    with snap.unchanged():
        problem(finish_dkg(api, keygen_id, honest), 409, "mpc_session_used")


def test_dkg_message_for_another_session(api: httpx.Client, snap: Snapshot) -> None:
    _keygen_a, _sa, message_a = start_dkg(api)
    keygen_b, _sb, _message_b = start_dkg(api)
    with snap.unchanged():
        r = finish_dkg(api, keygen_b, message_a)  # the proof is bound to session a
        assert r.status_code == 422 and r.json()["code"] == "mpc_invalid_proof", r.text


# --- dealer mode ---------------------------------------------------------------------------------------


def test_dealt_share_that_does_not_match(api: httpx.Client, snap: Snapshot) -> None:
    from sigil.mpc import transport

    pem = api.get("/v1/mpc/params").json()["transport_key_pem"].encode()
    feldman, dealt = shares.deal()
    wrong = transport.seal_share(pem, (dealt[shares.SERVER] + 1) % Q, keygen.dealer_aad(feldman))
    right = transport.seal_share(pem, dealt[shares.SERVER], keygen.dealer_aad(feldman))
    other, _ = shares.deal()
    body = {"mode": "dealer", "feldman": feldman.to_json()}
    with snap.unchanged():
        problem(
            api.post("/v1/mpc/wallets", json={**body, "encrypted_share": wrong}), 422, "mpc_invalid_share"
        )
        # Sealed for other commitments: its associated data does not match.
        r = api.post(
            "/v1/mpc/wallets", json={"mode": "dealer", "feldman": other.to_json(), "encrypted_share": right}
        )
        assert r.status_code == 422 and r.json()["code"].startswith("mpc_invalid"), r.text
        tampered = dict(right)
        key = next(k for k, v in right.items() if isinstance(v, str) and len(v) > 40)
        tampered[key] = ("0" if right[key][0] != "0" else "1") + right[key][1:]
        r = api.post("/v1/mpc/wallets", json={**body, "encrypted_share": tampered})
        assert r.status_code == 422 and r.json()["code"].startswith("mpc_invalid"), r.text
        for path in point_paths(feldman.to_json()):
            bad = with_value(feldman.to_json(), path, OFF_CURVE)
            r = api.post("/v1/mpc/wallets", json={"mode": "dealer", "feldman": bad, "encrypted_share": right})
            problem(r, 422, "mpc_invalid_message")
        r = api.post("/v1/mpc/wallets", json={**body, "encrypted_share": {}})
        assert r.status_code == 422, r.text
        r = api.post("/v1/mpc/wallets", json={**body, "mode": "generate", "encrypted_share": right})
        problem(r, 422, "validation_error")
    assert api.post("/v1/mpc/wallets", json={**body, "encrypted_share": right}).status_code == 201


# --- sessions: reuse, expiry ---------------------------------------------------------------------------


def test_expired_sessions(short_ttl: ServerProcess) -> None:
    snap = Snapshot(short_ttl)
    try:
        with short_ttl.client(new_token(short_ttl)) as api:
            params = server_params(api)
            keygen_id, _state, message = start_dkg(api)
            time.sleep(1.2)
            with snap.unchanged():
                problem(finish_dkg(api, keygen_id, message), 409, "mpc_session_expired")
            wallet = dkg_wallet(api)  # quick enough for a one-second session
            context = start_pairing(api, wallet, 1)
            _cp, request = pairing.client_pair(context, client_share(wallet, 1), params)
            time.sleep(3.2)
            with snap.unchanged():
                r = api.post(f"/v1/mpc/pairings/{context.pairing_id}", json={"request": request.to_json()})
                problem(r, 409, "mpc_session_expired")
            shown = api.get(f"/v1/mpc/wallets/{wallet.wallet_id}").json()["pairings"]
            assert shown == [{"pairing_id": context.pairing_id, "client_index": 1, "state": "expired"}]
    finally:
        snap.close()


def test_expired_signing_session(short_ttl: ServerProcess) -> None:
    snap = Snapshot(short_ttl)
    try:
        with short_ttl.client(new_token(short_ttl)) as api:
            paired = pair(api, dkg_wallet(api), 1)
            sid, _state, nonce = sign_round1(api, paired, digest("late"))
            time.sleep(1.2)
            with snap.unchanged():
                problem(post_nonce(api, sid, nonce.to_json()), 409, "mpc_session_expired")
    finally:
        snap.close()


def test_pairing_is_single_use(api: httpx.Client, wallet: Wallet, snap: Snapshot) -> None:
    context = start_pairing(api, wallet, 3)
    _cp, request = pairing.client_pair(context, client_share(wallet, 3), server_params(api))
    path = f"/v1/mpc/pairings/{context.pairing_id}"
    assert api.post(path, json={"request": request.to_json()}).status_code == 200
    with snap.unchanged():
        problem(api.post(path, json={"request": request.to_json()}), 409, "mpc_session_used")


def test_pairing_not_finished_cannot_sign(api: httpx.Client, wallet: Wallet, snap: Snapshot) -> None:
    context = start_pairing(api, wallet, 1)
    with snap.unchanged():
        r = api.post(f"/v1/mpc/pairings/{context.pairing_id}/sign", json={"message_hash": "11" * 32})
        problem(r, 409, "mpc_pairing_not_active")


# --- ownership -------------------------------------------------------------------------------------------


def test_another_principals_wallet_pairing_and_session(
    api: httpx.Client, intruder: httpx.Client, paired: Paired, snap: Snapshot
) -> None:
    wallet_id = paired.wallet.wallet_id
    sid, _state, nonce = sign_round1(api, paired, digest("mine"))
    keygen_id, _kstate, message = start_dkg(api)
    pending = start_pairing(api, paired.wallet, 1)
    _cp, request = pairing.client_pair(pending, client_share(paired.wallet, 1), server_params(api))
    with snap.unchanged():
        problem(intruder.get(f"/v1/mpc/wallets/{wallet_id}"), 404, "not_found")
        assert wallet_id not in [w["wallet_id"] for w in intruder.get("/v1/mpc/wallets").json()["wallets"]]
        problem(
            intruder.post(f"/v1/mpc/wallets/{wallet_id}/pairings", json={"client_index": 1}), 404, "not_found"
        )
        problem(
            intruder.post(f"/v1/mpc/pairings/{paired.pairing_id}/sign", json={"message_hash": "22" * 32}),
            404,
            "not_found",
        )
        problem(intruder.post(f"/v1/mpc/pairings/{paired.pairing_id}/lock", json={}), 404, "not_found")
        problem(post_nonce(intruder, sid, nonce.to_json()), 404, "not_found")
        problem(finish_dkg(intruder, keygen_id, message), 404, "not_found")
        r = intruder.post(f"/v1/mpc/pairings/{pending.pairing_id}", json={"request": request.to_json()})
        problem(r, 404, "not_found")
        with intruder.__class__(base_url=str(intruder.base_url)) as anon:
            problem(anon.get(f"/v1/mpc/wallets/{wallet_id}"), 401, "unauthorized")
            problem(post_nonce(anon, sid, nonce.to_json()), 401, "unauthorized")
    # Still the owner's, and still usable by the owner.
    assert post_nonce(api, sid, nonce.to_json()).status_code == 200
    assert finish_dkg(api, keygen_id, message).status_code == 201
    assert finish_pairing(api, pending.pairing_id, request.to_json()).status_code == 200


@pytest.mark.parametrize("index", [0, 2, 4, -1, "1", 1.0, True, None])
def test_bad_client_index(api: httpx.Client, wallet: Wallet, snap: Snapshot, index: Any) -> None:
    with snap.unchanged():
        r = api.post(f"/v1/mpc/wallets/{wallet.wallet_id}/pairings", json={"client_index": index})
        problem(r, 422, "validation_error")


# --- pairing: the client's Paillier modulus and c_key --------------------------------------------------


def honest_at(obj: Any, path: Path) -> Any:
    for step in path:
        obj = obj[step]
    return obj


def finish_pairing(api: httpx.Client, pairing_id: str, request: Any) -> httpx.Response:
    return api.post(f"/v1/mpc/pairings/{pairing_id}", json={"request": request})


def expect_pairing_rejected(
    api: httpx.Client,
    wallet: Wallet,
    snap: Snapshot,
    make: Callable[[pairing.PairingContext], Any],
    codes: tuple[str, ...],
) -> None:
    context = start_pairing(api, wallet, 1)
    bad = make(context)
    with snap.unchanged():
        r = finish_pairing(api, context.pairing_id, bad)
        assert r.status_code == 422, r.text
        assert r.json()["code"] in codes, r.text
    assert api.get(f"/v1/mpc/wallets/{wallet.wallet_id}").json()["pairings"][-1]["state"] == "pending"


def crafted_request(
    context: pairing.PairingContext, w1: int, params: Any, p: int, q: int, *, c_key: int | None = None
) -> dict[str, Any]:
    """A pairing request for the modulus p·q, made the way an honest client makes one (the same
    provers, the same transcript), for moduli an honest client never makes. Where a prover refuses
    the modulus, the proof from an honest request over another N stands in: the server must refuse
    the request either way."""
    from sigil.mpc.paillier import PaillierPublicKey
    from sigil.mpc.pairing import _statement_transcript
    from sigil.mpc.proofs._common import sample_unit
    from sigil.mpc.proofs.pifac import prove_fac
    from sigil.mpc.proofs.pilog import prove_log_star
    from sigil.mpc.proofs.pimod import prove_mod

    _honest_pairing, honest = pairing.client_pair(context, w1, params)
    n = p * q
    rho = sample_unit(n)
    if c_key is None:
        c_key = PaillierPublicKey(n).encrypt(w1, rho)
    w1_point = arith.base_mul(w1)
    transcript = _statement_transcript(context, n, c_key, w1_point)
    rp = params.ring_pedersen

    def attempt(make: Callable[[], Any], fallback: Any) -> Any:
        try:
            return make()
        except (ValueError, ZeroDivisionError, ArithmeticError):
            return fallback

    request = pairing.PairingRequest(
        paillier_n=n,
        c_key=c_key,
        pi_mod=attempt(lambda: prove_mod(p, q, transcript), honest.pi_mod),
        pi_fac=attempt(lambda: prove_fac(p, q, rp, transcript), honest.pi_fac),
        pi_log=attempt(lambda: prove_log_star(w1, rho, n, c_key, w1_point, rp, transcript), honest.pi_log),
    )
    return request.to_json()


def blum_prime(bits: int) -> int:
    return arith.random_prime(bits, blum=True)


def test_pairing_modulus_below_2048_bits(api: httpx.Client, wallet: Wallet, snap: Snapshot) -> None:
    params = server_params(api)
    expect_pairing_rejected(
        api,
        wallet,
        snap,
        lambda ctx: pairing.client_pair(ctx, client_share(wallet, 1), params, paillier_bits=1024)[
            1
        ].to_json(),
        ("mpc_invalid_message",),
    )


def test_pairing_modulus_with_a_small_factor(api: httpx.Client, wallet: Wallet, snap: Snapshot) -> None:
    """A Blum modulus (Π_mod passes) of full size whose p has 128 bits: Π_fac refuses it."""
    params = server_params(api)
    p, q = blum_prime(128), blum_prime(1924)
    assert (p * q).bit_length() >= 2048
    context_holder: list[Any] = []

    def make(ctx: pairing.PairingContext) -> Any:
        context_holder.append(ctx)
        return crafted_request(ctx, client_share(wallet, 1), params, p, q)

    expect_pairing_rejected(api, wallet, snap, make, ("mpc_invalid_proof",))


def test_pairing_modulus_that_is_a_square(api: httpx.Client, wallet: Wallet, snap: Snapshot) -> None:
    params = server_params(api)
    p = blum_prime(1024)
    expect_pairing_rejected(
        api,
        wallet,
        snap,
        lambda ctx: crafted_request(ctx, client_share(wallet, 1), params, p, p),
        ("mpc_invalid_message", "mpc_invalid_proof"),
    )


def test_pairing_modulus_not_blum(api: httpx.Client, wallet: Wallet, snap: Snapshot) -> None:
    """p ≡ 1 (mod 4): not a Paillier-Blum modulus; Π_mod cannot be made for it."""
    params = server_params(api)
    p = arith.random_prime(1024)
    while p % 4 != 1:
        p = arith.random_prime(1024)
    q = blum_prime(1024)
    expect_pairing_rejected(
        api,
        wallet,
        snap,
        lambda ctx: crafted_request(ctx, client_share(wallet, 1), params, p, q),
        ("mpc_invalid_proof",),
    )


def test_pairing_modulus_prime_or_even(api: httpx.Client, wallet: Wallet, snap: Snapshot) -> None:
    params = server_params(api)
    prime = blum_prime(2048)
    for n_value in (prime, 2 * blum_prime(2047)):

        def make(ctx: pairing.PairingContext, n_value: int = n_value) -> Any:
            honest = pairing.client_pair(ctx, client_share(wallet, 1), params)[1].to_json()
            return {**honest, "paillier_n": format(n_value, "x")}

        expect_pairing_rejected(api, wallet, snap, make, ("mpc_invalid_message",))


def test_pairing_c_key_not_encrypting_w1(api: httpx.Client, wallet: Wallet, snap: Snapshot) -> None:
    """An honest-looking request for w1 + 1: c_key does not encrypt the discrete log of the W1 the
    server computes from the wallet's public shares, so Π_log* fails."""
    params = server_params(api)
    wrong = (client_share(wallet, 1) + 1) % Q
    expect_pairing_rejected(
        api,
        wallet,
        snap,
        lambda ctx: pairing.client_pair(ctx, wrong, params)[1].to_json(),
        ("mpc_invalid_proof",),
    )


def test_pairing_c_key_not_a_unit(api: httpx.Client, wallet: Wallet, snap: Snapshot) -> None:
    """gcd(c_key, N) ≠ 1 (a multiple of p), and c_key outside (0, N²)."""
    params = server_params(api)
    p, q = blum_prime(1024), blum_prime(1024)
    n = p * q
    for c_key in (p * 12345, 0, n * n, n * n + 1):
        expect_pairing_rejected(
            api,
            wallet,
            snap,
            lambda ctx, c_key=c_key: crafted_request(ctx, client_share(wallet, 1), params, p, q, c_key=c_key),
            ("mpc_invalid_message",),
        )


def test_pairing_request_for_another_pairing(api: httpx.Client, wallet: Wallet, snap: Snapshot) -> None:
    """A valid request made for one pairing (its nonce is in every proof's transcript) is refused
    by another."""
    params = server_params(api)
    first = start_pairing(api, wallet, 1)
    _cp, request = pairing.client_pair(first, client_share(wallet, 1), params)
    second = start_pairing(api, wallet, 1)
    with snap.unchanged():
        problem(finish_pairing(api, second.pairing_id, request.to_json()), 422, "mpc_invalid_proof")
    assert finish_pairing(api, first.pairing_id, request.to_json()).status_code == 200


def test_pairing_tampered_fields(api: httpx.Client, wallet: Wallet, snap: Snapshot) -> None:
    params = server_params(api)
    context = start_pairing(api, wallet, 1)
    _cp, request = pairing.client_pair(context, client_share(wallet, 1), params)
    honest = request.to_json()
    with snap.unchanged():
        for name in ("pi_mod", "pi_fac", "pi_log"):
            r = finish_pairing(api, context.pairing_id, {**honest, name: {}})
            problem(r, 422, "mpc_invalid_message")
        for bad in ("", "xyz", 5, None, "0x" + honest["c_key"], honest["c_key"].upper()):
            r = finish_pairing(api, context.pairing_id, {**honest, "c_key": bad})
            assert r.status_code == 422 and r.json()["code"] == "mpc_invalid_message", r.text
        # One number inside each proof changed: that proof fails.
        for name in ("pi_mod", "pi_fac", "pi_log"):
            path, value = next((p, v) for p, v in leaves(honest[name]) if isinstance(v, str) and len(v) > 8)
            tampered = {**honest, name: with_value(honest[name], path, format(int(value, 16) ^ 1, "x"))}
            r = finish_pairing(api, context.pairing_id, tampered)
            assert r.status_code == 422, r.text
            assert r.json()["code"] in ("mpc_invalid_proof", "mpc_invalid_message"), r.text
        problem(finish_pairing(api, context.pairing_id, "nope"), 422, "validation_error")
        problem(api.post(f"/v1/mpc/pairings/{context.pairing_id}", json={}), 422, "validation_error")
    assert finish_pairing(api, context.pairing_id, honest).status_code == 200


def test_damaged_server_share_is_the_servers_fault(
    api: httpx.Client, server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server share that does not match the wallet (a damaged row, validly sealed) is refused
    before anything is signed, as the server's fault (500 tampered_data), not the client's: a wrong
    c3 would make the client lock its pairing for nothing."""
    import sqlalchemy as sa

    from sigil.store.masterkey import load_master_key
    from sigil.store.sealing import Sealer
    from sigil.wallets.records import share_aad
    from support.mpc_api import db_url

    wallet = dkg_wallet(api)
    paired = pair(api, wallet, 1)
    x2 = (wallet.x1 + wallet.x3) * pow(2, -1, Q) % Q
    monkeypatch.delenv("SIGIL_MASTER_KEY", raising=False)
    sealer = Sealer(load_master_key(server.data_dir, create=False))
    damaged = sealer.seal(((x2 + 1) % Q).to_bytes(32, "big"), aad=share_aad(wallet.wallet_id))
    engine = sa.create_engine(db_url(server))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE mpc_wallets SET sealed_share = :s WHERE id = :i"),
                {"s": damaged, "i": wallet.wallet_id},
            )
    finally:
        engine.dispose()
    r = api.post(f"/v1/mpc/pairings/{paired.pairing_id}/sign", json={"message_hash": "33" * 32})
    problem(r, 500, "tampered_data")
    shown = api.get(f"/v1/mpc/wallets/{wallet.wallet_id}").json()["pairings"]
    assert shown[0]["state"] == "active"  # nothing locked
