"""``/v1/mpc``: distributed keygen, dealt wallets, pairing, two-round signing, locks — the test
plays the client with sigil.mpc's client functions over real HTTP against a real server process,
on SQLite and (marked slow) on PostgreSQL."""

from __future__ import annotations

import hashlib
import statistics
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from sigil.mpc import keygen, shares, sign
from sigil.mpc.ethereum import recover_address
from support.mpc_api import (
    Paired,
    Snapshot,
    Wallet,
    dkg_wallet,
    mpc_env,
    new_token,
    pair,
    problem,
    sign_message,
    sign_round1,
)
from support.postgres import fresh_schema
from support.server import ServerProcess


@pytest.fixture(scope="module")
def mpc_sqlite(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    proc = ServerProcess(workers=2, env=mpc_env(request.config)).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def mpc_pg(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    with fresh_schema() as url:
        proc = ServerProcess(db_url=url, workers=2, env=mpc_env(request.config)).start()
        yield proc
        proc.stop()


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.slow, pytest.mark.postgres])],
)
def mpc_server(request: pytest.FixtureRequest) -> ServerProcess:
    proc: ServerProcess = request.getfixturevalue("mpc_sqlite" if request.param == "sqlite" else "mpc_pg")
    return proc


@pytest.fixture(scope="module")
def owner(mpc_server: ServerProcess) -> Iterator[httpx.Client]:
    with mpc_server.client(new_token(mpc_server)) as client:
        yield client


@pytest.fixture(scope="module")
def paired(owner: httpx.Client) -> Paired:
    """One DKG wallet paired with the client share (index 1), shared by the module."""
    return pair(owner, dkg_wallet(owner, label="shared"), 1)


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def test_params_are_public_and_stable(mpc_server: ServerProcess) -> None:
    with mpc_server.client() as anon:
        first = anon.get("/v1/mpc/params")
        second = anon.get("/v1/mpc/params")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["curve"] == "secp256k1"
    assert body["transport_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert set(body["server_params"]) >= {"ring_pedersen"}
    assert second.json() == body  # every worker serves the one row


def test_dkg_wallet_pair_and_sign(owner: httpx.Client, paired: Paired) -> None:
    wallet = paired.wallet
    assert wallet.answer["address"].startswith("0x") and len(wallet.answer["address"]) == 42
    assert set(wallet.answer["public_shares"]) == {"1", "2", "3"}
    # The full key never existed anywhere, but shares 1 and 3 (client) reconstruct it offline.
    secret = shares.reconstruct({1: wallet.x1, 3: wallet.x3})
    from sigil.mpc.ethereum import address_from_private_key

    assert address_from_private_key(secret) == wallet.answer["address"]
    msg = digest("hello mpc")
    signature = sign_message(owner, paired, msg)
    assert sign.verify_signature(wallet.public_key, msg, signature.r, signature.s)
    assert recover_address(msg, signature.r, signature.s, signature.recovery_id) == wallet.answer["address"]
    shown = owner.get(f"/v1/mpc/wallets/{wallet.wallet_id}").json()
    assert shown["label"] == "shared"
    assert shown["pairings"] == [{"pairing_id": paired.pairing_id, "client_index": 1, "state": "active"}]
    listed = owner.get("/v1/mpc/wallets").json()["wallets"]
    assert wallet.wallet_id in [w["wallet_id"] for w in listed]


def test_backup_share_pairs_and_signs(owner: httpx.Client, paired: Paired) -> None:
    backup = pair(owner, paired.wallet, 3)
    msg = digest("signed with the backup share")
    signature = sign_message(owner, backup, msg)
    assert sign.verify_signature(paired.wallet.public_key, msg, signature.r, signature.s)


def test_dealt_wallet(owner: httpx.Client) -> None:
    from sigil.mpc import transport

    pem = owner.get("/v1/mpc/params").json()["transport_key_pem"].encode()
    feldman, dealt = shares.deal()
    sealed = transport.seal_share(pem, dealt[shares.SERVER], keygen.dealer_aad(feldman))
    r = owner.post(
        "/v1/mpc/wallets", json={"mode": "dealer", "feldman": feldman.to_json(), "encrypted_share": sealed}
    )
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["public_key"] == feldman.c0.to_bytes().hex()
    wallet = Wallet(
        answer["wallet_id"], shares.WalletPublic.from_feldman(feldman), dealt[1], dealt[3], answer
    )
    paired = pair(owner, wallet, 1)
    msg = digest("dealt")
    signature = sign_message(owner, paired, msg)
    assert sign.verify_signature(feldman.c0, msg, signature.r, signature.s)


def test_many_signatures_and_latency(owner: httpx.Client, paired: Paired) -> None:
    """Not a timed test (make bench reports the figures): prints what one signature costs end to end."""
    times = []
    for i in range(30):
        msg = digest(f"message {i}")
        started = time.perf_counter()
        signature = sign_message(owner, paired, msg)
        times.append((time.perf_counter() - started) * 1000)
        assert sign.verify_signature(paired.wallet.public_key, msg, signature.r, signature.s)
    print(f"\nMPC sign over HTTP: median {statistics.median(times):.1f} ms, min {min(times):.1f} ms")


def test_session_is_single_use_under_concurrency(
    mpc_server: ServerProcess, owner: httpx.Client, paired: Paired
) -> None:
    token = owner.headers["authorization"].removeprefix("Bearer ")
    with mpc_server.client(token) as api:
        sid, _state, nonce = sign_round1(api, paired, digest("race"))
    body = {"nonce": nonce.to_json()}
    results: list[int] = []
    barrier = threading.Barrier(20)

    def post() -> None:
        with mpc_server.client(token) as c:
            barrier.wait()
            results.append(c.post(f"/v1/mpc/sessions/{sid}", json=body).status_code)

    threads = [threading.Thread(target=post) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [409] * 19, results


def test_lock_refuses_new_sessions(owner: httpx.Client, mpc_server: ServerProcess) -> None:
    wallet = dkg_wallet(owner)
    victim = pair(owner, wallet, 1)
    snap = Snapshot(mpc_server)
    try:
        r = owner.post(f"/v1/mpc/pairings/{victim.pairing_id}/lock", json={"reason": "signature failed"})
        assert r.status_code == 200, r.text
        assert r.json() == {"pairing_id": victim.pairing_id, "state": "locked"}
        with snap.unchanged():
            r = owner.post(f"/v1/mpc/pairings/{victim.pairing_id}/sign", json={"message_hash": "00" * 32})
            problem(r, 409, "mpc_pairing_locked")
        # A fresh pairing of the same share gets out of it (docs/mpc.md).
        fresh = pair(owner, wallet, 1)
        msg = digest("after re-pairing")
        signature = sign_message(owner, fresh, msg)
        assert sign.verify_signature(wallet.public_key, msg, signature.r, signature.s)
    finally:
        snap.close()


def test_lock_ends_open_sessions(owner: httpx.Client) -> None:
    wallet = dkg_wallet(owner)
    victim = pair(owner, wallet, 1)
    sid, _state, nonce = sign_round1(owner, victim, digest("open"))
    assert owner.post(f"/v1/mpc/pairings/{victim.pairing_id}/lock", json={}).status_code == 200
    problem(owner.post(f"/v1/mpc/sessions/{sid}", json={"nonce": nonce.to_json()}), 409, "mpc_pairing_locked")


def test_audit_records_each_state_change(
    owner: httpx.Client, paired: Paired, mpc_server: ServerProcess
) -> None:
    sign_message(owner, paired, digest("audited"))
    with mpc_server.client(mpc_server.admin_token) as admin:
        entries = admin.get("/v1/audit", params={"limit": 1000}).json()["entries"]
        assert admin.get("/v1/audit/verify").json()["ok"] is True
    actions = {e["action"] for e in entries}
    assert {
        "mpc.keygen_start",
        "mpc.wallet_create",
        "mpc.pairing_start",
        "mpc.pairing_activate",
        "mpc.sign_start",
        "mpc.sign",
    } <= actions
    mine = [e for e in entries if e["key_id"] == paired.pairing_id and e["action"] == "mpc.sign"]
    assert mine and mine[-1]["message_sha256"] == digest("audited").hex()


def test_shares_never_stored_in_clear(owner: httpx.Client, paired: Paired, mpc_server: ServerProcess) -> None:
    """x2 (and w2 = λ·x2) sit in the database only sealed; the client's shares never reach it."""
    from sigil.mpc.arith import Q
    from support.postgres import dump_schema

    sign_message(owner, paired, digest("stored"))
    wallet = paired.wallet
    x2 = (wallet.x1 + wallet.x3) * pow(2, -1, Q) % Q  # f(2) on the line through (1, x1), (3, x3)
    assert shares.reconstruct({1: wallet.x1, 2: x2}) == shares.reconstruct({1: wallet.x1, 3: wallet.x3})
    w2 = shares.additive_share(2, x2, (1, 2))
    secrets_ = [x2, w2, wallet.x1, wallet.x3]
    if mpc_server.db_url:
        dumped = dump_schema(mpc_server.db_url)
    else:
        files = [mpc_server.data_dir / name for name in ("sigil.db", "sigil.db-wal")]
        dumped = b"".join(f.read_bytes() for f in files if f.exists())
    for value in secrets_:
        raw = value.to_bytes(32, "big")
        for form in (raw, raw.hex().encode(), format(value, "x").encode(), str(value).encode()):
            assert form not in dumped
