"""The WebAuthn ceremonies over the database: challenges, users, passkey devices, counters.

The relying-party checks themselves are pure (``sigil.auth.webauthn``, ``webauthn_checks``); this
module loads what they need, and stores what they decide, in the order that keeps every rejection
free of state changes: read the challenge and the credential, run every check, and only then, in
one write transaction, consume the challenge (atomic, ``sigil.auth.challenges``), store the device
or the new sign counter, and append the audit entry.

Registration: a new user needs open registration; adding a passkey to an existing user needs that
user's session. A new user's row is made at the options step (the registration response carries
no user name), so a user that has no device at all yet is still "new": open registration lets the
sign-up be finished or restarted.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sigil.auth.challenges import (
    ChallengeRow,
    check_challenge,
    consume_challenge,
    get_challenge,
    new_challenge,
)
from sigil.auth.devices import KIND_WEBAUTHN
from sigil.auth.errors import (
    AuthenticationRejected,
    ChallengeMismatch,
    ChallengeNotFound,
    DeviceRevoked,
    RegistrationClosed,
)
from sigil.auth.registration import check_device_name, check_user_name
from sigil.auth.webauthn import (
    RelyingParty,
    StoredCredential,
    VerifiedAssertion,
    VerifiedPasskey,
    authentication_options,
    credential_id_of,
    registration_options,
    verify_authentication,
    verify_registration,
)
from sigil.errors import Conflict, NotFound, Unauthorized
from sigil.keys.context import Context
from sigil.store import audit
from sigil.store.audit import AuditEvent, now_us
from sigil.store.models import AuthDevice, AuthUser

PURPOSE_REGISTER = "webauthn_register"
PURPOSE_LOGIN = "webauthn_login"
ACTION_REGISTER = "webauthn.register"
ACTION_LOGIN = "webauthn.login"
ACTION_USER_CREATE = "auth.user_create"
ANONYMOUS = "anonymous"


@dataclass
class Attempt:
    """Who a ceremony step turned out to be about, filled in as it is learnt: the audit entry of
    a rejection names the user and device when they are known."""

    user: str | None = None
    device_id: str | None = None

    @property
    def principal(self) -> str:
        return self.user or ANONYMOUS


@dataclass(frozen=True)
class Started:
    challenge_id: str
    options: dict[str, Any]


@dataclass(frozen=True)
class Registered:
    device_id: str
    user: str


@dataclass(frozen=True)
class LoggedIn:
    device_id: str
    user: str
    sign_count: int


# --- registration ---------------------------------------------------------------------------------


def start_registration(
    ctx: Context,
    rp: RelyingParty,
    *,
    user: str,
    session_user: str | None,
    open_registration: bool,
    ttl: int,
    attempt: Attempt,
) -> Started:
    """Options for ``navigator.credentials.create()`` and the stored challenge they carry."""
    attempt.user = check_user_name(user)
    now = now_us()
    with ctx.db.write() as session:
        row = session.execute(
            select(AuthUser).where(AuthUser.name == user).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            _may_add(user, 0, session_user, open_registration)
            row = AuthUser(id="usr_" + secrets.token_hex(14), name=user, created_at=now)
            session.add(row)
            session.flush()
            audit.append(session, ctx.sealer.audit_key, [AuditEvent(user, ACTION_USER_CREATE, key_id=row.id)])
        else:
            _may_add(user, _device_count(session, row.id), session_user, open_registration)
        challenge = new_challenge(session, user_id=row.id, purpose=PURPOSE_REGISTER, domain=rp.rp_id, ttl=ttl)
        exclude = _passkeys(session, row.id)
        options = registration_options(
            rp, user_name=user, user_handle=row.id.encode(), challenge=challenge.challenge, exclude=exclude
        )
    return Started(challenge.id, options)


def finish_registration(
    ctx: Context,
    rp: RelyingParty,
    *,
    challenge_id: str,
    credential: Mapping[str, Any],
    name: str | None,
    session_user: str | None,
    open_registration: bool,
    attempt: Attempt,
) -> Registered:
    """Verify the new credential (§7.1) and store it as a ``webauthn`` device of the user the
    challenge was made for."""
    check_device_name(name)
    challenge, owner = _registration_challenge(ctx, challenge_id)
    user = None if owner is None else owner.name
    attempt.user = user
    if challenge is None or owner is None or user is None:
        raise ChallengeNotFound("unknown challenge")
    check_challenge(challenge, purpose=PURPOSE_REGISTER, user_id=owner.id, now=now_us(), domain=rp.rp_id)
    verified = verify_registration(rp, credential=credential, expected_challenge=challenge.challenge)
    try:
        with ctx.db.write() as session:
            session.execute(select(AuthUser.id).where(AuthUser.id == owner.id).with_for_update()).one()
            _may_add(user, _device_count(session, owner.id), session_user, open_registration)
            _check_credential_unregistered(session, verified.credential_id)
            consume_challenge(
                session,
                challenge.id,
                purpose=PURPOSE_REGISTER,
                user_id=owner.id,
                domain=rp.rp_id,
                challenge=challenge.challenge,
            )
            device = _passkey_device(owner.id, name, verified)
            session.add(device)
            session.flush()
            attempt.device_id = device.id
            audit.append(session, ctx.sealer.audit_key, [AuditEvent(user, ACTION_REGISTER, key_id=device.id)])
    except IntegrityError:
        raise Conflict("this passkey was registered concurrently", code="credential_exists") from None
    return Registered(device_id=device.id, user=user)


def _registration_challenge(ctx: Context, challenge_id: str) -> tuple[ChallengeRow | None, AuthUser | None]:
    """The stored registration challenge and the user it was made for (None for either unknown)."""
    with ctx.db.read() as session:
        challenge = get_challenge(session, challenge_id)
        owner = (
            None
            if challenge is None or challenge.user_id is None
            else session.get(AuthUser, challenge.user_id)
        )
    return challenge, owner


def _check_credential_unregistered(session: Session, credential_id: bytes) -> None:
    taken = session.execute(select(AuthDevice.id).where(AuthDevice.credential_id == credential_id)).first()
    if taken is not None:
        raise Conflict("this passkey is already registered", code="credential_exists")


def _passkey_device(user_id: str, name: str | None, verified: VerifiedPasskey) -> AuthDevice:
    """The device row of a verified passkey (created now, not revoked)."""
    return AuthDevice(
        id="dev_" + secrets.token_hex(14),
        user_id=user_id,
        name=name,
        kind=KIND_WEBAUTHN,
        public_key=verified.public_key,
        credential_id=verified.credential_id,
        sign_count=verified.sign_count,
        transports=",".join(verified.transports)[:200] or None,
        aaguid=verified.aaguid,
        created_at=now_us(),
        revoked_at=None,
    )


def _may_add(user: str, devices: int, session_user: str | None, open_registration: bool) -> None:
    """Who may add a passkey to ``user``: that user's session; or, while the user has no device
    at all (new, or a sign-up not finished), anyone when open registration is on."""
    if session_user is not None and session_user != user:
        raise Unauthorized("a session may add passkeys only to its own user")
    if session_user == user:
        return
    if devices == 0:
        if not open_registration:
            raise RegistrationClosed("open registration is off: ask an administrator")
        return
    raise Unauthorized("adding a passkey to an existing user needs that user's session")


def _device_count(session: Session, user_id: str) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(AuthDevice).where(AuthDevice.user_id == user_id)
        ).scalar_one()
    )


def _passkeys(session: Session, user_id: str) -> list[StoredCredential]:
    rows = session.execute(
        select(AuthDevice)
        .where(
            AuthDevice.user_id == user_id, AuthDevice.kind == KIND_WEBAUTHN, AuthDevice.revoked_at.is_(None)
        )
        .order_by(AuthDevice.created_at, AuthDevice.id)
    ).scalars()
    return [_stored(r) for r in rows if r.credential_id is not None]


def _stored(row: AuthDevice) -> StoredCredential:
    assert row.credential_id is not None
    return StoredCredential(
        credential_id=bytes(row.credential_id),
        public_key=bytes(row.public_key),
        sign_count=row.sign_count or 0,
        transports=tuple(t for t in (row.transports or "").split(",") if t),
    )


# --- authentication -------------------------------------------------------------------------------


def start_login(ctx: Context, rp: RelyingParty, *, user: str | None, ttl: int, attempt: Attempt) -> Started:
    """Options for ``navigator.credentials.get()``: the user's passkeys, or none at all for a
    discoverable credential (no ``user``: the authenticator picks the account)."""
    allow: list[StoredCredential] = []
    user_id = None
    with ctx.db.write() as session:
        if user is not None:
            attempt.user = check_user_name(user)
            row = session.execute(select(AuthUser).where(AuthUser.name == user)).scalar_one_or_none()
            if row is None:
                raise NotFound(f"no user {user!r}")
            allow = _passkeys(session, row.id)
            if not allow:
                raise NotFound(f"user {user!r} has no passkey", code="no_passkeys")
            user_id = row.id
        challenge = new_challenge(session, user_id=user_id, purpose=PURPOSE_LOGIN, domain=rp.rp_id, ttl=ttl)
    return Started(challenge.id, authentication_options(rp, challenge=challenge.challenge, allow=allow))


def finish_login(
    ctx: Context, rp: RelyingParty, *, challenge_id: str, credential: Mapping[str, Any], attempt: Attempt
) -> LoggedIn:
    """Verify an assertion (§7.2) and advance the credential's counter; the caller issues the
    session."""
    credential_id = credential_id_of(credential)
    device, owner, challenge = _login_rows(ctx, challenge_id, credential_id)
    if challenge is None:
        raise ChallengeNotFound("unknown challenge")
    if device is None or owner is None:
        raise AuthenticationRejected(
            "no passkey with this credential id is registered", code="credential_unknown"
        )
    attempt.user, attempt.device_id = owner.name, device.id
    check_challenge(
        challenge, purpose=PURPOSE_LOGIN, user_id=challenge.user_id, now=now_us(), domain=rp.rp_id
    )
    if challenge.user_id is not None and challenge.user_id != owner.id:
        raise ChallengeMismatch("the challenge was issued for another user")
    if device.revoked_at is not None:
        raise DeviceRevoked("this passkey has been revoked")
    stored = _stored(device)
    verified = verify_authentication(
        rp, credential=credential, expected_challenge=challenge.challenge, stored=stored
    )
    # §7.2 step 6: a returned user handle must be the credential's user (the handle is the user id).
    if verified.user_handle is not None and not hmac.compare_digest(verified.user_handle, owner.id.encode()):
        raise AuthenticationRejected("userHandle is not this passkey's user", code="user_handle_mismatch")
    _commit_login(ctx, rp, challenge, device, owner, stored, verified)
    return LoggedIn(device_id=device.id, user=owner.name, sign_count=verified.new_sign_count)


def _login_rows(
    ctx: Context, challenge_id: str, credential_id: bytes
) -> tuple[AuthDevice | None, AuthUser | None, ChallengeRow | None]:
    """The passkey device with ``credential_id``, its user and the challenge (None for unknown)."""
    with ctx.db.read() as session:
        # The device before the challenge: under READ COMMITTED each statement has its own
        # snapshot, and a concurrent login commits the new counter and the consumption together.
        # Read in this order, a counter that already moved implies a challenge seen as used (409),
        # never a stale challenge beside a moved counter (a false "cloned authenticator" 401).
        device = session.execute(
            select(AuthDevice).where(
                AuthDevice.credential_id == credential_id, AuthDevice.kind == KIND_WEBAUTHN
            )
        ).scalar_one_or_none()
        owner = None if device is None else session.get(AuthUser, device.user_id)
        challenge = get_challenge(session, challenge_id)
    return device, owner, challenge


def _commit_login(
    ctx: Context,
    rp: RelyingParty,
    challenge: ChallengeRow,
    device: AuthDevice,
    owner: AuthUser,
    stored: StoredCredential,
    verified: VerifiedAssertion,
) -> None:
    """One write transaction: consume the challenge, advance the counter, append the audit entry."""
    with ctx.db.write() as session:
        consume_challenge(
            session,
            challenge.id,
            purpose=PURPOSE_LOGIN,
            user_id=challenge.user_id,
            domain=rp.rp_id,
            challenge=challenge.challenge,
        )
        # Compare-and-set: a concurrent login with the same counter value, or a revocation in
        # between, makes this one fail (and roll back the consumption).
        moved = session.execute(
            update(AuthDevice)
            .where(
                AuthDevice.id == device.id,
                AuthDevice.sign_count == stored.sign_count,
                AuthDevice.revoked_at.is_(None),
            )
            .values(sign_count=verified.new_sign_count)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise AuthenticationRejected(
                "the passkey was used or revoked concurrently", code="sign_count_regressed"
            )
        audit.append(session, ctx.sealer.audit_key, [AuditEvent(owner.name, ACTION_LOGIN, key_id=device.id)])


def record_failure(ctx: Context, action: str, attempt: Attempt, code: str) -> None:
    """The audit entry of a rejected step (queued: a rejection changes no state to bind it to)."""
    ctx.audit.record(AuditEvent(attempt.principal, action, outcome=code[:32], key_id=attempt.device_id))
