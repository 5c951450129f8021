"""The client party's side of signing, with its own share or with the backup share, and key export.

- ``sign_hash``: the two-round signature of a 32-byte hash. A signature that fails to verify locks the
  pairing here first (sealed flag) and then on the server (CVE-2023-33242): the pairing never signs again.
- ``sign_hash_with_backup``: the backup share (index 3) paired with the server for one signature.
- ``export_key``: the private key rebuilt OFFLINE from the local share and the backup share.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from sigil.client.backup_file import BackupFile
from sigil.client.base import ApiError, ClientError
from sigil.client.local_wallet import LocalWallet, WalletSecrets, save_wallet
from sigil.client.mpc_errors import NoPairing, PairingLocked, ServerMismatch
from sigil.client.mpc_http import MpcClient
from sigil.client.mpc_wallet import (
    check_server_view,
    check_share,
    open_local_wallet,
    pair_share,
    public_fields,
)
from sigil.mpc import arith, pairing, shares, sign
from sigil.mpc.errors import SignatureFailed
from sigil.mpc.ethereum import address_from_private_key, address_from_public_key, recover_address

__all__ = ["MpcSignature", "export_key", "open_backup", "sign_hash", "sign_hash_with_backup"]


@dataclass(frozen=True, slots=True)
class MpcSignature:
    r: int
    s: int
    recovery_id: int
    pairing_id: str


def _two_rounds(
    client: MpcClient,
    *,
    wallet_id: str,
    pairing_id: str,
    client_pairing: pairing.ClientPairing,
    public: shares.WalletPublic,
    message_hash: bytes,
) -> sign.RecoverableSignature:
    """Lindell 2017 Protocol 3.2 as two HTTP round trips; raises ``SignatureFailed`` (caller locks)."""
    started = client.start_signing(pairing_id, message_hash)
    session_hex = str(started["session_id"])
    ctx = sign.SignContext(
        session_id=bytes.fromhex(session_hex),
        pairing_id=pairing_id,
        wallet_id=wallet_id,
        message_hash=message_hash,
    )
    state, nonce = sign.client_sign_nonce(ctx, sign.SignCommitment.from_json(started["commitment"]))
    answer = client.continue_signing(session_hex, nonce.to_json())
    signature = sign.client_sign_finish(
        state, sign.ServerReveal.from_json(answer["reveal"]), client_pairing, public.public_key
    )
    if signature.recovery_id > 1:  # R.x >= q (probability ~2^-128): Ethereum's v cannot say so
        raise ClientError("this signature cannot be expressed with Ethereum's v; sign again")
    # Ethereum names signers by address: the recovery id must lead back to this wallet.
    if recover_address(
        message_hash, signature.r, signature.s, signature.recovery_id
    ) != address_from_public_key(public.public_key):
        raise SignatureFailed("the signature does not recover to the wallet's address")
    return signature


def _lock_on_server(client: MpcClient, pairing_id: str, reason: str) -> None:
    # The local lock stands whatever happens here; a server that already locked it may answer 409.
    with contextlib.suppress(ClientError):
        client.lock_pairing(pairing_id, reason)


def _lock_locally(
    local: LocalWallet,
    secrets_: WalletSecrets,
    pairing_id: str,
    reason: str,
    passphrase: str,
    home: Path | None,
) -> None:
    save_wallet(local.reseal(passphrase, secrets_.with_lock(pairing_id, reason)), home)


def sign_hash(
    client: MpcClient, wallet_id: str, message_hash: bytes, passphrase: str, *, home: Path | None = None
) -> MpcSignature:
    """Sign 32 bytes with this client's newest pairing; lock it (here, then on the server) on failure."""
    if len(message_hash) != 32:
        raise ValueError("the message hash is 32 bytes")
    local, secrets_, public = open_local_wallet(wallet_id, passphrase, home)
    found = secrets_.active_pairing(local.share_index)
    if found is None:
        raise NoPairing(wallet_id)
    pairing_id, entry = found
    if entry.get("locked"):
        raise PairingLocked(wallet_id, pairing_id, entry.get("reason"))
    client_pairing = pairing.ClientPairing.from_json(entry["client_pairing"])
    try:
        signature = _two_rounds(
            client,
            wallet_id=wallet_id,
            pairing_id=pairing_id,
            client_pairing=client_pairing,
            public=public,
            message_hash=message_hash,
        )
    except SignatureFailed:
        reason = "signature failed to verify"
        _lock_locally(local, secrets_, pairing_id, reason, passphrase, home)
        _lock_on_server(client, pairing_id, reason)
        raise PairingLocked(wallet_id, pairing_id, reason) from None
    except ApiError as exc:
        if exc.code == "mpc_pairing_locked":
            reason = "locked on the server"
            _lock_locally(local, secrets_, pairing_id, reason, passphrase, home)
            raise PairingLocked(wallet_id, pairing_id, reason) from None
        raise
    return MpcSignature(signature.r, signature.s, signature.recovery_id, pairing_id)


# --- the backup share --------------------------------------------------------------------------------


def open_backup(backup: BackupFile, passphrase: str) -> tuple[int, shares.WalletPublic]:
    """The backup share, checked against the wallet's public share 3: (x3, WalletPublic)."""
    x3 = backup.unlock(passphrase)
    public = shares.WalletPublic.from_json(backup.wallet_public)
    if public_fields(public)[0] != backup.public_key:
        raise ServerMismatch("the backup file's public data is inconsistent")
    check_share(shares.BACKUP, x3, public)
    return x3, public


def sign_hash_with_backup(
    client: MpcClient, backup: BackupFile, message_hash: bytes, passphrase: str
) -> MpcSignature:
    """Pair the backup share (index 3) with the server for this signature and sign.

    The pairing's Paillier key lives only in memory for this call: the backup share's secrets are never
    written next to the local share (the two together are the whole key).
    """
    if len(message_hash) != 32:
        raise ValueError("the message hash is 32 bytes")
    x3, public = open_backup(backup, passphrase)
    check_server_view(client.get_wallet(backup.wallet_id), backup.public_key, backup.address)
    pairing_id, client_pairing = pair_share(client, public, backup.wallet_id, shares.BACKUP, x3)
    try:
        signature = _two_rounds(
            client,
            wallet_id=backup.wallet_id,
            pairing_id=pairing_id,
            client_pairing=client_pairing,
            public=public,
            message_hash=message_hash,
        )
    except SignatureFailed:
        reason = "signature failed to verify"
        _lock_on_server(client, pairing_id, reason)
        raise PairingLocked(backup.wallet_id, pairing_id, reason) from None
    return MpcSignature(signature.r, signature.s, signature.recovery_id, pairing_id)


def export_key(
    wallet_id: str, backup: BackupFile, passphrase: str, *, home: Path | None = None
) -> tuple[int, str]:
    """OFFLINE: the private key from the local share (1) and the backup share (3), with its address.

    Nothing is sent anywhere; the key is checked against the wallet's public key before it is returned.
    """
    if backup.wallet_id != wallet_id:
        raise ServerMismatch(f"the backup file is for wallet {backup.wallet_id}, not {wallet_id}")
    local, secrets_, public = open_local_wallet(wallet_id, passphrase, home)
    if local.public_key != backup.public_key:
        raise ServerMismatch("the backup file and the local wallet have different public keys")
    x3, _ = open_backup(backup, passphrase)
    check_share(local.share_index, secrets_.share, public)
    key = shares.reconstruct({local.share_index: secrets_.share, shares.BACKUP: x3})
    address = address_from_private_key(key)
    if address != local.address or arith.base_mul(key) != public.public_key:
        raise ServerMismatch("the rebuilt key does not match the wallet's public key")
    return key, address
