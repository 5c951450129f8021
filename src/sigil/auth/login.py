"""The two steps of a device login, around the pure checks (``challenges.check_challenge``,
``device_login.verify_device_login``): rate limits, loading rows, consuming the challenge,
issuing the session.

A rejected attempt changes nothing but the rate counters: the challenge is consumed only after
every check has passed, by one conditional UPDATE (exactly one concurrent caller wins).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection

from sigil.auth import challenges, ratelimit, sessions, sql
from sigil.auth.challenges import ChallengeRow
from sigil.auth.config import RATE_WINDOW_S, AuthConfig
from sigil.auth.device_login import decode_signature, verify_device_login
from sigil.auth.devices import KIND_ECDSA
from sigil.auth.errors import ChallengeMismatch, ChallengeNotFound, DeviceRevoked, LoginFailed
from sigil.auth.writelock import run_write
from sigil.errors import NotFound, SigilError
from sigil.keys.context import Context
from sigil.keys.service import KeyService
from sigil.store.audit import AuditEvent, now_us

PURPOSE = "login"
# Plain SQL through the DB-API (the same on SQLite and PostgreSQL): these run on every login.
_USER_ID = "SELECT id FROM auth_users WHERE name = {m}"
_USER_NAME = "SELECT name FROM auth_users WHERE id = {m}"
_DEVICE = "SELECT id, user_id, kind, public_key, revoked_at FROM auth_devices WHERE id = {m}"


class _Device(NamedTuple):
    id: str
    user_id: str
    kind: str
    public_key: bytes
    revoked_at: int | None


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
    """Issue a login challenge for ``user`` (404 if unknown; 429 over a rate limit). One write
    transaction: the two rate counters, the user lookup and the challenge."""
    limits = [
        (f"ch:a:{client}", cfg.rate_addr, RATE_WINDOW_S),
        (f"ch:u:{user}", cfg.rate_user, RATE_WINDOW_S),
    ]

    def write(conn: Connection) -> ChallengeRow | None:
        ratelimit.hit_all(conn, limits)
        found = sql.first(conn, _USER_ID, (user,))
        if found is None:
            return None
        user_id = found[0]
        return challenges.new_challenge(
            conn, user_id=user_id, purpose=PURPOSE, domain=cfg.domain, ttl=cfg.challenge_ttl
        )

    row = run_write(ctx, write)
    if row is None:
        raise NotFound(f"no user {user!r}")
    return row


def _load(
    conn: Connection, challenge_id: str, device_id: str
) -> tuple[ChallengeRow | None, _Device | None, str | None]:
    """The challenge, the device and the challenge's user name (each None when unknown)."""
    row = challenges.get_challenge(conn, challenge_id)
    device = None
    if isinstance(device_id, str) and device_id.startswith("dev_") and len(device_id) <= 32:
        found = sql.first(conn, _DEVICE, (device_id,))
        if found is not None:
            device = _Device(found[0], found[1], found[2], bytes(found[3]), found[4])
    user_name = None
    if row is not None and row.user_id is not None:
        named = sql.first(conn, _USER_NAME, (row.user_id,))
        user_name = None if named is None else named[0]
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
    # A read first: refuse early (no ECDSA work) when a limit is already used up.
    limits = [(f"vf:a:{client}", cfg.rate_addr, RATE_WINDOW_S)]
    with ctx.db.read_engine.connect() as conn:
        row, device, user_name = _load(conn, challenge_id, device_id)
        if row is not None and user_name is not None:
            seen.user, seen.challenge = user_name, row.challenge
            limits.append((f"vf:u:{user_name}", cfg.rate_user, RATE_WINDOW_S))
        ratelimit.check_all(conn, limits)
    try:
        _check(cfg, row, device, signature)
    except SigilError:
        with contextlib.suppress(SigilError):
            run_write(ctx, lambda conn: ratelimit.hit_all(conn, limits))  # a failed attempt counts too
        raise
    assert row is not None and device is not None and user_name is not None

    # Every check passed: count the hit and consume the challenge in one transaction (exactly one
    # concurrent caller gets past the conditional UPDATE).
    def consume(conn: Connection) -> ChallengeRow:
        ratelimit.hit_all(conn, limits)
        return challenges.consume_challenge(
            conn, row.id, purpose=PURPOSE, user_id=device.user_id, domain=cfg.domain, challenge=row.challenge
        )

    run_write(ctx, consume)
    token, expires_at = sessions.issue_session(
        ctx, keys, user=user_name, device_id=device.id, ttl=cfg.session_ttl
    )
    return LoginSession(token=token, expires_at=expires_at, user=user_name, device_id=device.id)


def _check(cfg: AuthConfig, row: ChallengeRow | None, device: _Device | None, signature: str) -> None:
    """Each check named, in order; none of them changes state."""
    sig = decode_signature(signature)
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
