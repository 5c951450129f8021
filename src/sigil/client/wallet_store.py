"""The client side of an MPC wallet at rest: the local wallet file and the backup share file.

Both are JSON files sealed the way the device keystore is (:mod:`sigil.auth.keystore`): scrypt (N = 2^15,
r = 8, p = 1, fresh 16-byte salt) turns the passphrase into an AES-256-GCM key; a fresh 96-bit nonce per
write; the associated data binds the file's version, kind, wallet id, public key and share index, so a
sealed share moved into another wallet's file (or an edited public key) no longer opens. Files are written
atomically with mode 0600 under directories with mode 0700.

Local wallet, ``$SIGIL_HOME/mpc/<wallet_id>.json`` (version 1)::

    {"version": 1, "kind": "sigil-mpc-wallet", "wallet_id", "address", "public_key" (hex, compressed),
     "public_shares": {"1": hex, "2": hex, "3": hex}, "label", "server_url", "share_index": 1,
     "wallet_public": WalletPublic.to_json(),
     "pairings": [{"pairing_id", "client_index", "locked", "reason"}],     # a clear copy, for `list`
     "kdf": {...}, "cipher": "aes-256-gcm", "nonce", "ciphertext"}
    sealed: {"share": hex x_i, "pairings": {pairing_id: {"client_pairing": ClientPairing.to_json(),
                                                          "locked": bool, "reason": str | null}}}

The sealed ``locked`` flag is the one that counts (the clear copy only saves a passphrase when listing):
a pairing whose signature failed to verify stays locked even if someone edits the clear part.

Backup share, ``./sigil-backup-<wallet_id>.json`` by default (version 1)::

    {"version": 1, "kind": "sigil-mpc-backup", "wallet_id", "address", "public_key", "share_index": 3,
     "public_shares", "wallet_public", "kdf", "cipher", "nonce", "ciphertext"}     sealed: the 32-byte x_3

No share, Paillier factor or pairing secret appears in a repr, an exception message or the clear part.

This module is the public face of the store; the code lives in :mod:`sigil.client.local_wallet` (the wallet
file), :mod:`sigil.client.backup_file` (the backup share) and :mod:`sigil.client.wallet_sealing` (the
sealing and the file I/O both share).
"""

from sigil.auth.keystore import is_private_file
from sigil.client.backup_file import BACKUP_KIND, BackupFile, default_backup_path, load_backup, save_backup
from sigil.client.local_wallet import (
    WALLET_KIND,
    LocalWallet,
    PairingRecord,
    WalletSecrets,
    list_wallets,
    load_wallet,
    save_wallet,
    wallet_path,
    wallets_dir,
)
from sigil.client.wallet_sealing import STORE_VERSION, check_wallet_id, write_new_private_file

__all__ = [
    "BACKUP_KIND",
    "STORE_VERSION",
    "WALLET_KIND",
    "BackupFile",
    "LocalWallet",
    "PairingRecord",
    "WalletSecrets",
    "check_wallet_id",
    "default_backup_path",
    "is_private_file",
    "list_wallets",
    "load_backup",
    "load_wallet",
    "save_backup",
    "save_wallet",
    "wallet_path",
    "wallets_dir",
    "write_new_private_file",
]
