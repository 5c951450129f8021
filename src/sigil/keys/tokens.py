"""Principals and their bearer tokens.

A token is ``sgl_`` + 43 base64url characters (256 random bits). Only SHA-256(token) is stored;
lookups go by that hash and the stored hash is compared again in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sigil.errors import BadRequest, Conflict, Unauthorized
from sigil.keys.context import Context
from sigil.keys.model import SCOPE_ADMIN, SCOPE_KEYS, SCOPES, Principal
from sigil.store import audit
from sigil.store.audit import AuditEvent, now_us
from sigil.store.generation import GenerationCache
from sigil.store.models import Principal as PrincipalRow

TOKEN_PREFIX = "sgl_"  # noqa: S105 (a prefix, not a secret)
ADMIN_NAME = "admin"
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CACHE_LIMIT = 10_000  # principals kept per worker
MIN_TOKEN_LEN, MAX_TOKEN_LEN = 16, 256  # SIGIL_ADMIN_TOKEN may be chosen by the operator


@dataclass(frozen=True)
class IssuedToken:
    token: str
    principal: Principal


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _principal(row: PrincipalRow) -> Principal:
    return Principal(id=row.id, name=row.name, scopes=frozenset(row.scopes.split()))


class TokenService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        # token hash -> principal
        self._cache: GenerationCache[bytes, Principal] = GenerationCache(
            ctx.generation, lambda: ctx.limits.cache_ttl_seconds, _CACHE_LIMIT
        )

    def authenticate(self, token: str | None) -> Principal:
        if not token or not MIN_TOKEN_LEN <= len(token) <= MAX_TOKEN_LEN:
            raise Unauthorized("a valid bearer token is required")
        digest = hash_token(token)
        gen = self._cache.current()
        hit = self._cache.get(digest, gen)
        if hit is not None:
            return hit
        read_at = time.monotonic()
        with self._ctx.db.read() as session:
            row = session.execute(
                select(PrincipalRow).where(PrincipalRow.token_hash == digest)
            ).scalar_one_or_none()
            if row is None or not hmac.compare_digest(row.token_hash, digest):
                raise Unauthorized("a valid bearer token is required")
            principal = _principal(row)
        self._cache.put(digest, principal, gen, read_at)
        return principal

    def cached(self, token: str | None) -> Principal | None:
        """The principal from this worker's cache, without touching the database (or None)."""
        if not token or not MIN_TOKEN_LEN <= len(token) <= MAX_TOKEN_LEN:
            return None
        return self._cache.get(hash_token(token), self._cache.current())

    def create(self, creator: Principal, name: str, scopes: Sequence[str] | None) -> IssuedToken:
        if not NAME_RE.match(name):
            raise BadRequest("name must be 1-64 characters of A-Z a-z 0-9 . _ -", code="validation_error")
        wanted = sorted(set(scopes or [SCOPE_KEYS]))
        unknown = [s for s in wanted if s not in SCOPES]
        if unknown:
            raise BadRequest(f"unknown scope(s) {unknown}; known: {list(SCOPES)}", code="validation_error")
        token = new_token()
        row = PrincipalRow(
            id="prn_" + secrets.token_hex(10),
            name=name,
            token_hash=hash_token(token),
            scopes=" ".join(wanted),
            created_at=now_us(),
        )
        try:
            with self._ctx.db.write() as session:
                if session.execute(select(PrincipalRow.id).where(PrincipalRow.name == name)).first():
                    raise Conflict(f"a principal named {name!r} exists", code="name_taken")
                session.add(row)
                session.flush()
                event = AuditEvent(creator.name, "token.create", outcome="ok", key_id=row.id)
                audit.append(session, self._ctx.sealer.audit_key, [event])
        except IntegrityError:
            raise Conflict(f"a principal named {name!r} exists", code="name_taken") from None
        return IssuedToken(token=token, principal=_principal(row))

    def ensure_admin(self, token: str | None) -> str | None:
        """Make sure the admin principal exists. With ``token`` (from SIGIL_ADMIN_TOKEN) its hash is
        set to that token's; without, a token is generated only if there is no admin yet and is
        returned once so the caller can show and store it."""
        with self._ctx.db.write() as session:
            row = session.execute(
                select(PrincipalRow).where(PrincipalRow.name == ADMIN_NAME)
            ).scalar_one_or_none()
            if row is not None and token is None:
                return None
            issued = token or new_token()
            digest = hash_token(issued)
            if row is None:
                row = PrincipalRow(
                    id="prn_admin",
                    name=ADMIN_NAME,
                    token_hash=digest,
                    scopes=f"{SCOPE_ADMIN} {SCOPE_KEYS}",
                    created_at=now_us(),
                )
                session.add(row)
                session.flush()
                event = AuditEvent("system", "token.bootstrap", key_id=row.id)
                audit.append(session, self._ctx.sealer.audit_key, [event])
            elif row.token_hash != digest:
                row.token_hash = digest
                event = AuditEvent("system", "token.admin_reset", key_id=row.id)
                audit.append(session, self._ctx.sealer.audit_key, [event])
        self._ctx.generation.bump()
        return None if token else issued
