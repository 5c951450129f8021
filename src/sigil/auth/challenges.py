"""Server-side login challenges: issued, bound to a user, purpose and domain, expiring, and
consumed at most once.

The challenge is H = SHA-256(32 random bytes ‖ domain as UTF-8) (DESIGN.md, auth). Binding the
domain into H means a signature made for another deployment's challenge never verifies here.
Consumption is a single conditional ``UPDATE`` (``consumed_at IS NULL AND expires_at > now``):
of any number of concurrent callers, on any worker or node, exactly one sees rowcount 1.

These functions take the caller's SQLAlchemy session and never commit: the caller owns the
transaction (one function per ceremony step, STYLE.md §4).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, delete
from sqlalchemy.orm import Session

from sigil.auth import sql
from sigil.auth.errors import ChallengeExpired, ChallengeMismatch, ChallengeNotFound, ChallengeUsed
from sigil.store.audit import now_us
from sigil.store.models import AuthChallenge

PURPOSES = ("login", "webauthn_register", "webauthn_login")
RANDOM_BYTES = 32
MAX_ID_LEN = 32
# Plain SQL through the DB-API (the same on SQLite and PostgreSQL): these run on every login.
_INSERT = (
    "INSERT INTO auth_challenges"
    " (id, user_id, purpose, challenge, domain, expires_at, consumed_at, created_at)"
    " VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {m})"
)
_SELECT = (
    "SELECT id, user_id, purpose, challenge, domain, expires_at, consumed_at, created_at"
    " FROM auth_challenges WHERE id = {m}"
)
# The single-use guarantee: only one UPDATE can see consumed_at IS NULL (DESIGN.md, invariants).
_CONSUME = (
    "UPDATE auth_challenges SET consumed_at = {m} WHERE id = {m} AND consumed_at IS NULL AND expires_at > {m}"
)


@dataclass(frozen=True, slots=True)
class ChallengeRow:
    id: str
    user_id: str | None
    purpose: str
    challenge: bytes
    domain: str
    expires_at: int  # µs since the epoch
    consumed_at: int | None
    created_at: int


def make_challenge(domain: str, random: bytes | None = None) -> bytes:
    """H = SHA-256(random ‖ domain). ``random`` is a parameter so tests can pin it."""
    nonce = secrets.token_bytes(RANDOM_BYTES) if random is None else random
    if len(nonce) != RANDOM_BYTES:
        raise ValueError(f"the random part must be {RANDOM_BYTES} bytes")
    return hashlib.sha256(nonce + domain.encode("utf-8")).digest()


def _params(row: ChallengeRow) -> tuple[object, ...]:
    return (
        row.id, row.user_id, row.purpose, row.challenge, row.domain, row.expires_at, row.consumed_at,
        row.created_at,
    )  # fmt: skip


def _from_tuple(t: tuple[Any, ...]) -> ChallengeRow:
    return ChallengeRow(
        id=t[0], user_id=t[1], purpose=t[2], challenge=bytes(t[3]), domain=t[4], expires_at=int(t[5]),
        consumed_at=None if t[6] is None else int(t[6]), created_at=int(t[7]),
    )  # fmt: skip


def new_challenge(
    session: Session | Connection, *, user_id: str | None, purpose: str, domain: str, ttl: int = 60
) -> ChallengeRow:
    """Store a fresh challenge valid for ``ttl`` seconds and return it."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown challenge purpose {purpose!r}")
    now = now_us()
    row = ChallengeRow(
        id="ch_" + secrets.token_hex(14),
        user_id=user_id,
        purpose=purpose,
        challenge=make_challenge(domain),
        domain=domain,
        expires_at=now + ttl * 1_000_000,
        consumed_at=None,
        created_at=now,
    )
    sql.rows(session, _INSERT, _params(row))
    return row


def check_challenge(
    row: ChallengeRow | None,
    *,
    purpose: str,
    user_id: str | None,
    now: int,
    domain: str | None = None,
    challenge: bytes | None = None,
) -> ChallengeRow:
    """Pure checks on a stored challenge, each one named, in this order: it exists, it was made
    for this purpose, user and domain (and, given ``challenge``, it holds those bytes — compared
    in constant time), it is unused, it has not expired. Raises the matching error."""
    if row is None:
        raise ChallengeNotFound("unknown challenge")
    if row.purpose != purpose:
        raise ChallengeMismatch("the challenge was issued for another purpose")
    if row.user_id != user_id:
        raise ChallengeMismatch("the challenge was issued for another user")
    if domain is not None and row.domain != domain:
        raise ChallengeMismatch("the challenge was issued for another domain")
    if challenge is not None and not hmac.compare_digest(row.challenge, challenge):
        raise ChallengeMismatch("the challenge bytes do not match")
    if row.consumed_at is not None:
        raise ChallengeUsed("the challenge has already been used")
    if row.expires_at <= now:
        raise ChallengeExpired("the challenge has expired")
    return row


def get_challenge(session: Session | Connection, challenge_id: str) -> ChallengeRow | None:
    if (
        not isinstance(challenge_id, str)
        or not challenge_id.startswith("ch_")
        or len(challenge_id) > MAX_ID_LEN
    ):
        return None
    found = sql.first(session, _SELECT, (challenge_id,))
    return None if found is None else _from_tuple(tuple(found))


def consume_challenge(
    session: Session | Connection,
    challenge_id: str,
    *,
    purpose: str,
    user_id: str | None,
    domain: str | None = None,
    challenge: bytes | None = None,
) -> ChallengeRow:
    """Check the challenge (see ``check_challenge``) and mark it used, atomically.

    A challenge that fails a check is left as it was. ``user_id`` is compared exactly (``None``
    only matches a challenge issued without a user, as WebAuthn discoverable login makes).
    """
    now = now_us()
    row = check_challenge(
        get_challenge(session, challenge_id),
        purpose=purpose,
        user_id=user_id,
        now=now,
        domain=domain,
        challenge=challenge,
    )
    if sql.count(session, _CONSUME, (now, row.id, now)) != 1:
        # Someone else consumed it between our read and our UPDATE (or it just expired).
        check_challenge(get_challenge(session, challenge_id), purpose=purpose, user_id=user_id, now=now)
        raise ChallengeUsed("the challenge has already been used")
    return replace(row, consumed_at=now)


def purge_expired(session: Session, *, older_than_s: int = 3600) -> int:
    """Delete challenges that expired more than ``older_than_s`` ago (housekeeping)."""
    cutoff = now_us() - older_than_s * 1_000_000
    result = session.execute(delete(AuthChallenge).where(AuthChallenge.expires_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
