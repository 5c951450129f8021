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
    login_node: str | None = None  # the node's shared login state file, made by ``sigil serve``
    # Device-key login and WebAuthn (docs/auth.md).
    auth_domain: str = "localhost"
    open_registration: bool = False
    challenge_ttl: int = 60
    session_ttl: int = 3600
    auth_rate_user: int = 30  # challenge/verify calls per user per minute
    auth_rate_addr: int = 120  # challenge/verify calls per client address per minute
    rp_id: str = "localhost"
    rp_name: str = "Sigil"
    webauthn_origins: tuple[str, ...] = ()
    webauthn_user_verification: str = "preferred"  # required | preferred | discouraged

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
            login_node=os.environ.get("SIGIL_LOGIN_NODE") or None,
            auth_domain=os.environ.get("SIGIL_AUTH_DOMAIN") or "localhost",
            open_registration=os.environ.get("SIGIL_OPEN_REGISTRATION") == "1",
            challenge_ttl=int(os.environ.get("SIGIL_CHALLENGE_TTL") or 60),
            session_ttl=int(os.environ.get("SIGIL_SESSION_TTL") or 3600),
            auth_rate_user=int(os.environ.get("SIGIL_AUTH_RATE_USER") or 30),
            auth_rate_addr=int(os.environ.get("SIGIL_AUTH_RATE_ADDR") or 120),
            rp_id=os.environ.get("SIGIL_RP_ID") or "localhost",
            rp_name=os.environ.get("SIGIL_RP_NAME") or "Sigil",
            webauthn_origins=tuple(
                o.strip() for o in os.environ.get("SIGIL_WEBAUTHN_ORIGINS", "").split(",") if o.strip()
            ),
            webauthn_user_verification=_user_verification(),
        )


USER_VERIFICATION_POLICIES = ("required", "preferred", "discouraged")


def _user_verification() -> str:
    """``SIGIL_WEBAUTHN_USER_VERIFICATION``, checked where the settings are read: ``sigil serve``
    refuses to start on a typo."""
    policy = os.environ.get("SIGIL_WEBAUTHN_USER_VERIFICATION") or "preferred"
    if policy not in USER_VERIFICATION_POLICIES:
        raise SystemExit(
            f"SIGIL_WEBAUTHN_USER_VERIFICATION must be one of {', '.join(USER_VERIFICATION_POLICIES)}"
        )
    return policy
