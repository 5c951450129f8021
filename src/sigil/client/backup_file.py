"""The backup share file: share 3 of a wallet, sealed under the passphrase, kept away from share 1.

``./sigil-backup-<wallet_id>.json`` by default; the format is in :mod:`sigil.client.wallet_store`. The share
never appears in a repr, an exception message or the clear part.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sigil.auth.keystore import KeystoreCorrupt, KeystoreError
from sigil.client.wallet_sealing import (
    SECP256K1_ORDER,
    STORE_VERSION,
    bound_aad,
    check_wallet_id,
    dump_store_file,
    open_payload,
    read_store_file,
    seal_payload,
    share_from_hex,
    stored_public_fields,
    write_new_private_file,
)

__all__ = ["BACKUP_KIND", "BackupFile", "default_backup_path", "load_backup", "save_backup"]

BACKUP_KIND = "sigil-mpc-backup"


def default_backup_path(wallet_id: str) -> Path:
    return Path(f"sigil-backup-{check_wallet_id(wallet_id)}.json")


@dataclass(frozen=True, slots=True, repr=False)
class BackupFile:
    """The backup share (index 3) of a wallet, sealed under the passphrase."""

    wallet_id: str
    address: str
    public_key: str
    public_shares: dict[str, str]
    wallet_public: dict[str, Any]
    sealed: dict[str, Any]
    share_index: int = 3

    @property
    def _aad(self) -> bytes:
        return bound_aad(BACKUP_KIND, self.wallet_id, self.public_key, self.share_index)

    @classmethod
    def seal(
        cls,
        passphrase: str,
        share: int,
        *,
        wallet_id: str,
        address: str,
        public_key: str,
        public_shares: Mapping[str, str],
        wallet_public: Mapping[str, Any],
        share_index: int = 3,
    ) -> BackupFile:
        if not 1 <= share < SECP256K1_ORDER:
            raise KeystoreError("share out of range")
        blank = cls(
            wallet_id=check_wallet_id(wallet_id),
            address=address,
            public_key=public_key.lower(),
            public_shares={str(k): v for k, v in public_shares.items()},
            wallet_public=dict(wallet_public),
            sealed={},
            share_index=share_index,
        )
        return replace(blank, sealed=seal_payload(passphrase, share.to_bytes(32, "big"), blank._aad))

    def unlock(self, passphrase: str) -> int:
        raw = open_payload(self.sealed, passphrase, self._aad)
        if len(raw) != 32:
            raise KeystoreCorrupt("the sealed backup share has the wrong length")
        return share_from_hex(raw.hex())

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STORE_VERSION,
            "kind": BACKUP_KIND,
            "wallet_id": self.wallet_id,
            "address": self.address,
            "public_key": self.public_key,
            "share_index": self.share_index,
            "public_shares": self.public_shares,
            "wallet_public": self.wallet_public,
            **self.sealed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackupFile:
        if data.get("kind") != BACKUP_KIND:
            raise KeystoreCorrupt("not a Sigil MPC backup file")
        shares = data.get("public_shares")
        public = data.get("wallet_public")
        if not isinstance(shares, dict) or not isinstance(public, dict) or data.get("share_index") != 3:
            raise KeystoreCorrupt("backup file is malformed")
        return cls(**stored_public_fields(data, shares, public))

    def __repr__(self) -> str:
        return f"BackupFile(wallet_id={self.wallet_id!r}, address={self.address!r})"

    __str__ = __repr__


def save_backup(backup: BackupFile, path: Path, *, overwrite: bool = False) -> Path:
    """Write the backup file with mode 0600 from its first byte; never replaces a file unless asked.

    The folder is the user's choice (often the working directory): it is used as it is, not chmod-ed.
    """
    data = dump_store_file(backup.to_dict())
    if overwrite:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        write_new_private_file(tmp, data)
        os.replace(tmp, path)
    else:
        write_new_private_file(path, data)
    return path


def load_backup(path: Path) -> BackupFile:
    return BackupFile.from_dict(read_store_file(path, "backup file"))
