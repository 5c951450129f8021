"""Login challenges: issued, bound to a user, purpose and domain, expiring, and consumed at most
once.

The challenge is H = SHA-256(32 random bytes ‖ domain as UTF-8) (DESIGN.md, auth). Binding the
domain into H means a signature made for another deployment's challenge never verifies here.

Two ways to hold a challenge between its two steps:

- **Self-authenticating tokens** (device-key login, ``issue_token`` / ``read_token``): issuing
  writes nothing. The challenge id is ``ch_`` + base64url of the challenge's fields (purpose,
  expiry, the 32 random bytes, user id and name, domain) and an HMAC-SHA-256 tag over them under
  the node's challenge key; verify recomputes H from the random bytes and the domain after
  checking the tag in constant time. Single use comes from a ledger of consumed ids
  (``sigil.auth.nodestate`` on a SQLite node; ``consume_in_db`` where nodes share PostgreSQL).
- **Stored rows** (WebAuthn ceremonies, ``new_challenge`` / ``consume_challenge``): those steps
  write the database anyway (users, passkeys, sign counters), so their challenge is a row,
  consumed by a single conditional ``UPDATE`` (``consumed_at IS NULL AND expires_at > now``) in
  the same transaction: of any number of concurrent callers exactly one sees rowcount 1.

The row functions take the caller's SQLAlchemy session and never commit: the caller owns the
transaction (one function per ceremony step, STYLE.md §4).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import time
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, delete
from sqlalchemy.orm import Session

from sigil.auth import sql
from sigil.auth.errors import ChallengeExpired, ChallengeMismatch, ChallengeNotFound, ChallengeUsed
from sigil.keys.context import Context
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


# --- self-authenticating challenge tokens -----------------------------------------------------------

TOKEN_PREFIX = "ch_"  # noqa: S105 (an id prefix, not a secret)
TOKEN_VERSION = 1
TAG_LEN = 16  # HMAC-SHA-256 truncated to 128 bits (NIST SP 800-107 §5.3.4)
MAX_TOKEN_LEN = 512
_TOKEN_HEAD = struct.Struct(">BBQ32s")  # version, purpose, expires_at (µs), random
_MAC_LABEL = b"sigil login challenge token v1\0"


@dataclass(frozen=True, slots=True)
class TokenChallenge:
    """A challenge read back from its token: the fields as a ``ChallengeRow`` (for
    ``check_challenge``), the user's name, and the 16-byte id its consumption is recorded under."""

    row: ChallengeRow
    user_name: str | None
    ledger_id: bytes


_MAC_STATES_LIMIT = 16
_mac_states: dict[bytes, hmac.HMAC] = {}


def _token_mac(key: bytes, payload: bytes) -> bytes:
    """HMAC-SHA-256(key, label ‖ payload), the same bytes as ``hmac.digest``, from a copy of a
    state that has absorbed the key and the label once per key. Twice per login: the one-shot
    ``hmac.digest`` costs ~3 µs and releases the GIL each time (a hand-off to the server's
    threads under load); a copy costs ~1 µs and keeps it."""
    state = _mac_states.get(key)
    if state is None:
        if len(_mac_states) >= _MAC_STATES_LIMIT:  # one key per node; bounded for tests' many keys
            _mac_states.clear()
        state = _mac_states[key] = hmac.new(key, _MAC_LABEL, "sha256")
    mac = state.copy()
    mac.update(payload)
    return mac.digest()


def _field(value: str | None) -> bytes:
    raw = b"" if value is None else value.encode("utf-8")
    if len(raw) > 254:
        raise ValueError("token fields are at most 254 bytes")
    return bytes([255 if value is None else len(raw)]) + raw


def issue_token(
    key: bytes,
    *,
    user_id: str | None,
    user_name: str | None,
    purpose: str,
    domain: str,
    ttl: int = 60,
    now: int | None = None,
    random: bytes | None = None,
) -> TokenChallenge:
    """A fresh challenge as a MAC'd token (nothing is stored)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown challenge purpose {purpose!r}")
    nonce = secrets.token_bytes(RANDOM_BYTES) if random is None else random
    issued = now_us() if now is None else now
    expires_at = issued + ttl * 1_000_000
    payload = (
        _TOKEN_HEAD.pack(TOKEN_VERSION, PURPOSES.index(purpose), expires_at, nonce)
        + _field(user_id) + _field(user_name) + _field(domain)
    )  # fmt: skip
    tag = _token_mac(key, payload)[:TAG_LEN]
    token = TOKEN_PREFIX + base64.urlsafe_b64encode(payload + tag).rstrip(b"=").decode("ascii")
    row = ChallengeRow(
        id=token, user_id=user_id, purpose=purpose, challenge=make_challenge(domain, nonce), domain=domain,
        expires_at=expires_at, consumed_at=None, created_at=issued,
    )  # fmt: skip
    return TokenChallenge(row=row, user_name=user_name, ledger_id=nonce[:16])


def read_token(key: bytes, challenge_id: object) -> TokenChallenge:
    """The challenge a token carries, once its tag checks out (compared in constant time).
    Anything else — not a token, a token of another key (another node, or before a restart),
    an edited one — is ``ChallengeNotFound``: to the server it is an unknown challenge."""
    if (
        not isinstance(challenge_id, str)
        or not challenge_id.startswith(TOKEN_PREFIX)
        or len(challenge_id) > MAX_TOKEN_LEN
    ):
        raise ChallengeNotFound("unknown challenge")
    text = challenge_id[len(TOKEN_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ChallengeNotFound("unknown challenge") from None
    if len(raw) < _TOKEN_HEAD.size + 3 + TAG_LEN:
        raise ChallengeNotFound("unknown challenge")
    payload, tag = raw[:-TAG_LEN], raw[-TAG_LEN:]
    if not hmac.compare_digest(_token_mac(key, payload)[:TAG_LEN], tag):
        raise ChallengeNotFound("unknown challenge")
    # From here on the bytes are the server's own (or a node's holding the same key).
    version, purpose, expires_at, nonce = _TOKEN_HEAD.unpack_from(payload)
    fields: list[str | None] = []
    at = _TOKEN_HEAD.size
    try:
        for _ in range(3):
            n = payload[at]
            fields.append(None if n == 255 else payload[at + 1 : at + 1 + n].decode("utf-8"))
            at += 1 if n == 255 else 1 + n
    except (IndexError, UnicodeDecodeError):
        raise ChallengeNotFound("unknown challenge") from None
    if version != TOKEN_VERSION or purpose >= len(PURPOSES) or at != len(payload) or fields[2] is None:
        raise ChallengeNotFound("unknown challenge")
    user_id, user_name, domain = fields
    assert domain is not None  # checked above
    row = ChallengeRow(
        id=challenge_id, user_id=user_id, purpose=PURPOSES[purpose], challenge=make_challenge(domain, nonce),
        domain=domain, expires_at=expires_at, consumed_at=None, created_at=0,
    )  # fmt: skip
    return TokenChallenge(row=row, user_name=user_name, ledger_id=nonce[:16])


# Where nodes share PostgreSQL: the consumed ids live in the database, one row each, removed a
# while after their challenge expired. ``ON CONFLICT DO NOTHING``: the one INSERT that adds the row
# wins; any other, on any node, sees rowcount 0.
_USE = "INSERT INTO auth_challenge_uses (id, expires_at) VALUES ({m}, {m}) ON CONFLICT (id) DO NOTHING"
_PRUNE = "DELETE FROM auth_challenge_uses WHERE expires_at < {m}"
PRUNE_EVERY_S = 60.0
PRUNE_GRACE_US = 300_000_000  # keep used ids 5 minutes past their expiry (clock skew between nodes)
_last_prune: dict[str, float] = {}


def consume_in_db(ctx: Context, ledger_id: bytes, expires_at: int, now: int) -> bool:
    """True for the first caller with ``ledger_id`` (before ``expires_at``); False for every other,
    on every node. Every ``PRUNE_EVERY_S`` a process also deletes rows long expired."""
    if now >= expires_at:
        return False
    with ctx.db.batch() as conn:
        won = sql.count(conn, _USE, (ledger_id, expires_at)) == 1
        if time.monotonic() - _last_prune.get(ctx.db.url, 0.0) > PRUNE_EVERY_S:
            _last_prune[ctx.db.url] = time.monotonic()
            sql.count(conn, _PRUNE, (now - PRUNE_GRACE_US,))
    return won
