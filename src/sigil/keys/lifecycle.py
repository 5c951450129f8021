"""Key lifecycle: create, rotate, disable/enable, scheduled deletion, destruction (KMS-style).

Every change is one database transaction that also appends its audit entry, then bumps the
node's change counter so the workers drop their cached copies.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sigil.crypto.curves import get_curve
from sigil.crypto.ecdsa import PrivateKey
from sigil.errors import BadRequest, Conflict, NotFound
from sigil.keys.context import Context
from sigil.keys.model import (
    DESTROYED,
    DISABLED,
    ENABLED,
    PENDING_DELETION,
    LoadedKey,
    Principal,
    key_metadata,
)
from sigil.keys.repository import KeyCache, deletion_due, load_row, load_where, owned
from sigil.store import audit
from sigil.store.audit import AuditEvent, now_us
from sigil.store.models import Key, KeyVersion
from sigil.store.sealing import key_version_aad

MIN_PENDING_DAYS, MAX_PENDING_DAYS, DEFAULT_PENDING_DAYS = 7, 30, 30
MAX_LABEL = 200


def new_key_id() -> str:
    """``key_`` + 26 base32 characters: 128 random bits, safe in URLs and file names."""
    return "key_" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


class KeyLifecycle:
    def __init__(self, ctx: Context, cache: KeyCache) -> None:
        self._ctx = ctx
        self._cache = cache

    # --- reads ------------------------------------------------------------------------------

    def list(self, principal: Principal) -> list[dict[str, Any]]:
        self.destroy_due()
        with self._ctx.db.read() as session:
            keys = load_where(session, Key.principal_id == principal.id)
        return [key_metadata(k) for k in keys]

    def get(self, principal: Principal, key_id: str) -> dict[str, Any]:
        """Fresh metadata of one of the caller's keys (read from the database, not the cache)."""
        self.destroy_due()
        with self._ctx.db.read() as session:
            key = owned(load_row(session, key_id), principal, key_id)
        return key_metadata(key)

    def load(self, key_id: str) -> LoadedKey | None:
        """The key through the cache, destroying it first if its deletion date has passed."""
        key = self._cache.get(key_id)
        if key is not None and deletion_due(key, now_us()):
            self.destroy_due()
            key = self._cache.get(key_id)
        return key

    # --- changes ----------------------------------------------------------------------------

    def create(self, principal: Principal, curve_name: str, label: str | None, jwt: bool) -> dict[str, Any]:
        curve = get_curve(curve_name)
        if label is not None and len(label) > MAX_LABEL:
            raise BadRequest(f"label is longer than {MAX_LABEL} characters", code="validation_error")
        private = PrivateKey.generate(curve)
        key_id, now = new_key_id(), now_us()
        with self._ctx.db.write() as session:
            session.add(
                Key(
                    id=key_id,
                    principal_id=principal.id,
                    curve=curve.name,
                    label=label,
                    state=ENABLED,
                    jwt=jwt,
                    latest_version=1,
                    created_at=now,
                    deletion_at=None,
                )
            )
            session.flush()
            session.add(self._version_row(key_id, 1, private, now))
            self._audit(session, principal, "key.create", key_id, 1)
            session.flush()
            key = load_row(session, key_id)
        assert key is not None
        return key_metadata(key)

    def rotate(self, principal: Principal, key_id: str) -> dict[str, Any]:
        def change(session: Session, row: Key) -> None:
            self._require_state(row, ENABLED, DISABLED)
            curve = get_curve(row.curve)
            row.latest_version += 1
            session.add(self._version_row(row.id, row.latest_version, PrivateKey.generate(curve), now_us()))
            self._audit(session, principal, "key.rotate", row.id, row.latest_version)

        return self._change(principal, key_id, change)

    def set_enabled(
        self, principal: Principal, key_id: str, enabled: bool, version: int | None
    ) -> dict[str, Any]:
        target = ENABLED if enabled else DISABLED
        action = "key.enable" if enabled else "key.disable"

        def change(session: Session, row: Key) -> None:
            self._require_state(row, ENABLED, DISABLED)
            if version is None:
                row.state = target
            else:
                v = self._version(session, row.id, version)
                if v.state == DESTROYED:
                    raise Conflict(f"version {version} is destroyed", code="version_destroyed")
                v.state = target
            self._audit(session, principal, action, row.id, version)

        return self._change(principal, key_id, change)

    def schedule_deletion(self, principal: Principal, key_id: str, pending_days: int) -> dict[str, Any]:
        if not MIN_PENDING_DAYS <= pending_days <= MAX_PENDING_DAYS:
            raise BadRequest(
                f"pending_days must be {MIN_PENDING_DAYS}..{MAX_PENDING_DAYS}", code="validation_error"
            )

        def change(session: Session, row: Key) -> None:
            self._require_state(row, ENABLED, DISABLED)
            row.state = PENDING_DELETION
            row.deletion_at = now_us() + pending_days * self._ctx.limits.deletion_day_seconds * 1_000_000
            self._audit(session, principal, "key.schedule_deletion", row.id, None)

        return self._change(principal, key_id, change)

    def cancel_deletion(self, principal: Principal, key_id: str) -> dict[str, Any]:
        def change(session: Session, row: Key) -> None:
            if row.state != PENDING_DELETION:
                raise Conflict("the key is not pending deletion", code="not_pending_deletion")
            row.state, row.deletion_at = DISABLED, None
            self._audit(session, principal, "key.cancel_deletion", row.id, None)

        return self._change(principal, key_id, change)

    def destroy_due(self) -> int:
        """Destroy every key whose deletion date has passed: erase each version's sealed private
        key. Idempotent, so every worker may run it."""
        now = now_us()
        with self._ctx.db.read() as session:
            if (
                session.execute(
                    select(Key.id).where(Key.state == PENDING_DELETION, Key.deletion_at <= now)
                ).first()
                is None
            ):
                return 0
        with self._ctx.db.write() as session:
            due = session.execute(
                select(Key).where(Key.state == PENDING_DELETION, Key.deletion_at <= now).with_for_update()
            ).scalars()
            rows = list(due)
            for row in rows:
                row.state = DESTROYED
                for v in session.execute(select(KeyVersion).where(KeyVersion.key_id == row.id)).scalars():
                    v.state, v.sealed_private = DESTROYED, None
                event = AuditEvent("system", "key.destroy", key_id=row.id)
                audit.append(session, self._ctx.sealer.audit_key, [event])
        if rows:
            self._ctx.generation.bump()
        return len(rows)

    # --- helpers ----------------------------------------------------------------------------

    def _change(
        self, principal: Principal, key_id: str, change: Callable[[Session, Key], None]
    ) -> dict[str, Any]:
        self.destroy_due()
        with self._ctx.db.write() as session:
            row = session.execute(select(Key).where(Key.id == key_id).with_for_update()).scalar_one_or_none()
            if row is None or row.principal_id != principal.id:
                raise NotFound(f"no key {key_id!r}")
            change(session, row)
            session.flush()
            key = load_row(session, key_id)
        assert key is not None
        self._ctx.generation.bump()
        return key_metadata(key)

    def _version_row(self, key_id: str, version: int, private: PrivateKey, now: int) -> KeyVersion:
        sealed = self._ctx.sealer.seal(private.scalar_bytes(), aad=key_version_aad(key_id, version))
        return KeyVersion(
            key_id=key_id,
            version=version,
            public_key=private.public_key().sec1(),
            sealed_private=sealed,
            state=ENABLED,
            created_at=now,
        )

    @staticmethod
    def _version(session: Session, key_id: str, version: int) -> KeyVersion:
        v = session.get(KeyVersion, (key_id, version))
        if v is None:
            raise NotFound(f"key {key_id!r} has no version {version}")
        return v

    @staticmethod
    def _require_state(row: Key, *allowed: str) -> None:
        if row.state not in allowed:
            raise Conflict(f"the key is {row.state.replace('_', ' ')}", code=f"key_{row.state}")

    def _audit(
        self, session: Session, principal: Principal, action: str, key_id: str, version: int | None
    ) -> None:
        audit.append(
            session,
            self._ctx.sealer.audit_key,
            [AuditEvent(principal.name, action, key_id=key_id, version=version)],
        )
