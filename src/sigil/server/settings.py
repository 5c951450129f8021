"""Server settings, read once from the environment (the runner sets them for its workers)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sigil.store.db import default_db_url

DEFAULT_MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    db_url: str
    max_body: int = DEFAULT_MAX_BODY
    deletion_day_seconds: int = 86_400
    cache_ttl_seconds: float = 5.0
    audit_relay: str | None = None  # the node's audit writer socket, set by ``sigil serve``

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(os.environ.get("SIGIL_DATA_DIR", "./sigil-data")).resolve()
        return cls(
            data_dir=data_dir,
            db_url=os.environ.get("SIGIL_DB_URL") or default_db_url(data_dir),
            max_body=int(os.environ.get("SIGIL_MAX_BODY", DEFAULT_MAX_BODY)),
            deletion_day_seconds=int(os.environ.get("SIGIL_DELETION_WINDOW_SECONDS", 86_400)),
            cache_ttl_seconds=float(os.environ.get("SIGIL_KEY_CACHE_TTL", 5.0)),
            audit_relay=os.environ.get("SIGIL_AUDIT_RELAY") or None,
        )
