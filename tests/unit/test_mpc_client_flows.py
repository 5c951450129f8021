"""The client flows of sigil.client.mpc against an in-memory server double (httpx.MockTransport).

The double speaks the /v1/mpc JSON of the spec with the server-side state machines of sigil.mpc, so the
client's logic is tested alone: what it stores, what it checks, and that a failed signature locks the
pairing both locally and on the server. tests/api/test_mpc_cli.py does the same against the real server.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from sigil.client import mpc as flows
from sigil.client.wallet_store import load_backup, load_wallet
from sigil.mpc import keygen, pairing, ringpedersen, shares, sign
from sigil.mpc.ethereum import address_from_public_key, personal_message_hash, recover_address, signature_hex

PASS = "flows passphrase"


@dataclass
class FakeServer:
    """Just enough of /v1/mpc for one principal, in memory."""

    params: ringpedersen.ServerParams
    keygens: dict[str, tuple[keygen.ServerDkgState, str | None]] = field(default_factory=dict)
    wallets: dict[str, dict[str, Any]] = field(default_factory=dict)
    pairings: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, tuple[sign.ServerSignState, str]] = field(default_factory=dict)
    tamper_c3: bool = False
    lie_about_key: bool = False
    refuse_pairing: bool = False
    calls: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        body = json.loads(request.content) if request.content else {}
        path = request.url.path
        for pattern, method, handler in self.routes():
            m = re.fullmatch(pattern, path)
            if m and request.method == method:
                status, answer = handler(body, *m.groups())
                return httpx.Response(status, json=answer)
        return httpx.Response(404, json={"status": 404, "code": "not_found", "title": "Not found"})

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            (r"/v1/mpc/params", "GET", self.get_params),
            (r"/v1/mpc/keygen", "POST", self.keygen_start),
            (r"/v1/mpc/keygen/([^/]+)", "POST", self.keygen_finish),
            (r"/v1/mpc/wallets/([^/]+)", "GET", self.get_wallet),
            (r"/v1/mpc/wallets/([^/]+)/pairings", "POST", self.pair_start),
            (r"/v1/mpc/pairings/([^/]+)", "POST", self.pair_finish),
            (r"/v1/mpc/pairings/([^/]+)/sign", "POST", self.sign_start),
            (r"/v1/mpc/pairings/([^/]+)/lock", "POST", self.lock),
            (r"/v1/mpc/sessions/([^/]+)", "POST", self.sign_finish),
        ]

    def get_params(self, body: Any) -> tuple[int, Any]:
        return 200, {"curve": "secp256k1", "server_params": self.params.to_json(), "transport_key_pem": ""}

    def keygen_start(self, body: Any) -> tuple[int, Any]:
        session_id = secrets.token_bytes(16)
        state, commitment = keygen.server_dkg_start(session_id)
        keygen_id = "kg_" + secrets.token_hex(4)
        self.keygens[keygen_id] = (state, None)
        return 201, {
            "keygen_id": keygen_id,
            "session_id": session_id.hex(),
            "commitment": commitment.to_json(),
        }

    def keygen_finish(self, body: Any, keygen_id: str) -> tuple[int, Any]:
        state, _ = self.keygens.pop(keygen_id)
        public, x2, message = keygen.server_dkg_finish(
            state, keygen.DkgClientMessage.from_json(body["message"])
        )
        wallet_id = "wal_" + secrets.token_hex(6)
        self.wallets[wallet_id] = {"public": public, "x2": x2}
        shown = public.to_json()
        if self.lie_about_key:
            shown["public_key"] = shown["public_shares"]["2"]
        return 201, {
            "wallet_id": wallet_id,
            "address": address_from_public_key(public.public_key),
            "public_key": shown["public_key"],
            "public_shares": shown["public_shares"],
            "message": message.to_json(),
        }

    def get_wallet(self, body: Any, wallet_id: str) -> tuple[int, Any]:
        public = self.wallets[wallet_id]["public"]
        rows = [
            {"pairing_id": pid, "client_index": p["index"], "state": p["state"]}
            for pid, p in self.pairings.items()
            if p["wallet_id"] == wallet_id
        ]
        return 200, {
            "wallet_id": wallet_id,
            "address": address_from_public_key(public.public_key),
            **public.to_json(),
            "pairings": rows,
        }

    def pair_start(self, body: Any, wallet_id: str) -> tuple[int, Any]:
        pairing_id = "pair_" + secrets.token_hex(6)
        nonce = secrets.token_bytes(32)
        index = int(body["client_index"])
        self.pairings[pairing_id] = {
            "wallet_id": wallet_id,
            "index": index,
            "nonce": nonce,
            "state": "pending",
        }
        return 201, {"pairing_id": pairing_id, "nonce": nonce.hex()}

    def pair_finish(self, body: Any, pairing_id: str) -> tuple[int, Any]:
        if self.refuse_pairing:
            return 422, {"status": 422, "code": "mpc_invalid_proof", "title": "Invalid proof"}
        p = self.pairings[pairing_id]
        public = self.wallets[p["wallet_id"]]["public"]
        context = pairing.PairingContext(
            wallet_id=p["wallet_id"],
            pairing_id=pairing_id,
            nonce=p["nonce"],
            client_index=p["index"],
            public_key=public.public_key,
        )
        pair = tuple(sorted((p["index"], shares.SERVER)))
        p["server"] = pairing.server_verify_pairing(
            context,
            pairing.PairingRequest.from_json(body["request"]),
            public.pair_public(p["index"], pair),
            self.params,
        )
        p["state"] = "active"
        return 200, {"pairing_id": pairing_id, "state": "active"}

    def sign_start(self, body: Any, pairing_id: str) -> tuple[int, Any]:
        p = self.pairings[pairing_id]
        if p["state"] == "locked":
            return 409, {"status": 409, "code": "mpc_pairing_locked", "title": "Pairing is locked"}
        session_id = secrets.token_bytes(16)
        ctx = sign.SignContext(
            session_id=session_id,
            pairing_id=pairing_id,
            wallet_id=p["wallet_id"],
            message_hash=bytes.fromhex(body["message_hash"]),
        )
        state, commitment = sign.server_sign_commit(ctx)
        self.sessions[session_id.hex()] = (state, pairing_id)
        return 200, {"session_id": session_id.hex(), "commitment": commitment.to_json()}

    def sign_finish(self, body: Any, session_id: str) -> tuple[int, Any]:
        state, pairing_id = self.sessions.pop(session_id)
        p = self.pairings[pairing_id]
        x2 = self.wallets[p["wallet_id"]]["x2"]
        w2 = shares.additive_share(shares.SERVER, x2, tuple(sorted((p["index"], shares.SERVER))))
        reveal = sign.server_sign_respond(state, sign.ClientNonce.from_json(body["nonce"]), p["server"], w2)
        out = reveal.to_json()
        if self.tamper_c3:
            n = p["server"].paillier_n
            out["c3"] = format(reveal.c3 * (1 + n) % (n * n), "x")
        return 200, {"reveal": out}

    def lock(self, body: Any, pairing_id: str) -> tuple[int, Any]:
        self.pairings[pairing_id]["state"] = "locked"
        return 200, {"pairing_id": pairing_id, "state": "locked"}


@pytest.fixture(scope="module")
def server_params() -> ringpedersen.ServerParams:
    params, _ = ringpedersen.make_server_params(2048)
    return params


@pytest.fixture
def fake(server_params: ringpedersen.ServerParams) -> FakeServer:
    return FakeServer(server_params)


@pytest.fixture
def client(fake: FakeServer) -> Iterator[flows.MpcClient]:
    with flows.MpcClient("http://sigil.test", "tok", transport=httpx.MockTransport(fake.handle)) as c:
        yield c


def _signed_by(address: str, text: str, sig: flows.MpcSignature) -> bool:
    rsv = signature_hex(sig.r, sig.s, sig.recovery_id)
    return bool(Account.recover_message(encode_defunct(text=text), signature=rsv) == address)


def test_create_sign_recover_export(client: flows.MpcClient, fake: FakeServer, tmp_path: Path) -> None:
    backup_path = tmp_path / "backup.json"
    created = flows.create_wallet(client, PASS, backup_path=backup_path, home=tmp_path)
    assert created.mode == "dkg" and created.backup == str(backup_path)
    assert created.address == address_from_public_key(fake.wallets[created.wallet_id]["public"].public_key)
    local = load_wallet(created.wallet_id, tmp_path)
    assert local.address == created.address and local.pairings[-1].pairing_id == created.pairing_id

    text = "hello"
    sig = flows.sign_hash(client, created.wallet_id, personal_message_hash(text), PASS, home=tmp_path)
    assert _signed_by(created.address, text, sig)

    backup = load_backup(backup_path)
    by_backup = flows.sign_hash_with_backup(client, backup, personal_message_hash(text), PASS)
    assert _signed_by(created.address, text, by_backup)
    assert fake.pairings[by_backup.pairing_id]["index"] == 3
    assert by_backup.pairing_id not in {
        p.pairing_id for p in load_wallet(created.wallet_id, tmp_path).pairings
    }

    calls = fake.calls
    key, address = flows.export_key(created.wallet_id, backup, PASS, home=tmp_path)
    assert fake.calls == calls  # offline
    assert address == created.address == Account.from_key(key.to_bytes(32, "big")).address


def test_malicious_c3_locks_here_and_on_the_server(
    client: flows.MpcClient, fake: FakeServer, tmp_path: Path
) -> None:
    created = flows.create_wallet(client, PASS, backup_path=tmp_path / "b.json", home=tmp_path)
    fake.tamper_c3 = True
    digest = personal_message_hash("x")
    with pytest.raises(flows.PairingLocked, match="CVE-2023-33242"):
        flows.sign_hash(client, created.wallet_id, digest, PASS, home=tmp_path)
    assert fake.pairings[created.pairing_id]["state"] == "locked"
    found = load_wallet(created.wallet_id, tmp_path).unlock(PASS).active_pairing(1)
    assert found is not None and found[1]["locked"] is True
    # Refused locally, before any request, even by an honest server.
    fake.tamper_c3 = False
    calls = fake.calls
    with pytest.raises(flows.PairingLocked):
        flows.sign_hash(client, created.wallet_id, digest, PASS, home=tmp_path)
    assert fake.calls == calls
    # The way out: a fresh pairing.
    new_pairing = flows.pair(client, created.wallet_id, PASS, home=tmp_path)
    assert new_pairing != created.pairing_id
    sig = flows.sign_hash(client, created.wallet_id, digest, PASS, home=tmp_path)
    assert recover_address(digest, sig.r, sig.s, sig.recovery_id) == created.address


def test_server_side_lock_is_recorded_locally(
    client: flows.MpcClient, fake: FakeServer, tmp_path: Path
) -> None:
    created = flows.create_wallet(client, PASS, backup_path=tmp_path / "b.json", home=tmp_path)
    assert created.pairing_id is not None
    client.lock_pairing(created.pairing_id, "reported elsewhere")
    with pytest.raises(flows.PairingLocked, match="locked on the server"):
        flows.sign_hash(client, created.wallet_id, personal_message_hash("x"), PASS, home=tmp_path)
    found = load_wallet(created.wallet_id, tmp_path).unlock(PASS).active_pairing(1)
    assert found is not None and found[1]["locked"] is True


def test_a_server_that_lies_about_the_key_is_caught(
    client: flows.MpcClient, fake: FakeServer, tmp_path: Path
) -> None:
    fake.lie_about_key = True
    with pytest.raises(flows.ServerMismatch):
        flows.create_wallet(client, PASS, backup_path=tmp_path / "b.json", home=tmp_path)
    assert not (tmp_path / "b.json").exists()


def test_a_failed_first_pairing_keeps_the_wallet_and_says_what_to_do(
    client: flows.MpcClient, fake: FakeServer, tmp_path: Path
) -> None:
    fake.refuse_pairing = True
    with pytest.raises(flows.PairingIncomplete, match="sigil mpc pair --wallet") as info:
        flows.create_wallet(client, PASS, backup_path=tmp_path / "b.json", home=tmp_path)
    wallet_id = info.value.wallet_id
    assert (tmp_path / "b.json").exists()
    assert load_wallet(wallet_id, tmp_path).unlock(PASS).active_pairing(1) is None
    with pytest.raises(flows.NoPairing):
        flows.sign_hash(client, wallet_id, personal_message_hash("x"), PASS, home=tmp_path)
    fake.refuse_pairing = False
    flows.pair(client, wallet_id, PASS, home=tmp_path)
    sig = flows.sign_hash(client, wallet_id, personal_message_hash("x"), PASS, home=tmp_path)
    assert _signed_by(load_wallet(wallet_id, tmp_path).address, "x", sig)
