"""The client party's side of making an MPC wallet and pairing a share with the server.

- ``create_wallet``: 2-party DKG (default; the full key never exists anywhere) or dealer mode (this client
  deals 2-of-3 shares and sends the server's share sealed to the server's transport key). The client keeps
  share 1 (local wallet file) and writes share 3 to the backup file, both sealed under the passphrase;
  then it pairs share 1 with the server.
- ``pair``: a fresh pairing (Paillier key, c_key, proofs) — also the way out of a locked pairing.

The checks and the pairing step here are shared with signing and recovery (:mod:`sigil.client.mpc_signing`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigil.client.backup_file import BackupFile, default_backup_path, save_backup
from sigil.client.base import ClientError
from sigil.client.local_wallet import LocalWallet, WalletSecrets, load_wallet, save_wallet, wallet_path
from sigil.client.mpc_errors import PairingIncomplete, ServerMismatch
from sigil.client.mpc_http import MpcClient
from sigil.errors import SigilError
from sigil.mpc import arith, keygen, pairing, ringpedersen, shares
from sigil.mpc.errors import MpcError
from sigil.mpc.ethereum import address_from_public_key

__all__ = [
    "PAILLIER_BITS",
    "CreatedWallet",
    "check_server_view",
    "check_share",
    "create_wallet",
    "open_local_wallet",
    "pair",
    "pair_share",
    "public_fields",
    "resolve_server_url",
]

PAILLIER_BITS = 2048


@dataclass(frozen=True, slots=True)
class CreatedWallet:
    wallet_id: str
    address: str
    public_key: str
    backup: str
    pairing_id: str | None
    mode: str
    wallet_file: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "wallet_id": self.wallet_id,
            "address": self.address,
            "backup": self.backup,
            "public_key": self.public_key,
            "pairing_id": self.pairing_id,
            "mode": self.mode,
            "wallet_file": self.wallet_file,
        }


# --- checks and steps shared with signing and recovery ----------------------------------------------


def _point_hex(point: arith.Point) -> str:
    return bytes(point.to_bytes(compressed=True)).hex()


def public_fields(public: shares.WalletPublic) -> tuple[str, dict[str, str]]:
    """(public key hex, {"1": X1, "2": X2, "3": X3}) of a ``WalletPublic``."""
    return _point_hex(public.public_key), {str(i): _point_hex(p) for i, p in public.public_shares.items()}


def check_server_view(answer: Mapping[str, Any], public_key: str, address: str) -> None:
    """The server's wallet must be the one this client computed: same public key, same address."""
    theirs = str(answer.get("public_key", "")).lower()
    if theirs and theirs != public_key:
        raise ServerMismatch("the server reports another public key than the one computed here")
    if str(answer.get("address", address)).lower() != address.lower():
        raise ServerMismatch("the server reports another address than the one computed here")


def check_share(index: int, share: int, public: shares.WalletPublic) -> None:
    if arith.base_mul(share) != public.public_shares[index]:
        raise ServerMismatch(f"share {index} does not match its public commitment")


def open_local_wallet(
    wallet_id: str, passphrase: str, home: Path | None
) -> tuple[LocalWallet, WalletSecrets, shares.WalletPublic]:
    """The local wallet file, its unsealed secrets and its ``WalletPublic``."""
    local = load_wallet(wallet_id, home)
    secrets_ = local.unlock(passphrase)
    public = shares.WalletPublic.from_json(local.wallet_public)
    return local, secrets_, public


def _server_params(client: MpcClient) -> ringpedersen.ServerParams:
    return ringpedersen.ServerParams.from_json(client.params()["server_params"])


def pair_share(
    client: MpcClient, public: shares.WalletPublic, wallet_id: str, index: int, share: int
) -> tuple[str, pairing.ClientPairing]:
    """One pairing of share ``index`` with the server: (pairing_id, ClientPairing)."""
    params = _server_params(client)
    answer = client.start_pairing(wallet_id, index)
    context = pairing.PairingContext(
        wallet_id=wallet_id,
        pairing_id=str(answer["pairing_id"]),
        nonce=bytes.fromhex(answer["nonce"]),
        client_index=index,
        public_key=public.public_key,
    )
    w = shares.additive_share(index, share, (min(index, shares.SERVER), max(index, shares.SERVER)))
    client_pairing, request = pairing.client_pair(context, w, params, paillier_bits=PAILLIER_BITS)
    client.finish_pairing(context.pairing_id, request.to_json())
    return context.pairing_id, client_pairing


# --- creating a wallet -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CheckedWallet:
    """The public facts of a new wallet, checked against the server's answer and the client's shares."""

    wallet_id: str
    address: str
    public_key: str
    public_shares: dict[str, str]
    wallet_public: dict[str, Any]


def create_wallet(
    client: MpcClient,
    passphrase: str,
    *,
    dealer: bool = False,
    label: str | None = None,
    backup_path: Path | None = None,
    home: Path | None = None,
) -> CreatedWallet:
    """Make a 2-of-3 wallet with the server, save share 1 and the backup share 3, pair share 1."""
    if dealer:
        public, x1, x3, answer = _dealer_keygen(client, label)
    else:
        public, x1, x3, answer = _dkg(client, label)
    wallet = _check_new_wallet(answer, public, x1, x3)
    # Both shares are on disk before anything else can fail: the server already holds its share.
    backup = backup_path or default_backup_path(wallet.wallet_id)
    _save_backup_share(wallet, passphrase, x3, backup)
    path = _save_local_share(wallet, passphrase, x1, label=label, server_url=client.url, home=home)
    try:
        pairing_id = pair(client, wallet.wallet_id, passphrase, home=home)
    except (ClientError, MpcError) as exc:
        raise PairingIncomplete(wallet.wallet_id, wallet.address, str(backup), str(exc)) from None
    return CreatedWallet(
        wallet_id=wallet.wallet_id,
        address=wallet.address,
        public_key=wallet.public_key,
        backup=str(backup),
        pairing_id=pairing_id,
        mode="dealer" if dealer else "dkg",
        wallet_file=str(path),
    )


def _dkg(client: MpcClient, label: str | None) -> tuple[shares.WalletPublic, int, int, dict[str, Any]]:
    started = client.start_keygen()
    session_id = bytes.fromhex(started["session_id"])
    state, message = keygen.client_dkg_round(
        session_id, keygen.DkgCommitment.from_json(started["commitment"])
    )
    answer = client.finish_keygen(str(started["keygen_id"]), message.to_json(), label)
    public, x1, x3 = keygen.client_dkg_finish(state, keygen.DkgServerMessage.from_json(answer["message"]))
    return public, x1, x3, answer


def _dealer_keygen(
    client: MpcClient, label: str | None
) -> tuple[shares.WalletPublic, int, int, dict[str, Any]]:
    from sigil.mpc import transport  # dealer mode only (ECIES needs `cryptography`)

    transport_pem = str(client.params()["transport_key_pem"]).encode("ascii")
    feldman, dealt = shares.deal()
    sealed = transport.seal_share(transport_pem, dealt[shares.SERVER], keygen.dealer_aad(feldman))
    answer = client.create_dealt_wallet(feldman.to_json(), sealed, label)
    public = shares.WalletPublic.from_feldman(feldman)
    return public, dealt[shares.CLIENT], dealt[shares.BACKUP], answer


def _check_new_wallet(
    answer: Mapping[str, Any], public: shares.WalletPublic, x1: int, x3: int
) -> _CheckedWallet:
    """The new wallet as this client computed it; the server must agree and both shares must match."""
    wallet_id = str(answer["wallet_id"])
    public_key, public_shares = public_fields(public)
    address = address_from_public_key(public.public_key)
    check_server_view(answer, public_key, address)
    check_share(shares.CLIENT, x1, public)
    check_share(shares.BACKUP, x3, public)
    return _CheckedWallet(
        wallet_id=wallet_id,
        address=address,
        public_key=public_key,
        public_shares=public_shares,
        wallet_public=public.to_json(),
    )


def _save_backup_share(wallet: _CheckedWallet, passphrase: str, x3: int, backup: Path) -> None:
    sealed = BackupFile.seal(
        passphrase,
        x3,
        wallet_id=wallet.wallet_id,
        address=wallet.address,
        public_key=wallet.public_key,
        public_shares=wallet.public_shares,
        wallet_public=wallet.wallet_public,
    )
    save_backup(sealed, backup)


def _save_local_share(
    wallet: _CheckedWallet,
    passphrase: str,
    x1: int,
    *,
    label: str | None,
    server_url: str,
    home: Path | None,
) -> Path:
    local = LocalWallet.create(
        passphrase,
        WalletSecrets(share=x1),
        wallet_id=wallet.wallet_id,
        address=wallet.address,
        public_key=wallet.public_key,
        public_shares=wallet.public_shares,
        wallet_public=wallet.wallet_public,
        label=label,
        server_url=server_url,
    )
    return save_wallet(local, home)


# --- pairing -----------------------------------------------------------------------------------------


def pair(client: MpcClient, wallet_id: str, passphrase: str, *, home: Path | None = None) -> str:
    """A new pairing of this client's share with the server, saved (sealed) as the one to sign with."""
    local, secrets_, public = open_local_wallet(wallet_id, passphrase, home)
    pairing_id, client_pairing = pair_share(client, public, wallet_id, local.share_index, secrets_.share)
    updated = secrets_.with_pairing(pairing_id, local.share_index, client_pairing.to_json())
    save_wallet(local.reseal(passphrase, updated), home)
    return pairing_id


def resolve_server_url(wallet_id: str | None, home: Path | None = None) -> str | None:
    """``SIGIL_URL``, else the server the local wallet was made with (else the SDK default)."""
    env = os.environ.get("SIGIL_URL")
    if env or wallet_id is None or not wallet_path(wallet_id, home).exists():
        return env or None
    try:
        return load_wallet(wallet_id, home).server_url
    except SigilError:
        return None
