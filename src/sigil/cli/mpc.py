"""``sigil mpc ...``: two-party ECDSA wallets on secp256k1 (Ethereum), with a backup share.

This machine is party 1: it keeps share 1 and its pairing secrets (Paillier key) in
``$SIGIL_HOME/mpc/<wallet_id>.json`` and writes share 3 to a backup file (default
``./sigil-backup-<wallet_id>.json``); both are sealed under the passphrase (``SIGIL_PASSPHRASE``, else a
terminal prompt, else a clear error) and mode 0600. The server (``SIGIL_URL``, ``SIGIL_TOKEN``) keeps share 2.

    sigil mpc create [--dealer] [--backup FILE] [--label L]     wallet + address + backup file
    sigil mpc list | address --wallet ID | pair --wallet ID
    sigil mpc sign-message --wallet ID --message TEXT             EIP-191 (personal_sign), 0x r‖s‖v
    sigil mpc sign-tx --wallet ID --tx FILE                        EIP-1559 JSON -> raw signed transaction
    sigil mpc recover sign-message|sign-tx --backup FILE ...       backup share + server
    sigil mpc recover export-key --wallet ID --backup FILE [--out FILE | --stdout]   offline, local + backup
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from sigil.auth.keystore import is_private_file
from sigil.cli.device import read_passphrase
from sigil.cli.output import JsonOption, describe_error, fail, info, print_fields, print_json, print_table
from sigil.client import ClientError, mpc_signing, mpc_wallet
from sigil.client.backup_file import BackupFile, load_backup
from sigil.client.local_wallet import list_wallets, load_wallet, wallet_path
from sigil.client.mpc_http import MpcClient
from sigil.client.wallet_sealing import write_new_private_file
from sigil.errors import SigilError
from sigil.mpc.errors import MpcError
from sigil.mpc.ethereum import Eip1559Transaction, personal_message_hash, signature_hex

app = typer.Typer(
    help="Two-party MPC wallets (secp256k1, Ethereum) with a backup share.", no_args_is_help=True
)
recover_app = typer.Typer(
    help="Use the backup share: sign with backup + server, or rebuild the key offline.", no_args_is_help=True
)
app.add_typer(recover_app, name="recover")

WalletOption = typer.Option(..., "--wallet", "-w", help="The wallet's id.")
BackupOption = typer.Option(..., "--backup", "-b", help="The backup share file.")
MessageOption = typer.Option(
    ..., "--message", "-m", help="The text to sign (UTF-8), EIP-191 personal message."
)
TxOption = typer.Option(..., "--tx", help="A JSON file with an EIP-1559 transaction (chainId, nonce, ...).")
WALLET_COLUMNS = ["wallet_id", "address", "label", "local", "pairing", "created_at"]


# --- helpers -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def clean_errors() -> Iterator[None]:
    """Store, protocol and SDK errors become one ``error:`` line and exit status 1."""
    try:
        yield
    except SigilError as exc:
        fail(str(exc.detail))
    except MpcError as exc:
        fail(f"the MPC protocol failed: {exc}")
    except ClientError as exc:
        fail(describe_error(exc))


def _client(wallet_id: str | None = None) -> MpcClient:
    return MpcClient(mpc_wallet.resolve_server_url(wallet_id))


def _warn_if_open(path: Path) -> None:
    if path.exists() and not is_private_file(path):
        info(f"warning: {path} is readable by other users; run `chmod 600 {path}`")


def _read_tx(path: Path) -> Eip1559Transaction:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"no transaction file at {path}")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
    except ValueError:
        fail(f"{path} is not JSON")
    with clean_errors():
        return Eip1559Transaction.from_json(data)


def _check_sender(tx: Eip1559Transaction, address: str) -> None:
    if tx.sender is not None and tx.sender != address:
        fail(f"the transaction's from ({tx.sender}) is not this wallet's address ({address})")


def _open_backup(path: Path, wallet_id: str | None) -> BackupFile:
    with clean_errors():
        backup = load_backup(path)
    _warn_if_open(path)
    if wallet_id is not None and backup.wallet_id != wallet_id:
        fail(f"{path} is the backup of wallet {backup.wallet_id}, not {wallet_id}")
    return backup


def _local_address(wallet_id: str) -> str:
    with clean_errors():
        local = load_wallet(wallet_id)
    _warn_if_open(wallet_path(wallet_id))
    return local.address


def _emit(result: dict[str, Any], as_json: bool, fields: list[str]) -> None:
    if as_json:
        print_json(result)
    else:
        print_fields(result, fields)


# --- wallets -----------------------------------------------------------------------------------------


@app.command("create")
def create(
    backup: Path | None = typer.Option(
        None,
        "--backup",
        "-b",
        help="Where to write the backup share (default ./sigil-backup-<wallet_id>.json).",
    ),
    dealer: bool = typer.Option(
        False,
        "--dealer",
        help="This client deals the shares (default: distributed keygen, no full key ever).",
    ),
    label: str | None = typer.Option(None, "--label", "-l", help="Free-text label."),
    as_json: bool = JsonOption,
) -> None:
    """Create a 2-of-3 wallet with the server; print its Ethereum address; write the backup share."""
    if backup is not None and backup.exists():
        fail(f"{backup} already exists; not overwriting a backup file")
    passphrase = read_passphrase(confirm=True)
    with clean_errors(), _client() as client:
        created = mpc_wallet.create_wallet(client, passphrase, dealer=dealer, label=label, backup_path=backup)
    result = created.to_dict()
    if as_json:
        print_json(result)
        return
    print_fields(result, ["wallet_id", "address", "backup", "mode", "pairing_id"])
    info(
        "Keep the backup file away from this machine: with the server it signs, "
        "and with the local share it is the whole key."
    )


@app.command("list")
def list_command(as_json: bool = JsonOption) -> None:
    """Your wallets on the server, and which have a local share here."""
    local = {w.wallet_id: w for w in list_wallets()}
    with clean_errors(), _client() as client:
        remote = client.list_wallets()
    rows = []
    for wallet in remote:
        here = local.get(str(wallet.get("wallet_id")))
        pairing = next((p for p in reversed(here.pairings)), None) if here else None
        rows.append(
            {
                **wallet,
                "local": here is not None,
                "pairing": None if pairing is None else ("locked" if pairing.locked else "active"),
            }
        )
    if as_json:
        print_json({"wallets": rows})
        return
    print_table(rows, WALLET_COLUMNS, title="wallets")


@app.command("address")
def address(wallet: str = WalletOption, as_json: bool = JsonOption) -> None:
    """The wallet's Ethereum address (from the local wallet file; no passphrase needed)."""
    with clean_errors():
        local = load_wallet(wallet)
    result = local.summary()
    if as_json:
        print_json(result)
        return
    print_fields(result, ["wallet_id", "address", "public_key", "label"])


@app.command("pair")
def pair_command(wallet: str = WalletOption, as_json: bool = JsonOption) -> None:
    """Pair the local share with the server again (a fresh Paillier key); the way out of a locked pairing."""
    passphrase = read_passphrase()
    with clean_errors(), _client(wallet) as client:
        pairing_id = mpc_wallet.pair(client, wallet, passphrase)
    _emit(
        {"wallet_id": wallet, "pairing_id": pairing_id, "state": "active"},
        as_json,
        ["wallet_id", "pairing_id"],
    )


# --- signing -----------------------------------------------------------------------------------------


def _sign(wallet: str, digest: bytes, backup: Path | None) -> tuple[mpc_signing.MpcSignature, str]:
    """(signature, address) by the local share, or by the backup share when ``backup`` is given."""
    passphrase = read_passphrase()
    if backup is not None:
        opened = _open_backup(backup, wallet)
        with clean_errors(), _client() as client:
            return mpc_signing.sign_hash_with_backup(client, opened, digest, passphrase), opened.address
    address = _local_address(wallet)
    with clean_errors(), _client(wallet) as client:
        return mpc_signing.sign_hash(client, wallet, digest, passphrase), address


def _sign_message(wallet: str, message: str, backup: Path | None, as_json: bool) -> None:
    signature, address = _sign(wallet, personal_message_hash(message), backup)
    result = {
        "signature": signature_hex(signature.r, signature.s, signature.recovery_id),
        "address": address,
        "wallet_id": wallet,
    }
    _emit(result, as_json, ["address", "signature"])


def _sign_tx(wallet: str, tx_file: Path, backup: Path | None, as_json: bool) -> None:
    tx = _read_tx(tx_file)
    if backup is None:
        _check_sender(tx, _local_address(wallet))
    else:
        _check_sender(tx, _open_backup(backup, wallet).address)
    signature, address = _sign(wallet, tx.signing_hash(), backup)
    signed = tx.signed(signature.r, signature.s, signature.recovery_id)
    result = {**signed.to_dict(), "from": address, "wallet_id": wallet}
    _emit(result, as_json, ["from", "hash", "raw_tx"])


@app.command("sign-message")
def sign_message(
    wallet: str = WalletOption, message: str = MessageOption, as_json: bool = JsonOption
) -> None:
    """Sign a text message as personal_sign does (EIP-191): 0x + r‖s‖v, v = 27/28."""
    _sign_message(wallet, message, None, as_json)


@app.command("sign-tx")
def sign_tx(wallet: str = WalletOption, tx: Path = TxOption, as_json: bool = JsonOption) -> None:
    """Sign an EIP-1559 transaction (JSON file); print the raw signed transaction and its hash."""
    _sign_tx(wallet, tx, None, as_json)


# --- recovery with the backup share -----------------------------------------------------------------


@recover_app.command("sign-message")
def recover_sign_message(
    backup: Path = BackupOption,
    message: str = MessageOption,
    wallet: str | None = typer.Option(
        None, "--wallet", "-w", help="The wallet's id (checked against the file)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Sign a message with the backup share and the server (EIP-191)."""
    wallet_id = wallet or _open_backup(backup, None).wallet_id
    _sign_message(wallet_id, message, backup, as_json)


@recover_app.command("sign-tx")
def recover_sign_tx(
    backup: Path = BackupOption,
    tx: Path = TxOption,
    wallet: str | None = typer.Option(
        None, "--wallet", "-w", help="The wallet's id (checked against the file)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Sign an EIP-1559 transaction with the backup share and the server."""
    wallet_id = wallet or _open_backup(backup, None).wallet_id
    _sign_tx(wallet_id, tx, backup, as_json)


@recover_app.command("check")
def recover_check(
    backup: Path = BackupOption,
    wallet: str | None = typer.Option(
        None, "--wallet", "-w", help="The wallet's id (checked against the file)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Open the backup file (passphrase) and check its share against the wallet's public data. Offline."""
    opened = _open_backup(backup, wallet)
    passphrase = read_passphrase()
    with clean_errors():
        mpc_signing.open_backup(opened, passphrase)
    _emit(
        {"wallet_id": opened.wallet_id, "address": opened.address, "ok": True},
        as_json,
        ["wallet_id", "address", "ok"],
    )


@recover_app.command("export-key")
def export_key(
    wallet: str = WalletOption,
    backup: Path = BackupOption,
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the private key (hex) to this new file, 0600."
    ),
    to_stdout: bool = typer.Option(
        False, "--stdout", help="Print the private key on stdout (you asked for it)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """OFFLINE: rebuild the private key from the local share and the backup share; print its address."""
    if out is not None and to_stdout:
        fail("give --out FILE or --stdout, not both")
    opened = _open_backup(backup, wallet)
    passphrase = read_passphrase()
    with clean_errors():
        key, key_address = mpc_signing.export_key(wallet, opened, passphrase)
    key_hex = "0x" + key.to_bytes(32, "big").hex()
    result: dict[str, Any] = {"wallet_id": wallet, "address": key_address, "matches_wallet": True}
    if out is not None:
        with clean_errors():
            write_new_private_file(out, (key_hex + "\n").encode("ascii"))
        result["key_file"] = str(out)
    elif to_stdout:
        result["private_key"] = key_hex
    if as_json:
        print_json(result)
        return
    print_fields(result, ["wallet_id", "address", "matches_wallet", "key_file", "private_key"])
    if out is None and not to_stdout:
        info("The key was rebuilt and checked but not written: pass --out FILE (0600) or --stdout.")
