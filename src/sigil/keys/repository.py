"""Loading keys from the database into a worker's cache, and finding the caller's own keys."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sigil.crypto.curves import get_curve
from sigil.crypto.ecdsa import PrivateKey, PublicKey
from sigil.errors import NotFound
from sigil.keys.context import Context
from sigil.keys.model import DESTROYED, PENDING_DELETION, LoadedKey, LoadedVersion, Principal
from sigil.store.audit import now_us
from sigil.store.generation import GenerationCache
from sigil.store.models import Key, KeyVersion
from sigil.store.sealing import key_version_aad

_CACHE_LIMIT = 50_000


def load_row(session: Session, key_id: str) -> LoadedKey | None:
    row = session.get(Key, key_id)
    if row is None:
        return None
    versions = session.execute(select(KeyVersion).where(KeyVersion.key_id == key_id)).scalars()
    return to_loaded(row, list(versions))


def load_where(session: Session, *conditions: Any) -> list[LoadedKey]:
    """Every key matching ``conditions`` (oldest first) with its versions, in two queries."""
    rows = list(session.execute(select(Key).where(*conditions).order_by(Key.created_at)).scalars())
    versions: dict[str, list[KeyVersion]] = {k.id: [] for k in rows}
    if rows:
        for v in session.execute(select(KeyVersion).where(KeyVersion.key_id.in_(versions))).scalars():
            versions[v.key_id].append(v)
    return [to_loaded(k, versions[k.id]) for k in rows]


def to_loaded(row: Key, versions: list[KeyVersion]) -> LoadedKey:
    curve = get_curve(row.curve)
    key = LoadedKey(
        key_id=row.id,
        principal_id=row.principal_id,
        curve=curve,
        label=row.label,
        state=row.state,
        jwt=row.jwt,
        latest_version=row.latest_version,
        created_at=row.created_at,
        deletion_at=row.deletion_at,
    )
    for v in versions:
        key.versions[v.version] = LoadedVersion(
            version=v.version,
            state=v.state,
            public_key=PublicKey.from_sec1(curve, v.public_key),
            created_at=v.created_at,
            sealed_private=v.sealed_private,
        )
    return key


class KeyCache:
    """Per-worker cache of loaded keys, valid while the node's change counter is unchanged and
    for at most the TTL (so other nodes' changes are seen within it)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._entries: GenerationCache[str, LoadedKey] = GenerationCache(
            ctx.generation, lambda: ctx.limits.cache_ttl_seconds, _CACHE_LIMIT
        )

    def peek(self, key_id: str) -> LoadedKey | None:
        """The cached key if it is still valid; never touches the database."""
        return self._valid(key_id, self._entries.current())

    def _valid(self, key_id: str, gen: int) -> LoadedKey | None:
        hit = self._entries.get(key_id, gen)
        if hit is not None and hit.deletion_at is not None and deletion_due(hit, now_us()):
            return None  # the caller reloads through the lifecycle, which destroys it first
        return hit

    def get(self, key_id: str) -> LoadedKey | None:
        gen = self._entries.current()
        hit = self._valid(key_id, gen)
        if hit is not None:
            return hit
        read_at = time.monotonic()
        with self._ctx.db.read() as session:
            key = load_row(session, key_id)
        if key is not None:
            self._entries.put(key_id, key, gen, read_at)
        return key

    def private_key(self, key: LoadedKey, version: LoadedVersion) -> PrivateKey:
        if version.private is None:
            assert version.sealed_private is not None and version.state != DESTROYED
            scalar = self._ctx.sealer.open(
                version.sealed_private, aad=key_version_aad(key.key_id, version.version)
            )
            version.private = PrivateKey.from_scalar(key.curve, scalar)
        return version.private


def deletion_due(key: LoadedKey, now: int) -> bool:
    return key.state == PENDING_DELETION and key.deletion_at is not None and key.deletion_at <= now


def owned(key: LoadedKey | None, principal: Principal, key_id: str) -> LoadedKey:
    """The key, if it exists and belongs to ``principal``; otherwise 404 (never 403: do not
    reveal that another principal's key exists)."""
    if key is None or key.principal_id != principal.id:
        raise NotFound(f"no key {key_id!r}")
    return key
