"""Where the master key comes from: ``SIGIL_MASTER_KEY`` (base64, 32 bytes) or a 0600 file in the data dir."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from sigil.store.sealing import MASTER_KEY_LEN

MASTER_KEY_FILE = "master.key"


class MasterKeyError(Exception):
    """The configured master key is unusable (the message never contains the key)."""


def load_master_key(data_dir: Path, *, create: bool = True) -> bytes:
    env = os.environ.get("SIGIL_MASTER_KEY")
    if env:
        return _decode(env, "SIGIL_MASTER_KEY")
    path = data_dir / MASTER_KEY_FILE
    if path.exists():
        return _decode(path.read_text().strip(), str(path))
    if not create:
        raise MasterKeyError(f"no master key: set SIGIL_MASTER_KEY or provide {path}")
    key = secrets.token_bytes(MASTER_KEY_LEN)
    write_secret_file(path, base64.b64encode(key).decode() + "\n")
    return key


def write_secret_file(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 atomically; never overwrite an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _decode(value: str, source: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"master key from {source} is not valid base64") from None
    if len(key) != MASTER_KEY_LEN:
        raise MasterKeyError(f"master key from {source} must decode to 32 bytes, got {len(key)}")
    return key
