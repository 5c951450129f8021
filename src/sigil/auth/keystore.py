"""The device keystore: a device's P-256 private key, encrypted under a passphrase, in one JSON file.

Format (version 1), one JSON object::

    {"version": 1,
     "kdf": {"name": "scrypt", "salt": <b64url 16 bytes>, "n": 32768, "r": 8, "p": 1, "length": 32},
     "cipher": "aes-256-gcm", "nonce": <b64url 12 bytes>, "ciphertext": <b64url d || tag>,
     "user": ..., "public_key_hex": <SEC1 uncompressed Q>, "device_id": ... | null, "server_url": ... | null}

- Key derivation: scrypt (RFC 7914) of the UTF-8 passphrase, N = 2^15, r = 8, p = 1, a fresh 16-byte salt.
- Encryption: AES-256-GCM (NIST SP 800-38D) of the 32-byte scalar d with a fresh 96-bit nonce. The associated
  data binds the format version, the user and the public key, so a file whose ``user`` or ``public_key_hex``
  was edited no longer opens. ``device_id`` and ``server_url`` are not secret and change after registration:
  they are not bound (a wrong device id only makes the server refuse the login).
- Files are written atomically (temporary file, fsync, rename) with mode 0600, in ``$SIGIL_HOME/devices``
  (default ``~/.config/sigil/devices``; directories 0700). A session token saved by ``sigil device login``
  lives beside its keystore (``<user>.session``, 0600; ``sigil.auth.saved_session``).

The private key never appears in a repr, a log line or an exception message; a wrong passphrase is a
``WrongPassphrase`` error, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sigil.crypto import P256, PrivateKey
from sigil.crypto.encoding import b64url_decode, b64url_encode
from sigil.errors import SigilError

__all__ = [
    "KEYSTORE_VERSION",
    "KdfParams",
    "Keystore",
    "KeystoreCorrupt",
    "KeystoreError",
    "KeystoreNotFound",
    "WrongPassphrase",
    "b64url_field",
    "devices_dir",
    "is_private_file",
    "keystore_path",
    "list_keystores",
    "load_keystore",
    "save_keystore",
    "session_path",
    "sigil_home",
    "write_private_file",
]

KEYSTORE_VERSION = 1
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
NONCE_BYTES = 12
# Bounds on the KDF parameters read from a file: a crafted file must not make us allocate gigabytes.
_MAX_LOG2_N = 20
_MAX_R = 32
_MAX_P = 16


class KeystoreError(SigilError):
    """A keystore problem on the device side (never carries key material)."""

    code = "keystore_error"
    status = 400
    title = "Keystore error"


class KeystoreNotFound(KeystoreError):
    code = "keystore_not_found"
    status = 404
    title = "No keystore"


class KeystoreCorrupt(KeystoreError):
    """The file is not a version-1 keystore (bad JSON, missing or malformed fields)."""

    code = "keystore_corrupt"
    title = "Keystore file is malformed"


class WrongPassphrase(KeystoreError):
    """Decryption failed: the passphrase is wrong, or the file's bound fields or ciphertext were edited."""

    code = "wrong_passphrase"
    status = 401
    title = "Wrong passphrase, or the keystore file was modified"


# --- locations ---------------------------------------------------------------------------------------


def sigil_home() -> Path:
    """``$SIGIL_HOME``, else ``~/.config/sigil``."""
    env = os.environ.get("SIGIL_HOME")
    return Path(env).expanduser() if env else Path.home() / ".config" / "sigil"


def devices_dir(home: Path | None = None) -> Path:
    return (home or sigil_home()) / "devices"


def _file_stem(user: str) -> str:
    if not user:
        raise KeystoreError("user name must not be empty")
    # Percent-encode everything but a safe set, so no user name can name a path outside the directory.
    return quote(user, safe="@+-_.")


def keystore_path(user: str, home: Path | None = None) -> Path:
    return devices_dir(home) / f"{_file_stem(user)}.json"


def session_path(user: str, home: Path | None = None) -> Path:
    return devices_dir(home) / f"{_file_stem(user)}.session"


def _ensure_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with mode 0700; tighten the devices directory if it exists."""
    for parent in reversed(path.parents):
        if not parent.exists() and parent != parent.parent:
            parent.mkdir(mode=0o700, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, 0o700)


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600 from the first byte on."""
    _ensure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --- the keystore ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KdfParams:
    salt: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P
    length: int = KEY_BYTES

    def derive(self, passphrase: str) -> bytes:
        secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
        return Scrypt(salt=self.salt, length=self.length, n=self.n, r=self.r, p=self.p).derive(secret)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": "scrypt",
            "salt": b64url_encode(self.salt),
            "n": self.n,
            "r": self.r,
            "p": self.p,
            "length": self.length,
        }

    @classmethod
    def from_dict(cls, data: Any) -> KdfParams:
        if not isinstance(data, dict) or data.get("name") != "scrypt":
            raise KeystoreCorrupt("kdf must be scrypt")
        n, r, p, length = (data.get(k) for k in ("n", "r", "p", "length"))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p, length)):
            raise KeystoreCorrupt("kdf parameters must be integers")
        assert isinstance(n, int) and isinstance(r, int) and isinstance(p, int)
        if n < 2 or n & (n - 1) or n > 2**_MAX_LOG2_N or not 1 <= r <= _MAX_R or not 1 <= p <= _MAX_P:
            raise KeystoreCorrupt("kdf parameters out of range")
        if length != KEY_BYTES:
            raise KeystoreCorrupt("kdf length must be 32")
        salt = b64url_field(data, "salt")
        if len(salt) < SALT_BYTES:
            raise KeystoreCorrupt("kdf salt too short")
        return cls(salt=salt, n=n, r=r, p=p, length=length)


def b64url_field(data: Mapping[str, Any], name: str) -> bytes:
    """A base64url string field of a keystore-style JSON document (``KeystoreCorrupt`` otherwise)."""
    value = data.get(name)
    if not isinstance(value, str):
        raise KeystoreCorrupt(f"{name} must be a base64url string")
    try:
        return b64url_decode(value)
    except SigilError:
        raise KeystoreCorrupt(f"{name} is not base64url") from None


def _optional_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise KeystoreCorrupt(f"{name} must be a string")
    return value


def _aad(version: int, user: str, public_key_hex: str) -> bytes:
    """Associated data: a canonical JSON of the bound fields (sorted keys, no spaces)."""
    bound = {"public_key_hex": public_key_hex.lower(), "user": user, "version": version}
    return json.dumps(bound, sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True, repr=False)
class Keystore:
    """One device's encrypted key and its (public) metadata. Holds no plaintext secret."""

    user: str
    public_key_hex: str
    kdf: KdfParams
    nonce: bytes
    ciphertext: bytes
    device_id: str | None = None
    server_url: str | None = None
    version: int = KEYSTORE_VERSION

    @classmethod
    def seal(
        cls,
        key: PrivateKey,
        passphrase: str,
        *,
        user: str,
        device_id: str | None = None,
        server_url: str | None = None,
        kdf: KdfParams | None = None,
    ) -> Keystore:
        """Encrypt the P-256 private ``key`` under ``passphrase`` (fresh salt and nonce)."""
        if key.curve is not P256:
            raise KeystoreError("a device key is a P-256 key")
        if not passphrase:
            raise KeystoreError("the passphrase must not be empty")
        if not user:
            raise KeystoreError("user name must not be empty")
        params = kdf or KdfParams(salt=secrets.token_bytes(SALT_BYTES))
        public_hex = key.public_key().sec1().hex()
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = AESGCM(params.derive(passphrase)).encrypt(
            nonce, key.scalar_bytes(), _aad(KEYSTORE_VERSION, user, public_hex)
        )
        return cls(
            user=user,
            public_key_hex=public_hex,
            kdf=params,
            nonce=nonce,
            ciphertext=ciphertext,
            device_id=device_id,
            server_url=server_url,
        )

    def unlock(self, passphrase: str) -> PrivateKey:
        """Decrypt the private key; ``WrongPassphrase`` if the passphrase or a bound field is wrong."""
        aead = AESGCM(self.kdf.derive(passphrase))
        try:
            scalar = aead.decrypt(
                self.nonce, self.ciphertext, _aad(self.version, self.user, self.public_key_hex)
            )
        except InvalidTag:
            raise WrongPassphrase() from None
        try:
            key = PrivateKey.from_scalar(P256, scalar)
        except SigilError:
            raise KeystoreCorrupt("the decrypted key is not a P-256 private key") from None
        if key.public_key().sec1().hex() != self.public_key_hex.lower():
            raise KeystoreCorrupt("the decrypted key does not match public_key_hex")
        return key

    def with_registration(self, device_id: str, server_url: str | None) -> Keystore:
        """The same keystore, recording the device id the server assigned (no passphrase needed)."""
        return replace(self, device_id=device_id, server_url=server_url)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "kdf": self.kdf.to_dict(),
            "cipher": "aes-256-gcm",
            "nonce": b64url_encode(self.nonce),
            "ciphertext": b64url_encode(self.ciphertext),
            "user": self.user,
            "public_key_hex": self.public_key_hex,
            "device_id": self.device_id,
            "server_url": self.server_url,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Keystore:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            raise KeystoreCorrupt("not JSON") from None
        if not isinstance(data, dict):
            raise KeystoreCorrupt("not a JSON object")
        if data.get("version") != KEYSTORE_VERSION:
            raise KeystoreCorrupt(f"unsupported keystore version (this build reads {KEYSTORE_VERSION})")
        if data.get("cipher", "aes-256-gcm") != "aes-256-gcm":
            raise KeystoreCorrupt("cipher must be aes-256-gcm")
        user = data.get("user")
        public_hex = data.get("public_key_hex")
        if not isinstance(user, str) or not user:
            raise KeystoreCorrupt("user must be a non-empty string")
        if not isinstance(public_hex, str) or len(public_hex) != 130 or not public_hex.startswith("04"):
            raise KeystoreCorrupt("public_key_hex must be an uncompressed SEC1 P-256 point")
        try:
            bytes.fromhex(public_hex)
        except ValueError:
            raise KeystoreCorrupt("public_key_hex is not hex") from None
        nonce = b64url_field(data, "nonce")
        ciphertext = b64url_field(data, "ciphertext")
        if len(nonce) != NONCE_BYTES or len(ciphertext) != KEY_BYTES + 16:
            raise KeystoreCorrupt("nonce or ciphertext has the wrong length")
        return cls(
            user=user,
            public_key_hex=public_hex.lower(),
            kdf=KdfParams.from_dict(data.get("kdf")),
            nonce=nonce,
            ciphertext=ciphertext,
            device_id=_optional_str(data, "device_id"),
            server_url=_optional_str(data, "server_url"),
        )

    def __repr__(self) -> str:
        return (
            f"Keystore(user={self.user!r}, device_id={self.device_id!r}, "
            f"public_key_hex={self.public_key_hex[:18]}..)"
        )

    __str__ = __repr__


def save_keystore(keystore: Keystore, path: Path | None = None) -> Path:
    """Write ``keystore`` (atomically, 0600) to ``path`` or its default place; return the path."""
    target = path or keystore_path(keystore.user)
    write_private_file(target, keystore.to_json().encode("utf-8"))
    return target


def load_keystore(path: Path) -> Keystore:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeystoreNotFound(f"no keystore at {path}") from None
    except OSError as exc:
        raise KeystoreError(f"cannot read {path}: {exc.strerror}") from None
    return Keystore.from_json(data)


def list_keystores(home: Path | None = None) -> list[Path]:
    folder = devices_dir(home)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def is_private_file(path: Path) -> bool:
    """True if no one but the owner may read or write ``path``."""
    return not stat.S_IMODE(path.stat().st_mode) & 0o077
