"""The local MPC wallet file and the backup share file: sealing, binding, modes, no secret in clear."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sigil.auth.keystore import KeystoreCorrupt, KeystoreError, WrongPassphrase
from sigil.client import wallet_store as ws

PASS = "wallet store passphrase"
SHARE = 0x1D2C3B4A5968778695A4B3C2D1E0F1E2D3C4B5A69788796A5B4C3D2E1F0A1B2C
BACKUP_SHARE = 0x7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B7C6D5E4F3A2B1C0D9E8F7A6B
PUBLIC = "02" + "11" * 32
SHARES = {"1": "02" + "22" * 32, "2": "03" + "33" * 32, "3": "02" + "44" * 32}


def make_wallet(wallet_id: str = "wal_test1") -> ws.LocalWallet:
    return ws.LocalWallet.create(
        PASS,
        ws.WalletSecrets(share=SHARE),
        wallet_id=wallet_id,
        address="0x" + "ab" * 20,
        public_key=PUBLIC,
        public_shares=SHARES,
        wallet_public={"public_key": PUBLIC, "public_shares": SHARES},
        label="test",
        server_url="http://127.0.0.1:1",
    )


def make_backup(wallet_id: str = "wal_test1") -> ws.BackupFile:
    return ws.BackupFile.seal(
        PASS,
        BACKUP_SHARE,
        wallet_id=wallet_id,
        address="0x" + "ab" * 20,
        public_key=PUBLIC,
        public_shares=SHARES,
        wallet_public={"public_key": PUBLIC, "public_shares": SHARES},
    )


def test_wallet_round_trip_0600_no_share_in_clear(tmp_path: Path) -> None:
    wallet = make_wallet()
    secrets_ = wallet.unlock(PASS).with_pairing("pair_1", 1, {"paillier": {"p": "ff", "q": "ef"}})
    wallet = wallet.reseal(PASS, secrets_)
    path = ws.save_wallet(wallet, tmp_path)
    assert path == tmp_path / "mpc" / "wal_test1.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert format(SHARE, "x") not in text and format(SHARE, "064x") not in text
    assert "paillier" not in text
    loaded = ws.load_wallet("wal_test1", tmp_path)
    opened = loaded.unlock(PASS)
    assert opened.share == SHARE
    assert opened.active_pairing(1) == (
        "pair_1",
        {
            "client_pairing": {"paillier": {"p": "ff", "q": "ef"}},
            "client_index": 1,
            "locked": False,
            "reason": None,
            "seq": 1,
        },
    )
    assert [p.pairing_id for p in loaded.pairings] == ["pair_1"]
    assert str(SHARE) not in repr(opened) and format(SHARE, "x") not in repr(opened)
    assert [w.wallet_id for w in ws.list_wallets(tmp_path)] == ["wal_test1"]


def test_wrong_passphrase_and_bound_fields(tmp_path: Path) -> None:
    path = ws.save_wallet(make_wallet(), tmp_path)
    with pytest.raises(WrongPassphrase):
        ws.load_wallet("wal_test1", tmp_path).unlock("not the passphrase")
    data = json.loads(path.read_text())
    data["public_key"] = "03" + "11" * 32  # another key: the sealed share must not open under it
    path.write_text(json.dumps(data))
    with pytest.raises(WrongPassphrase):
        ws.load_wallet("wal_test1", tmp_path).unlock(PASS)


def test_sealed_share_moved_to_another_wallet_fails(tmp_path: Path) -> None:
    a = make_wallet("wal_a").to_dict()
    b = make_wallet("wal_b").to_dict()
    for name in ("kdf", "nonce", "ciphertext"):
        b[name] = a[name]
    with pytest.raises(WrongPassphrase):
        ws.LocalWallet.from_dict(b).unlock(PASS)


def test_lock_is_sealed_and_survives_a_clear_edit(tmp_path: Path) -> None:
    wallet = make_wallet()
    secrets_ = wallet.unlock(PASS).with_pairing("pair_1", 1, {})
    wallet = wallet.reseal(PASS, secrets_.with_lock("pair_1", "signature failed to verify"))
    path = ws.save_wallet(wallet, tmp_path)
    data = json.loads(path.read_text())
    assert data["pairings"][0]["locked"] is True
    data["pairings"][0]["locked"] = False  # editing the clear copy does not unlock
    path.write_text(json.dumps(data))
    _, entry = ws.load_wallet("wal_test1", tmp_path).unlock(PASS).active_pairing(1) or ("", {})
    assert entry["locked"] is True and entry["reason"] == "signature failed to verify"


def test_backup_round_trip_0600_no_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "sigil-backup-wal_test1.json"
    ws.save_backup(make_backup(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert format(BACKUP_SHARE, "x") not in text and format(BACKUP_SHARE, "064x") not in text
    loaded = ws.load_backup(path)
    assert loaded.unlock(PASS) == BACKUP_SHARE
    assert loaded.wallet_id == "wal_test1" and loaded.share_index == 3
    with pytest.raises(WrongPassphrase):
        loaded.unlock("nope")
    with pytest.raises(KeystoreError, match="already exists"):
        ws.save_backup(make_backup(), path)
    assert ws.default_backup_path("wal_x") == Path("sigil-backup-wal_x.json")


def test_backup_is_not_a_wallet_file(tmp_path: Path) -> None:
    with pytest.raises(KeystoreCorrupt):
        ws.LocalWallet.from_dict(make_backup().to_dict())
    with pytest.raises(KeystoreCorrupt):
        ws.BackupFile.from_dict(make_wallet().to_dict())


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".", "..", "x" * 200])
def test_wallet_ids_are_not_paths(bad: str, tmp_path: Path) -> None:
    with pytest.raises(KeystoreError):
        ws.wallet_path(bad, tmp_path)
