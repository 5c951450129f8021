"""Users and their devices in the database: register, list, look up, revoke.

State changes append their audit entry in the same transaction (sigil.store.audit).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sigil.auth.errors import RegistrationClosed
from sigil.errors import Conflict, NotFound, Unauthorized
from sigil.keys.context import Context
from sigil.store import audit
from sigil.store.audit import AuditEvent, now_us
from sigil.store.models import AuthDevice, AuthUser

KIND_ECDSA, KIND_WEBAUTHN = "ecdsa", "webauthn"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    user_id: str
    name: str | None
    kind: str
    public_key: bytes
    created_at: int
    revoked_at: int | None
    credential_id: bytes | None = None
    sign_count: int = 0
    transports: str | None = None
    aaguid: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def summary(self) -> dict[str, object]:
        return {
            "device_id": self.id,
            "name": self.name,
            "kind": self.kind,
            "created_at": self.created_at,
            "revoked": self.revoked,
        }


def _user(r: AuthUser) -> User:
    return User(id=r.id, name=r.name, created_at=r.created_at)


def to_device(r: AuthDevice) -> Device:
    return Device(
        id=r.id,
        user_id=r.user_id,
        name=r.name,
        kind=r.kind,
        public_key=bytes(r.public_key),
        created_at=r.created_at,
        revoked_at=r.revoked_at,
        credential_id=None if r.credential_id is None else bytes(r.credential_id),
        sign_count=r.sign_count or 0,
        transports=r.transports,
        aaguid=r.aaguid,
    )


def find_user(session: Session, name: str) -> User | None:
    r = session.execute(select(AuthUser).where(AuthUser.name == name)).scalar_one_or_none()
    return None if r is None else _user(r)


def get_user(ctx: Context, name: str) -> User | None:
    with ctx.db.read() as session:
        return find_user(session, name)


def get_device(ctx: Context, device_id: str) -> Device | None:
    if not isinstance(device_id, str) or not device_id.startswith("dev_") or len(device_id) > 32:
        return None
    with ctx.db.read() as session:
        r = session.get(AuthDevice, device_id)
        return None if r is None else to_device(r)


def register_device(
    ctx: Context,
    *,
    user: str,
    public_key: bytes,
    name: str | None,
    session_user: str | None,
    open_registration: bool,
    kind: str = KIND_ECDSA,
    credential_id: bytes | None = None,
    sign_count: int = 0,
    transports: str | None = None,
    aaguid: str | None = None,
) -> tuple[Device, User]:
    """Add a device. An existing user needs ``session_user`` to be that user (their session);
    a new user is created only when ``open_registration`` is on (RegistrationClosed otherwise).
    ``public_key`` is already validated (``registration.parse_device_key`` or the WebAuthn
    ceremony)."""
    now = now_us()
    try:
        with ctx.db.write() as session:
            row = _owner_of_new_device(ctx, session, user, session_user, open_registration, now)
            device = AuthDevice(
                id="dev_" + secrets.token_hex(14),
                user_id=row.id,
                name=name,
                kind=kind,
                public_key=public_key,
                credential_id=credential_id,
                sign_count=sign_count,
                transports=transports,
                aaguid=aaguid,
                created_at=now,
                revoked_at=None,
            )
            session.add(device)
            session.flush()
            audit.append(
                session, ctx.sealer.audit_key, [AuditEvent(user, "auth.device_register", key_id=device.id)]
            )
            return to_device(device), _user(row)
    except IntegrityError:
        raise Conflict("the user or credential was registered concurrently; retry", code="conflict") from None


def _owner_of_new_device(
    ctx: Context, session: Session, user: str, session_user: str | None, open_registration: bool, now: int
) -> AuthUser:
    """The row of ``user``, who may get a device: their own session for an existing user; a new
    user (created here, with its audit entry) only without a session and with open registration."""
    row = session.execute(select(AuthUser).where(AuthUser.name == user)).scalar_one_or_none()
    if row is None:
        if session_user is not None:
            # A logged-in user may add devices only to their own account.
            raise Unauthorized("a session may add devices only to its own user")
        if not open_registration:
            raise RegistrationClosed("open registration is off: ask an administrator")
        row = AuthUser(id="usr_" + secrets.token_hex(14), name=user, created_at=now)
        session.add(row)
        session.flush()
        audit.append(session, ctx.sealer.audit_key, [AuditEvent(user, "auth.user_create", key_id=row.id)])
    elif session_user != user:
        raise Unauthorized("adding a device to an existing user needs that user's session")
    return row


def list_devices(ctx: Context, user: str) -> list[Device]:
    with ctx.db.read() as session:
        rows = session.execute(
            select(AuthDevice)
            .join(AuthUser, AuthUser.id == AuthDevice.user_id)
            .where(AuthUser.name == user)
            .order_by(AuthDevice.created_at, AuthDevice.id)
        ).scalars()
        return [to_device(r) for r in rows]


def revoke_device(ctx: Context, *, user: str, device_id: str) -> Device:
    """Revoke one of ``user``'s devices (404 for another user's or an unknown device; revoking
    twice is a no-op that keeps the first time)."""
    with ctx.db.write() as session:
        row = (
            session.get(AuthDevice, device_id)
            if device_id.startswith("dev_") and len(device_id) <= 32
            else None
        )
        owner = None if row is None else session.get(AuthUser, row.user_id)
        if row is None or owner is None or owner.name != user:
            raise NotFound(f"no device {device_id!r}")
        if row.revoked_at is None:
            row.revoked_at = now_us()
            audit.append(
                session, ctx.sealer.audit_key, [AuditEvent(user, "auth.device_revoke", key_id=row.id)]
            )
        session.flush()
        device = to_device(row)
    # After the commit, on every revocation (a repeated one too, in case a process died between
    # its commit and this): every worker on the node drops the devices it keeps for logins
    # (``sigil.auth.login.device_cache``) and reads this one again, revoked.
    ctx.generation.bump()
    return device
