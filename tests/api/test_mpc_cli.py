"""``sigil mpc ...`` end to end: the real CLI (subprocesses) against a real server process.

Every signature is checked the way a wallet or a node would: with eth-account. One DKG wallet is shared by
the module (creation includes a 2048-bit Paillier pairing); the lock tests use wallets of their own.
"""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes

from sigil.client import mpc as flows
from sigil.client.wallet_store import load_backup, load_wallet, wallet_path
from sigil.mpc.ethereum import keccak256, personal_message_hash
from sigil.mpc.pairing import ClientPairing
from support.cli import Run, run_cli
from support.server import ServerProcess

PASSPHRASE = "mpc cli test passphrase"

TX: dict[str, Any] = {
    "type": 2,
    "chainId": 11155111,
    "nonce": 3,
    "maxPriorityFeePerGas": 1_000_000_000,
    "maxFeePerGas": 40_000_000_000,
    "gas": 21_000,
    "to": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "value": 12_345_678_900_000,
    "data": "0x",
}


def new_principal(server: ServerProcess) -> str:
    with server.client(server.admin_token) as admin:
        r = admin.post("/v1/tokens", json={"name": "mpc-cli-" + uuid.uuid4().hex[:8]})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


@dataclass
class Machine:
    """One client machine: its own SIGIL_HOME and working directory, one principal's token."""

    server: ServerProcess
    token: str
    home: Path
    cwd: Path

    def run(self, *args: str, passphrase: str | None = PASSPHRASE, monkeypatch: pytest.MonkeyPatch) -> Run:
        monkeypatch.setenv("SIGIL_HOME", str(self.home))
        if passphrase is None:
            monkeypatch.delenv("SIGIL_PASSPHRASE", raising=False)
        else:
            monkeypatch.setenv("SIGIL_PASSPHRASE", passphrase)
        self.cwd.mkdir(parents=True, exist_ok=True)
        # stdin is a pipe: the CLI must never wait for a prompt.
        return run_cli(["mpc", *args], url=self.server.url, token=self.token, stdin=b"", cwd=self.cwd)


@pytest.fixture(scope="module")
def machine(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Machine:
    base = tmp_path_factory.mktemp("mpc-cli")
    return Machine(server, new_principal(server), base / "home", base / "work")


@pytest.fixture(scope="module")
def wallet(machine: Machine) -> Iterator[dict[str, Any]]:
    """The module's DKG wallet, made once by `sigil mpc create --json`."""
    with pytest.MonkeyPatch.context() as mp:
        run = machine.run("create", "--label", "cli test", "--json", monkeypatch=mp)
        assert run.code == 0, run.stderr
        yield run.json()


def ok(machine: Machine, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    run = machine.run(*args, "--json", monkeypatch=monkeypatch)
    assert run.code == 0, run.stderr
    return run.json()


def fails(run: Run, *needles: str) -> None:
    """Exit 1, one clear ``error:`` line, no traceback (run_cli already asserts that)."""
    assert run.code == 1, (run.stdout, run.stderr)
    assert "error:" in run.stderr
    for needle in needles:
        assert needle.lower() in run.stderr.lower(), run.stderr


# --- create / address / list ---------------------------------------------------------------------


def test_create_prints_address_and_backup(machine: Machine, wallet: dict[str, Any]) -> None:
    address = wallet["address"]
    assert address.startswith("0x") and len(address) == 42
    assert Account.create().address != address
    assert wallet["backup"] == f"sigil-backup-{wallet['wallet_id']}.json"
    backup = machine.cwd / wallet["backup"]
    assert backup.exists()
    assert load_backup(backup).address == address


def test_create_never_overwrites_a_backup(
    machine: Machine, wallet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (machine.cwd / wallet["backup"]).read_bytes()
    fails(machine.run("create", "--backup", wallet["backup"], monkeypatch=monkeypatch), "already exists")
    assert (machine.cwd / wallet["backup"]).read_bytes() == before


def test_files_are_0600_and_hold_no_share_in_clear(
    machine: Machine, wallet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    local_file = wallet_path(wallet["wallet_id"], machine.home)
    backup_file = machine.cwd / wallet["backup"]
    for path in (local_file, backup_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(local_file.parent.stat().st_mode) == 0o700
    x1 = load_wallet(wallet["wallet_id"], machine.home).unlock(PASSPHRASE).share
    x3 = load_backup(backup_file).unlock(PASSPHRASE)
    for path in (local_file, backup_file):
        text = path.read_text().lower()
        for share in (x1, x3):
            for form in (format(share, "x"), format(share, "064x"), str(share)):
                assert form not in text, f"a share in clear in {path}"


def test_address_and_list(machine: Machine, wallet: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    shown = ok(machine, monkeypatch, "address", "--wallet", wallet["wallet_id"])
    assert shown["address"] == wallet["address"]
    listed = ok(machine, monkeypatch, "list")
    mine = [w for w in listed["wallets"] if w["wallet_id"] == wallet["wallet_id"]]
    assert len(mine) == 1 and mine[0]["address"] == wallet["address"] and mine[0]["local"] is True
    human = machine.run("address", "--wallet", wallet["wallet_id"], monkeypatch=monkeypatch)
    assert human.code == 0 and wallet["address"] in human.stdout


# --- signing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["hello from sigil", "ünïcødé ✓ and a longer line\nwith a newline"])
def test_sign_message_recovers_to_the_address(
    machine: Machine, wallet: dict[str, Any], monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    out = ok(machine, monkeypatch, "sign-message", "--wallet", wallet["wallet_id"], "--message", text)
    signature = bytes.fromhex(out["signature"].removeprefix("0x"))
    assert out["signature"].startswith("0x") and len(signature) == 65 and signature[64] in (27, 28)
    assert out["address"] == wallet["address"]
    assert Account.recover_message(encode_defunct(text=text), signature=out["signature"]) == wallet["address"]


def test_sign_tx_recovers_to_the_address(
    machine: Machine, wallet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    tx_file = machine.cwd / "tx.json"
    tx_file.write_text(json.dumps({**TX, "from": wallet["address"]}))
    out = ok(machine, monkeypatch, "sign-tx", "--wallet", wallet["wallet_id"], "--tx", str(tx_file))
    assert Account.recover_transaction(out["raw_tx"]) == wallet["address"]
    raw = bytes.fromhex(out["raw_tx"].removeprefix("0x"))
    assert out["hash"] == "0x" + keccak256(raw).hex()
    decoded = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    assert decoded["type"] == 2 and decoded["chainId"] == TX["chainId"] and decoded["nonce"] == TX["nonce"]
    assert decoded["value"] == TX["value"] and bytes(decoded["to"]).hex() == TX["to"][2:].lower()


def test_sign_tx_refuses_another_sender_and_bad_json(
    machine: Machine, wallet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    tx_file = machine.cwd / "other.json"
    tx_file.write_text(json.dumps({**TX, "from": Account.create().address}))
    fails(
        machine.run(
            "sign-tx", "--wallet", wallet["wallet_id"], "--tx", str(tx_file), monkeypatch=monkeypatch
        ),
        "from",
    )
    tx_file.write_text(json.dumps({**TX, "type": 0}))
    fails(
        machine.run(
            "sign-tx", "--wallet", wallet["wallet_id"], "--tx", str(tx_file), monkeypatch=monkeypatch
        ),
        "type 2",
    )
    tx_file.write_text("{not json")
    fails(
        machine.run(
            "sign-tx", "--wallet", wallet["wallet_id"], "--tx", str(tx_file), monkeypatch=monkeypatch
        ),
        "JSON",
    )


# --- passphrase errors -----------------------------------------------------------------------------


def test_wrong_or_missing_passphrase(
    machine: Machine, wallet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    wid = wallet["wallet_id"]
    fails(
        machine.run(
            "sign-message", "--wallet", wid, "--message", "x", passphrase="wrong", monkeypatch=monkeypatch
        ),
        "wrong passphrase",
    )
    fails(
        machine.run(
            "sign-message", "--wallet", wid, "--message", "x", passphrase=None, monkeypatch=monkeypatch
        ),
        "SIGIL_PASSPHRASE",
    )
    fails(
        machine.run(
            "recover",
            "sign-message",
            "--backup",
            wallet["backup"],
            "--message",
            "x",
            passphrase="wrong",
            monkeypatch=monkeypatch,
        ),
        "wrong passphrase",
    )
    fails(
        machine.run("sign-message", "--wallet", "wal_nope", "--message", "x", monkeypatch=monkeypatch),
        "no local share",
    )


# --- recovery with the backup share -----------------------------------------------------------------


def test_recover_signs_with_backup_and_server(
    machine: Machine, wallet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "signed by backup + server"
    out = ok(
        machine,
        monkeypatch,
        "recover",
        "sign-message",
        "--wallet",
        wallet["wallet_id"],
        "--backup",
        wallet["backup"],
        "--message",
        text,
    )
    assert out["address"] == wallet["address"]
    assert Account.recover_message(encode_defunct(text=text), signature=out["signature"]) == wallet["address"]
    tx_file = machine.cwd / "recover-tx.json"
    tx_file.write_text(json.dumps(TX))
    signed = ok(
        machine, monkeypatch, "recover", "sign-tx", "--backup", wallet["backup"], "--tx", str(tx_file)
    )
    assert Account.recover_transaction(signed["raw_tx"]) == wallet["address"]


def test_recover_from_a_machine_without_the_local_share(
    machine: Machine, wallet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new machine with only the backup file (and the same principal) still signs."""
    fresh = Machine(machine.server, machine.token, machine.home.parent / "new-home", machine.cwd)
    text = "the laptop is gone"
    out = ok(fresh, monkeypatch, "recover", "sign-message", "--backup", wallet["backup"], "--message", text)
    assert Account.recover_message(encode_defunct(text=text), signature=out["signature"]) == wallet["address"]


def test_export_key_rebuilds_the_wallet_key(
    machine: Machine, wallet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    wid = wallet["wallet_id"]
    checked = ok(machine, monkeypatch, "recover", "export-key", "--wallet", wid, "--backup", wallet["backup"])
    assert checked["address"] == wallet["address"] and checked["matches_wallet"] is True
    assert "private_key" not in checked and "key_file" not in checked
    key_file = machine.cwd / f"key-{uuid.uuid4().hex[:6]}.txt"
    written = ok(
        machine,
        monkeypatch,
        "recover",
        "export-key",
        "--wallet",
        wid,
        "--backup",
        wallet["backup"],
        "--out",
        str(key_file),
    )
    assert written["key_file"] == str(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert Account.from_key(key).address == wallet["address"]
    assert key.removeprefix("0x") not in json.dumps(written)
    printed = ok(
        machine,
        monkeypatch,
        "recover",
        "export-key",
        "--wallet",
        wid,
        "--backup",
        wallet["backup"],
        "--stdout",
    )
    assert printed["private_key"] == key
    # The exported key signs what the wallet signs: same address for the same message.
    text = "one key"
    ours = Account.sign_message(encode_defunct(text=text), private_key=key)
    assert Account.recover_message(encode_defunct(text=text), signature=ours.signature) == wallet["address"]
    fails(
        machine.run(
            "recover",
            "export-key",
            "--wallet",
            wid,
            "--backup",
            wallet["backup"],
            "--out",
            str(key_file),
            monkeypatch=monkeypatch,
        ),
        "already exists",
    )


# --- locked pairings -------------------------------------------------------------------------------


def _new_wallet(machine: Machine, monkeypatch: pytest.MonkeyPatch, *extra: str) -> dict[str, Any]:
    backup = f"backup-{uuid.uuid4().hex[:8]}.json"
    return ok(machine, monkeypatch, "create", "--backup", backup, *extra)


def test_dealer_wallet_locked_on_server_refuses_then_repairs(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _new_wallet(machine, monkeypatch, "--dealer")
    wid = created["wallet_id"]
    assert created["backup"].startswith("backup-")
    out = ok(machine, monkeypatch, "sign-message", "--wallet", wid, "--message", "dealt")
    assert (
        Account.recover_message(encode_defunct(text="dealt"), signature=out["signature"])
        == created["address"]
    )

    pairing_id = load_wallet(wid, machine.home).pairings[-1].pairing_id
    with flows.MpcClient(machine.server.url, machine.token) as client:
        assert client.lock_pairing(pairing_id, "test")["state"] == "locked"
    fails(
        machine.run("sign-message", "--wallet", wid, "--message", "x", monkeypatch=monkeypatch),
        "locked",
        "sigil mpc pair",
    )
    # The lock is now in the sealed local file too: refused before any request.
    monkeypatch.setenv("SIGIL_HOME", str(machine.home))
    _, entry = load_wallet(wid, machine.home).unlock(PASSPHRASE).active_pairing(1) or ("", {})
    assert entry["locked"] is True
    fails(machine.run("sign-message", "--wallet", wid, "--message", "x", monkeypatch=monkeypatch), "locked")

    repaired = ok(machine, monkeypatch, "pair", "--wallet", wid)
    assert repaired["pairing_id"] != pairing_id
    again = ok(machine, monkeypatch, "sign-message", "--wallet", wid, "--message", "after re-pairing")
    assert (
        Account.recover_message(encode_defunct(text="after re-pairing"), signature=again["signature"])
        == created["address"]
    )


class MaliciousC3(flows.MpcClient):
    """A server answer tampered in flight: c3 multiplied by Enc(1), so Dec(c3) is off by one."""

    n: int = 0

    def continue_signing(self, session_id: str, nonce: Any) -> dict[str, Any]:
        answer = super().continue_signing(session_id, nonce)
        reveal = dict(answer["reveal"])
        n2 = self.n * self.n
        reveal["c3"] = format(int(reveal["c3"], 16) * (1 + self.n) % n2, "x")
        return {**answer, "reveal": reveal}


def test_malicious_c3_locks_the_pairing_here_and_on_the_server(
    machine: Machine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    created = _new_wallet(machine, monkeypatch)
    wid = created["wallet_id"]
    local = load_wallet(wid, machine.home)
    pairing_id, entry = local.unlock(PASSPHRASE).active_pairing(1) or ("", {})
    client_pairing = ClientPairing.from_json(entry["client_pairing"])
    with MaliciousC3(machine.server.url, machine.token) as client:
        client.n = client_pairing.paillier.public.n
        with pytest.raises(flows.PairingLocked):
            flows.sign_hash(client, wid, personal_message_hash("x"), PASSPHRASE, home=machine.home)
        server_view = client.get_wallet(wid)
    states = {p["pairing_id"]: p["state"] for p in server_view["pairings"]}
    assert states[pairing_id] == "locked"
    _, entry = load_wallet(wid, machine.home).unlock(PASSPHRASE).active_pairing(1) or ("", {})
    assert entry["locked"] is True
    fails(
        machine.run("sign-message", "--wallet", wid, "--message", "x", monkeypatch=monkeypatch),
        "locked",
        "CVE-2023-33242",
    )
