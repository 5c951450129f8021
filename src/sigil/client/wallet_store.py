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
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sigil.auth.keystore import (
    NONCE_BYTES,
    SALT_BYTES,
    KdfParams,
    KeystoreCorrupt,
    KeystoreError,
    KeystoreNotFound,
    WrongPassphrase,
    is_private_file,
    sigil_home,
    write_private_file,
)
from sigil.crypto.encoding import b64url_decode, b64url_encode
from sigil.errors import SigilError

__all__ = [
    "BACKUP_KIND",
    "STORE_VERSION",
    "WALLET_KIND",
    "BackupFile",
    "LocalWallet",
    "PairingRecord",
    "WalletSecrets",
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

STORE_VERSION = 1
WALLET_KIND = "sigil-mpc-wallet"
BACKUP_KIND = "sigil-mpc-backup"
_Q = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_WALLET_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


# --- locations ---------------------------------------------------------------------------------------


def wallets_dir(home: Path | None = None) -> Path:
    return (home or sigil_home()) / "mpc"


def check_wallet_id(wallet_id: str) -> str:
    """Wallet ids become file names: only a safe alphabet, never a path."""
    if not isinstance(wallet_id, str) or not _WALLET_ID.match(wallet_id) or wallet_id in (".", ".."):
        raise KeystoreError(f"not a wallet id: {wallet_id!r}")
    return wallet_id


def wallet_path(wallet_id: str, home: Path | None = None) -> Path:
    return wallets_dir(home) / f"{check_wallet_id(wallet_id)}.json"


def default_backup_path(wallet_id: str) -> Path:
    return Path(f"sigil-backup-{check_wallet_id(wallet_id)}.json")


# --- sealing (the keystore's scrypt + AES-256-GCM, for any payload) ------------------------------


def _aad(kind: str, wallet_id: str, public_key: str, share_index: int) -> bytes:
    bound = {
        "kind": kind,
        "public_key": public_key.lower(),
        "share_index": share_index,
        "version": STORE_VERSION,
        "wallet_id": wallet_id,
    }
    return json.dumps(bound, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _seal(passphrase: str, plaintext: bytes, aad: bytes) -> dict[str, Any]:
    if not passphrase:
        raise KeystoreError("the passphrase must not be empty")
    kdf = KdfParams(salt=secrets.token_bytes(SALT_BYTES))
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(kdf.derive(passphrase)).encrypt(nonce, plaintext, aad)
    return {
        "kdf": kdf.to_dict(),
        "cipher": "aes-256-gcm",
        "nonce": b64url_encode(nonce),
        "ciphertext": b64url_encode(ciphertext),
    }


def _open(sealed: Mapping[str, Any], passphrase: str, aad: bytes) -> bytes:
    if sealed.get("cipher", "aes-256-gcm") != "aes-256-gcm":
        raise KeystoreCorrupt("cipher must be aes-256-gcm")
    kdf = KdfParams.from_dict(sealed.get("kdf"))
    nonce = _b64(sealed, "nonce")
    ciphertext = _b64(sealed, "ciphertext")
    if len(nonce) != NONCE_BYTES or len(ciphertext) < 16:
        raise KeystoreCorrupt("nonce or ciphertext has the wrong length")
    try:
        return AESGCM(kdf.derive(passphrase)).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise WrongPassphrase() from None


def _b64(data: Mapping[str, Any], name: str) -> bytes:
    value = data.get(name)
    if not isinstance(value, str):
        raise KeystoreCorrupt(f"{name} must be a base64url string")
    try:
        return b64url_decode(value)
    except SigilError:
        raise KeystoreCorrupt(f"{name} is not base64url") from None


def _share_from_hex(value: Any) -> int:
    if not isinstance(value, str):
        raise KeystoreCorrupt("share must be hex")
    try:
        share = int(value, 16)
    except ValueError:
        raise KeystoreCorrupt("share must be hex") from None
    if not 1 <= share < _Q:
        raise KeystoreCorrupt("share out of range")
    return share


def _str(data: Mapping[str, Any], name: str, *, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise KeystoreCorrupt(f"{name} must be a non-empty string")
    return value


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeystoreNotFound(f"no {what} at {path}") from None
    except OSError as exc:
        raise KeystoreError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise KeystoreCorrupt(f"{path} is not JSON") from None
    if not isinstance(data, dict):
        raise KeystoreCorrupt(f"{path} is not a JSON object")
    if data.get("version") != STORE_VERSION:
        raise KeystoreCorrupt(f"{path}: unsupported version (this build reads {STORE_VERSION})")
    return data


def _dump(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


# --- the local wallet --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairingRecord:
    """A pairing as the clear part lists it (no secret)."""

    pairing_id: str
    client_index: int
    locked: bool = False
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairing_id": self.pairing_id,
            "client_index": self.client_index,
            "locked": self.locked,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True, repr=False)
class WalletSecrets:
    """What the passphrase protects: this client's share and its pairings' secrets (Paillier key, w1)."""

    share: int
    pairings: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # pid -> {client_pairing, locked, reason}

    def to_bytes(self) -> bytes:
        body = {"share": format(self.share, "x"), "pairings": self.pairings}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> WalletSecrets:
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise KeystoreCorrupt("sealed wallet payload is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("pairings"), dict):
            raise KeystoreCorrupt("sealed wallet payload is malformed")
        for pid, entry in body["pairings"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("client_pairing"), dict):
                raise KeystoreCorrupt(f"sealed pairing {pid} is malformed")
        return cls(share=_share_from_hex(body.get("share")), pairings=body["pairings"])

    def active_pairing(self, client_index: int) -> tuple[str, dict[str, Any]] | None:
        """The newest pairing of ``client_index`` (highest ``seq``), if any."""
        mine = [
            (int(e.get("seq", 0)), pid, e)
            for pid, e in self.pairings.items()
            if e.get("client_index", 1) == client_index
        ]
        if not mine:
            return None
        _, pid, entry = max(mine, key=lambda item: item[0])
        return pid, entry

    def with_pairing(
        self, pairing_id: str, client_index: int, client_pairing: dict[str, Any]
    ) -> WalletSecrets:
        pairings = dict(self.pairings)
        seq = 1 + max((int(e.get("seq", 0)) for e in pairings.values()), default=0)
        pairings[pairing_id] = {
            "client_pairing": client_pairing,
            "client_index": client_index,
            "locked": False,
            "reason": None,
            "seq": seq,
        }
        return replace(self, pairings=pairings)

    def with_lock(self, pairing_id: str, reason: str) -> WalletSecrets:
        pairings = dict(self.pairings)
        entry = dict(pairings.get(pairing_id, {"client_pairing": {}, "client_index": 1}))
        entry.update(locked=True, reason=reason)
        pairings[pairing_id] = entry
        return replace(self, pairings=pairings)

    def __repr__(self) -> str:
        return f"WalletSecrets(<share hidden>, pairings={sorted(self.pairings)})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True, repr=False)
class LocalWallet:
    """One wallet file: public data in clear, the secrets sealed (``sealed`` is the encrypted part)."""

    wallet_id: str
    address: str
    public_key: str  # compressed SEC1 hex
    public_shares: dict[str, str]
    wallet_public: dict[str, Any]
    sealed: dict[str, Any]
    share_index: int = 1
    label: str | None = None
    server_url: str | None = None
    pairings: tuple[PairingRecord, ...] = ()

    @property
    def _aad(self) -> bytes:
        return _aad(WALLET_KIND, self.wallet_id, self.public_key, self.share_index)

    @classmethod
    def create(
        cls,
        passphrase: str,
        secrets_: WalletSecrets,
        *,
        wallet_id: str,
        address: str,
        public_key: str,
        public_shares: Mapping[str, str],
        wallet_public: Mapping[str, Any],
        share_index: int = 1,
        label: str | None = None,
        server_url: str | None = None,
    ) -> LocalWallet:
        blank = cls(
            wallet_id=check_wallet_id(wallet_id),
            address=address,
            public_key=public_key.lower(),
            public_shares={str(k): v for k, v in public_shares.items()},
            wallet_public=dict(wallet_public),
            sealed={},
            share_index=share_index,
            label=label,
            server_url=server_url,
        )
        return blank.reseal(passphrase, secrets_)

    def unlock(self, passphrase: str) -> WalletSecrets:
        """The sealed secrets; ``WrongPassphrase`` for a wrong passphrase or an edited bound field."""
        return WalletSecrets.from_bytes(_open(self.sealed, passphrase, self._aad))

    def reseal(self, passphrase: str, secrets_: WalletSecrets) -> LocalWallet:
        """The same wallet with new secrets (fresh salt and nonce) and the clear pairing list updated."""
        records = tuple(
            PairingRecord(
                pairing_id=pid,
                client_index=int(entry.get("client_index", 1)),
                locked=bool(entry.get("locked")),
                reason=entry.get("reason"),
            )
            for pid, entry in sorted(secrets_.pairings.items(), key=lambda item: int(item[1].get("seq", 0)))
        )
        return replace(self, sealed=_seal(passphrase, secrets_.to_bytes(), self._aad), pairings=records)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STORE_VERSION,
            "kind": WALLET_KIND,
            "wallet_id": self.wallet_id,
            "address": self.address,
            "public_key": self.public_key,
            "public_shares": self.public_shares,
            "label": self.label,
            "server_url": self.server_url,
            "share_index": self.share_index,
            "wallet_public": self.wallet_public,
            "pairings": [p.to_dict() for p in self.pairings],
            **self.sealed,
        }

    def summary(self) -> dict[str, Any]:
        """The public facts, for ``list``/``address`` output."""
        return {
            "wallet_id": self.wallet_id,
            "address": self.address,
            "public_key": self.public_key,
            "label": self.label,
            "server_url": self.server_url,
            "pairings": [p.to_dict() for p in self.pairings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LocalWallet:
        if data.get("kind") != WALLET_KIND:
            raise KeystoreCorrupt("not a Sigil MPC wallet file")
        shares = data.get("public_shares")
        public = data.get("wallet_public")
        index = data.get("share_index")
        if not isinstance(shares, dict) or not isinstance(public, dict) or index not in (1, 3):
            raise KeystoreCorrupt("wallet file is malformed")
        records = []
        for item in data.get("pairings") or []:
            if not isinstance(item, dict) or not isinstance(item.get("pairing_id"), str):
                raise KeystoreCorrupt("wallet file has a malformed pairing")
            records.append(
                PairingRecord(
                    pairing_id=item["pairing_id"],
                    client_index=int(item.get("client_index", 1)),
                    locked=bool(item.get("locked")),
                    reason=item.get("reason") if isinstance(item.get("reason"), str) else None,
                )
            )
        return cls(
            wallet_id=check_wallet_id(_str(data, "wallet_id")),
            address=_str(data, "address"),
            public_key=_str(data, "public_key").lower(),
            public_shares={str(k): str(v) for k, v in shares.items()},
            wallet_public=public,
            sealed={k: data.get(k) for k in ("kdf", "cipher", "nonce", "ciphertext")},
            share_index=index,
            label=_str(data, "label", optional=True),
            server_url=_str(data, "server_url", optional=True),
            pairings=tuple(records),
        )

    def __repr__(self) -> str:
        return f"LocalWallet(wallet_id={self.wallet_id!r}, address={self.address!r})"

    __str__ = __repr__


def save_wallet(wallet: LocalWallet, home: Path | None = None) -> Path:
    target = wallet_path(wallet.wallet_id, home)
    write_private_file(target, _dump(wallet.to_dict()))
    return target


def load_wallet(wallet_id: str, home: Path | None = None) -> LocalWallet:
    path = wallet_path(wallet_id, home)
    if not path.exists():
        raise KeystoreNotFound(f"wallet {wallet_id} has no local share here ({path})")
    return LocalWallet.from_dict(_read_json(path, "wallet file"))


def list_wallets(home: Path | None = None) -> list[LocalWallet]:
    folder = wallets_dir(home)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            out.append(LocalWallet.from_dict(_read_json(path, "wallet file")))
        except KeystoreError:
            continue  # a stray or damaged file is not a wallet; `address`/`sign` name it when asked
    return out


# --- the backup share ------------------------------------------------------------------------------


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
        return _aad(BACKUP_KIND, self.wallet_id, self.public_key, self.share_index)

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
        if not 1 <= share < _Q:
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
        return replace(blank, sealed=_seal(passphrase, share.to_bytes(32, "big"), blank._aad))

    def unlock(self, passphrase: str) -> int:
        raw = _open(self.sealed, passphrase, self._aad)
        if len(raw) != 32:
            raise KeystoreCorrupt("the sealed backup share has the wrong length")
        return _share_from_hex(raw.hex())

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
        return cls(
            wallet_id=check_wallet_id(_str(data, "wallet_id")),
            address=_str(data, "address"),
            public_key=_str(data, "public_key").lower(),
            public_shares={str(k): str(v) for k, v in shares.items()},
            wallet_public=public,
            sealed={k: data.get(k) for k in ("kdf", "cipher", "nonce", "ciphertext")},
        )

    def __repr__(self) -> str:
        return f"BackupFile(wallet_id={self.wallet_id!r}, address={self.address!r})"

    __str__ = __repr__


def save_backup(backup: BackupFile, path: Path, *, overwrite: bool = False) -> Path:
    """Write the backup file with mode 0600 from its first byte; never replaces a file unless asked.

    The folder is the user's choice (often the working directory): it is used as it is, not chmod-ed.
    """
    data = _dump(backup.to_dict())
    if overwrite:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        write_new_private_file(tmp, data)
        os.replace(tmp, path)
    else:
        write_new_private_file(path, data)
    return path


def write_new_private_file(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeystoreError(f"{path} already exists; not overwriting it") from None
    except OSError as exc:
        raise KeystoreError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise


def load_backup(path: Path) -> BackupFile:
    return BackupFile.from_dict(_read_json(path, "backup file"))
