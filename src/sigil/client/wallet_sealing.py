"""What the local wallet file and the backup share file share: sealing under a passphrase, and file I/O.

The sealing is the device keystore's (:mod:`sigil.auth.keystore`) applied to any payload: scrypt turns the
passphrase into an AES-256-GCM key, with a fresh salt and nonce per write; the associated data binds the
file's version, kind, wallet id, public key and share index. The file formats are in
:mod:`sigil.client.wallet_store`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Mapping
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
    b64url_field,
)
from sigil.crypto.encoding import b64url_encode

__all__ = [
    "SECP256K1_ORDER",
    "STORE_VERSION",
    "bound_aad",
    "check_wallet_id",
    "dump_store_file",
    "open_payload",
    "read_store_file",
    "required_str",
    "seal_payload",
    "share_from_hex",
    "stored_public_fields",
    "write_new_private_file",
]

STORE_VERSION = 1
# A share is a scalar of secp256k1: 1 <= share < q.
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_WALLET_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def check_wallet_id(wallet_id: str) -> str:
    """Wallet ids become file names: only a safe alphabet, never a path."""
    if not isinstance(wallet_id, str) or not _WALLET_ID.match(wallet_id) or wallet_id in (".", ".."):
        raise KeystoreError(f"not a wallet id: {wallet_id!r}")
    return wallet_id


# --- sealing (the keystore's scrypt + AES-256-GCM, for any payload) ------------------------------


def bound_aad(kind: str, wallet_id: str, public_key: str, share_index: int) -> bytes:
    """The associated data of a sealed payload: the clear fields an edit must not get past."""
    bound = {
        "kind": kind,
        "public_key": public_key.lower(),
        "share_index": share_index,
        "version": STORE_VERSION,
        "wallet_id": wallet_id,
    }
    return json.dumps(bound, sort_keys=True, separators=(",", ":")).encode("utf-8")


def seal_payload(passphrase: str, plaintext: bytes, aad: bytes) -> dict[str, Any]:
    """The sealed fields of a file (``kdf``, ``cipher``, ``nonce``, ``ciphertext``) for ``plaintext``."""
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


def open_payload(sealed: Mapping[str, Any], passphrase: str, aad: bytes) -> bytes:
    """The plaintext sealed by :func:`seal_payload`; ``WrongPassphrase`` if the passphrase or aad differ."""
    if sealed.get("cipher", "aes-256-gcm") != "aes-256-gcm":
        raise KeystoreCorrupt("cipher must be aes-256-gcm")
    kdf = KdfParams.from_dict(sealed.get("kdf"))
    nonce = b64url_field(sealed, "nonce")
    ciphertext = b64url_field(sealed, "ciphertext")
    if len(nonce) != NONCE_BYTES or len(ciphertext) < 16:
        raise KeystoreCorrupt("nonce or ciphertext has the wrong length")
    try:
        return AESGCM(kdf.derive(passphrase)).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise WrongPassphrase() from None


# --- reading fields ------------------------------------------------------------------------------


def share_from_hex(value: Any) -> int:
    if not isinstance(value, str):
        raise KeystoreCorrupt("share must be hex")
    try:
        share = int(value, 16)
    except ValueError:
        raise KeystoreCorrupt("share must be hex") from None
    if not 1 <= share < SECP256K1_ORDER:
        raise KeystoreCorrupt("share out of range")
    return share


def required_str(data: Mapping[str, Any], name: str, *, optional: bool = False) -> Any:
    """``data[name]`` as a non-empty string (``None`` allowed if ``optional``), else ``KeystoreCorrupt``."""
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise KeystoreCorrupt(f"{name} must be a non-empty string")
    return value


def stored_public_fields(
    data: Mapping[str, Any], shares: dict[Any, Any], public: dict[str, Any]
) -> dict[str, Any]:
    """The fields a wallet file and a backup file share, read from ``data`` (whose
    ``public_shares`` and ``wallet_public`` the caller has checked to be objects): keyword
    arguments for either class, the sealed part as stored."""
    return {
        "wallet_id": check_wallet_id(required_str(data, "wallet_id")),
        "address": required_str(data, "address"),
        "public_key": required_str(data, "public_key").lower(),
        "public_shares": {str(k): str(v) for k, v in shares.items()},
        "wallet_public": public,
        "sealed": {k: data.get(k) for k in ("kdf", "cipher", "nonce", "ciphertext")},
    }


# --- files ---------------------------------------------------------------------------------------


def read_store_file(path: Path, what: str) -> dict[str, Any]:
    """A version-1 store file as a JSON object; ``what`` names it in errors."""
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


def dump_store_file(data: Mapping[str, Any]) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


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
