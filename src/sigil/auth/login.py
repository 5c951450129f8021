"""The two steps of a device login, around the pure checks (``challenges.check_challenge``,
``device_login.verify_device_login``): rate limits, reading the user and the device, consuming
the challenge, issuing the session.

Neither step writes the database on a SQLite node. The challenge is a self-authenticating token
(``challenges.issue_token``), the rate counters and the ledger of consumed challenges live in the
node's shared memory (``nodestate``), and the audit entry is queued. The only database work is
one read per step (the user; the device), each kept by the worker once read (users are never
renamed; a device until the node's change counter moves, as on a revocation: ``device_cache``), so
on SQLite the steps run on the event loop (``LoginNode.inline``). Where nodes share PostgreSQL
the consumption is one ``INSERT ... ON CONFLICT DO NOTHING`` (``challenges.consume_in_db``), the
device is read on every login, and the steps run in the thread pool.

A rejected attempt changes nothing but the rate counters: the challenge is consumed only after
every check has passed, and of any number of concurrent attempts only one consumes it.
"""

from __future__ import annotations

import hmac
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from sigil.auth import challenges, sessions, sql
from sigil.auth.challenges import TokenChallenge
from sigil.auth.config import RATE_WINDOW_S, AuthConfig
from sigil.auth.device_login import decode_signature, verify_device_login
from sigil.auth.devices import KIND_ECDSA
from sigil.auth.errors import ChallengeExpired, ChallengeMismatch, ChallengeUsed, DeviceRevoked, LoginFailed
from sigil.auth.nodestate import NodeState
from sigil.errors import NotFound, SigilError
from sigil.keys.context import Context
from sigil.keys.service import KeyService
from sigil.store.audit import AuditEvent, now_us
from sigil.store.generation import GenerationCache

PURPOSE = "login"
MAX_USER_IDS = 100_000
MAX_CACHED_DEVICES = 100_000
# Plain SQL (the same on SQLite and PostgreSQL): these run on every login.
_USER_ID = "SELECT id FROM auth_users WHERE name = {m}"
_DEVICE = "SELECT id, user_id, kind, public_key, revoked_at FROM auth_devices WHERE id = {m}"


class _Device(NamedTuple):
    id: str
    user_id: str
    kind: str
    public_key: bytes
    revoked_at: int | None


def device_cache(ctx: Context) -> GenerationCache[str, _Device]:
    """The devices one worker has read, kept where the node is the database's only one (SQLite),
    under the key cache's rules (``GenerationCache``): revoking a device bumps the node's change
    counter after its commit (``devices.revoke_device``), so every worker reads the row again and
    refuses the device at once. Unknown ids are not kept (a device registered later is found)."""
    return GenerationCache(ctx.generation, lambda: ctx.limits.cache_ttl_seconds, MAX_CACHED_DEVICES)


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


@dataclass(frozen=True)
class LoginNode:
    """What device logins need from the node they run on.

    - ``key``: the challenge tokens' HMAC key. SQLite (one node): HMAC of the master key's
      challenge subkey and the nonce drawn when the node started, so a restart invalidates every
      outstanding challenge and the in-memory ledger needs no persistence. PostgreSQL (nodes
      sharing it): the subkey itself, the same on every node.
    - ``state``: the node's rate counters (and, on SQLite, its ledger).
    - ``consume(ledger_id, expires_at, now) -> bool``: True for exactly one caller per challenge.
    - ``inline``: the steps may run on the event loop (no network, no write).
    - ``user_ids``: user name → id, as read (users are never renamed or deleted; unknown names
      are not remembered).
    - ``devices``: the devices read (``device_cache``) on SQLite; None where nodes share
      PostgreSQL, whose revocations on other nodes would not move this node's counter.
    """

    key: bytes
    state: NodeState
    consume: Callable[[bytes, int, int], bool]
    inline: bool
    user_ids: dict[str, str] = field(default_factory=dict)
    devices: GenerationCache[str, _Device] | None = None


_nodes: weakref.WeakKeyDictionary[Context, LoginNode] = weakref.WeakKeyDictionary()
_nodes_guard = threading.Lock()


def login_node(ctx: Context, node_file: str | None) -> LoginNode:
    """This process's ``LoginNode`` for ``ctx`` (made once). ``node_file``: the node's shared
    state file made by ``sigil serve`` (``SIGIL_LOGIN_NODE``); without one, this process alone is
    the node and keeps its state in its own memory."""
    found = _nodes.get(ctx)
    if found is not None:
        return found
    with _nodes_guard:
        found = _nodes.get(ctx)
        if found is None:
            state = NodeState(Path(node_file) if node_file else None)
            if ctx.db.sqlite:
                key = hmac.digest(ctx.sealer.challenge_key, b"node:" + state.nonce, "sha256")
                inline = _file_db(ctx) is not None
                found = LoginNode(key, state, state.consume, inline=inline, devices=device_cache(ctx))
            else:
                found = LoginNode(
                    ctx.sealer.challenge_key, state, partial(challenges.consume_in_db, ctx), False
                )
            _nodes[ctx] = found
        return found


# --- reads: a plain sqlite3 connection per thread on SQLite (a primary-key lookup costs ~5 µs,
# a pooled SQLAlchemy connection ~30 µs); the engine elsewhere ----------------------------------

_readers: weakref.WeakKeyDictionary[Context, threading.local] = weakref.WeakKeyDictionary()


def _file_db(ctx: Context) -> str | None:
    url = ctx.db.url
    if not ctx.db.sqlite or not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    return url.removeprefix("sqlite:///")


def _read(ctx: Context, statement: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
    path = _file_db(ctx)
    if path is None:
        with ctx.db.read_engine.connect() as conn:
            return sql.first(conn, statement, params)
    local = _readers.get(ctx)
    if local is None:
        local = _readers.setdefault(ctx, threading.local())
    reader: sqlite3.Connection | None = getattr(local, "conn", None)
    if reader is None:
        reader = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        reader.execute("PRAGMA busy_timeout=30000")
        local.conn = reader
    row = reader.execute(statement.replace("{m}", "?"), params).fetchone()
    return None if row is None else tuple(row)


# --- the two steps -----------------------------------------------------------------------------


def begin_login(ctx: Context, node: LoginNode, cfg: AuthConfig, *, user: str, client: str) -> TokenChallenge:
    """Issue a login challenge for ``user`` (404 if unknown; 429 over a rate limit). Writes
    nothing: the rate counters are the node's, the challenge is a token."""
    node.state.hit(
        [(f"ch:a:{client}", cfg.rate_addr, RATE_WINDOW_S), (f"ch:u:{user}", cfg.rate_user, RATE_WINDOW_S)],
        time.time(),
    )
    user_id = node.user_ids.get(user)
    if user_id is None:
        found = _read(ctx, _USER_ID, (user,))
        if found is None:
            raise NotFound(f"no user {user!r}")
        if len(node.user_ids) >= MAX_USER_IDS:
            node.user_ids.clear()
        user_id = node.user_ids[user] = str(found[0])
    return challenges.issue_token(
        node.key, user_id=user_id, user_name=user, purpose=PURPOSE, domain=cfg.domain, ttl=cfg.challenge_ttl
    )


def complete_login(
    ctx: Context,
    keys: KeyService,
    node: LoginNode,
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
        result = _complete(ctx, keys, node, cfg, challenge_id, device_id, signature, client, seen)
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
    node: LoginNode,
    cfg: AuthConfig,
    challenge_id: str,
    device_id: str,
    signature: str,
    client: str,
    seen: _Seen,
) -> LoginSession:
    token: TokenChallenge | None = None
    unreadable: SigilError | None = None
    try:
        token = challenges.read_token(node.key, challenge_id)
    except SigilError as exc:  # counted below like any attempt, then answered
        unreadable = exc
    limits = [(f"vf:a:{client}", cfg.rate_addr, RATE_WINDOW_S)]
    if token is not None and token.user_name is not None:
        seen.user, seen.challenge = token.user_name, token.row.challenge
        limits.append((f"vf:u:{token.user_name}", cfg.rate_user, RATE_WINDOW_S))
    node.state.hit(limits, time.time())  # before any ECDSA work; failed attempts count too
    sig = decode_signature(signature)
    if unreadable is not None:
        raise unreadable
    assert token is not None
    device = _device(ctx, node, device_id)
    _check(cfg, token, device, sig)
    assert device is not None and token.user_name is not None
    now = now_us()
    if not node.consume(token.ledger_id, token.row.expires_at, now):
        if token.row.expires_at <= now:
            raise ChallengeExpired("the challenge has expired")
        raise ChallengeUsed("the challenge has already been used")
    session_token, expires_at = sessions.issue_session(
        ctx, keys, user=token.user_name, device_id=device.id, ttl=cfg.session_ttl
    )
    return LoginSession(token=session_token, expires_at=expires_at, user=token.user_name, device_id=device.id)


def _device(ctx: Context, node: LoginNode, device_id: str) -> _Device | None:
    """The device ``device_id`` (None if unknown): from the node's cache when it has one (one
    memory read of the change counter instead of a query, on every login), else read."""
    if not (isinstance(device_id, str) and device_id.startswith("dev_") and len(device_id) <= 32):
        return None
    cache = node.devices
    if cache is None:
        return _read_device(ctx, device_id)
    gen = cache.current()
    device = cache.get(device_id, gen)
    if device is None:
        read_at = time.monotonic()
        device = _read_device(ctx, device_id)
        if device is not None:
            cache.put(device_id, device, gen, read_at)
    return device


def _read_device(ctx: Context, device_id: str) -> _Device | None:
    found = _read(ctx, _DEVICE, (device_id,))
    return None if found is None else _Device(found[0], found[1], found[2], bytes(found[3]), found[4])


def _check(cfg: AuthConfig, token: TokenChallenge, device: _Device | None, sig: bytes) -> None:
    """Each check named, in order; none of them changes state. (Whether the challenge is unused
    is known only when it is consumed, after these.)"""
    if device is None or device.kind != KIND_ECDSA:
        raise LoginFailed("unknown device")
    if device.user_id != token.row.user_id:
        raise ChallengeMismatch("the challenge was issued for another user")
    challenges.check_challenge(
        token.row, purpose=PURPOSE, user_id=device.user_id, now=now_us(), domain=cfg.domain
    )
    if device.revoked_at is not None:
        raise DeviceRevoked("the device has been revoked")
    verify_device_login(challenge=token.row.challenge, public_key=device.public_key, signature=sig)
