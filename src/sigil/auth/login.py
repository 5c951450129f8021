"""The two steps of a device login, around the pure checks (``challenges.check_challenge``,
``device_login.verify_device_login``): rate limits, loading rows, consuming the challenge,
issuing the session.

A rejected attempt changes nothing but the rate counters: the challenge is consumed only after
every check has passed, by one conditional UPDATE (exactly one concurrent caller wins).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from sigil.auth import challenges, ratelimit, sessions
from sigil.auth.challenges import ChallengeRow
from sigil.auth.config import RATE_WINDOW_S, AuthConfig
from sigil.auth.device_login import decode_signature, verify_device_login
from sigil.auth.devices import KIND_ECDSA, Device, find_user, to_device
from sigil.auth.errors import ChallengeMismatch, ChallengeNotFound, DeviceRevoked, LoginFailed
from sigil.errors import NotFound, SigilError
from sigil.keys.context import Context
from sigil.keys.service import KeyService
from sigil.store.audit import AuditEvent, now_us
from sigil.store.models import AuthDevice, AuthUser

PURPOSE = "login"


@dataclass(frozen=True, slots=True)
class LoginSession:
    token: str
    expires_at: int  # unix seconds
    user: str
    device_id: str


@dataclass(slots=True)
class _Seen:
    """What a verify call was about, for its audit entry (filled in as far as it got)."""

    user: str | None = None
    device_id: str | None = None
    challenge: bytes | None = None


def begin_login(ctx: Context, cfg: AuthConfig, *, user: str, client: str) -> ChallengeRow:
    """Issue a login challenge for ``user`` (404 if unknown; 429 over a rate limit)."""
    with ctx.db.batch() as conn:
        ratelimit.hit_all(
            conn,
            [
                (f"ch:a:{client}", cfg.rate_addr, RATE_WINDOW_S),
                (f"ch:u:{user}", cfg.rate_user, RATE_WINDOW_S),
            ],
        )
        session = Session(bind=conn)
        found = find_user(session, user)
        row = None
        if found is not None:
            row = challenges.new_challenge(
                session, user_id=found.id, purpose=PURPOSE, domain=cfg.domain, ttl=cfg.challenge_ttl
            )
        session.close()
    if row is None:
        raise NotFound(f"no user {user!r}")
    return row


def _load(
    session: Session, challenge_id: str, device_id: str
) -> tuple[ChallengeRow | None, Device | None, str | None]:
    """The challenge, the device and the challenge's user name (each None when unknown)."""
    row = challenges.get_challenge(session, challenge_id)
    device = None
    if isinstance(device_id, str) and device_id.startswith("dev_") and len(device_id) <= 32:
        found = session.get(AuthDevice, device_id)
        device = None if found is None else to_device(found)
    user_name = None
    if row is not None and row.user_id is not None:
        owner = session.get(AuthUser, row.user_id)
        user_name = None if owner is None else owner.name
    return row, device, user_name


def complete_login(
    ctx: Context,
    keys: KeyService,
    cfg: AuthConfig,
    *,
    challenge_id: str,
    device_id: str,
    signature: str,
    client: str,
) -> LoginSession:
    """Check the challenge and the device's signature over it, consume the challenge, issue a
    session. Every outcome is audited (action ``auth.verify``, outcome ``ok`` or the error code)."""
    seen = _Seen(device_id=device_id[:40] if isinstance(device_id, str) else None)
    try:
        result = _complete(ctx, keys, cfg, challenge_id, device_id, signature, client, seen)
    except SigilError as exc:
        _audit(ctx, seen, exc.code)
        raise
    _audit(ctx, seen, "ok")
    return result


def _audit(ctx: Context, seen: _Seen, outcome: str) -> None:
    ctx.audit.record(
        AuditEvent(
            seen.user or "anonymous",
            "auth.verify",
            outcome=outcome,
            key_id=seen.device_id,
            message_sha256=None if seen.challenge is None else seen.challenge.hex(),
        )
    )


def _complete(
    ctx: Context,
    keys: KeyService,
    cfg: AuthConfig,
    challenge_id: str,
    device_id: str,
    signature: str,
    client: str,
    seen: _Seen,
) -> LoginSession:
    with ctx.db.batch() as conn:
        ratelimit.hit_all(conn, [(f"vf:a:{client}", cfg.rate_addr, RATE_WINDOW_S)])
        session = Session(bind=conn)
        row, device, user_name = _load(session, challenge_id, device_id)
        session.close()
        if row is not None and user_name is not None:
            seen.user, seen.challenge = user_name, row.challenge
            ratelimit.hit_all(conn, [(f"vf:u:{user_name}", cfg.rate_user, RATE_WINDOW_S)])
    sig = decode_signature(signature)
    # Each check named, in order; none of them changes state.
    if row is None:
        raise ChallengeNotFound("unknown challenge")
    if device is None or device.kind != KIND_ECDSA:
        raise LoginFailed("unknown device")
    if device.user_id != row.user_id:
        raise ChallengeMismatch("the challenge was issued for another user")
    challenges.check_challenge(row, purpose=PURPOSE, user_id=device.user_id, now=now_us(), domain=cfg.domain)
    if device.revoked_at is not None:
        raise DeviceRevoked("the device has been revoked")
    verify_device_login(challenge=row.challenge, public_key=device.public_key, signature=sig)
    # All checks passed: consume the challenge (exactly one concurrent caller gets past this).
    with ctx.db.write() as tx:
        challenges.consume_challenge(
            tx, row.id, purpose=PURPOSE, user_id=device.user_id, domain=cfg.domain, challenge=row.challenge
        )
    assert user_name is not None
    token, expires_at = sessions.issue_session(
        ctx, keys, user=user_name, device_id=device.id, ttl=cfg.session_ttl
    )
    return LoginSession(token=token, expires_at=expires_at, user=user_name, device_id=device.id)
