"""What the auth flows need from the server's settings (the domain layer never imports them)."""

from __future__ import annotations

from dataclasses import dataclass

RATE_WINDOW_S = 60


@dataclass(frozen=True, slots=True)
class AuthConfig:
    domain: str = "localhost"
    challenge_ttl: int = 60
    session_ttl: int = 3600
    open_registration: bool = False
    rate_user: int = 30  # per user and per RATE_WINDOW_S, for challenge and for verify
    rate_addr: int = 120  # per client address and per RATE_WINDOW_S
