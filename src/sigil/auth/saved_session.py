"""The session token ``sigil device login`` saves beside the device keystore (``<user>.session``).

Written atomically with mode 0600 (``sigil.auth.keystore.write_private_file``); a missing or
unreadable file is simply no saved session.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sigil.auth.keystore import session_path, write_private_file

__all__ = ["SavedSession", "load_session", "save_session"]


@dataclass(frozen=True, slots=True, repr=False)
class SavedSession:
    """A session token saved after ``sigil device login``."""

    user: str
    device_id: str
    session_token: str
    expires_at: str | None = None
    server_url: str | None = None
    saved_at: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "device_id": self.device_id,
            "session_token": self.session_token,
            "expires_at": self.expires_at,
            "server_url": self.server_url,
            "saved_at": self.saved_at,
        }

    def __repr__(self) -> str:
        return (
            f"SavedSession(user={self.user!r}, device_id={self.device_id!r}, expires_at={self.expires_at!r})"
        )

    __str__ = __repr__


def save_session(session: SavedSession, path: Path | None = None) -> Path:
    target = path or session_path(session.user)
    body = replace(session, saved_at=session.saved_at or int(time.time()))
    write_private_file(target, (json.dumps(body.to_dict(), indent=2) + "\n").encode("utf-8"))
    return target


def load_session(user: str, path: Path | None = None) -> SavedSession | None:
    """The session saved for ``user``, or None if there is none (or the file is unreadable)."""
    target = path or session_path(user)
    try:
        data = json.loads(target.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    token, device_id = data.get("session_token"), data.get("device_id")
    if not isinstance(token, str) or not isinstance(device_id, str):
        return None
    expires_at = data.get("expires_at")
    server_url = data.get("server_url")
    saved_at = data.get("saved_at")
    return SavedSession(
        user=user,
        device_id=device_id,
        session_token=token,
        expires_at=str(expires_at) if expires_at is not None else None,
        server_url=server_url if isinstance(server_url, str) else None,
        saved_at=saved_at if isinstance(saved_at, int) else 0,
    )
