"""The auth part's error families (each a ``sigil.errors`` subclass with a stable code).

Every rejection of a login step is one of these, so the route can record its ``code`` as the
audit outcome.
"""

from __future__ import annotations

from sigil.errors import BadRequest, Conflict, Forbidden, NotFound, SigilError, Unauthorized


class LoginFailed(Unauthorized):
    """The signature does not verify with the device's public key (or the device is not the
    user's). Deliberately vague: the caller learns nothing about which."""

    code = "login_failed"
    title = "Login failed"


class ChallengeMismatch(Unauthorized):
    """The challenge was issued for another user, purpose or domain."""

    code = "challenge_mismatch"
    title = "Challenge does not match"


class ChallengeUsed(Conflict):
    code = "challenge_used"
    title = "Challenge already used"


class ChallengeExpired(SigilError):
    code = "challenge_expired"
    status = 410
    title = "Challenge expired"


class ChallengeNotFound(NotFound):
    code = "challenge_not_found"
    title = "Unknown challenge"


class DeviceRevoked(Unauthorized):
    code = "device_revoked"
    title = "Device revoked"


class RegistrationClosed(Forbidden):
    code = "registration_closed"
    title = "Open registration is off"


# --- WebAuthn (sigil.auth.webauthn) ------------------------------------------------------------


class WebAuthnMalformed(BadRequest):
    """The credential JSON cannot be parsed: missing members, bad base64url, bad CBOR."""

    code = "webauthn_malformed"
    status = 400
    title = "Malformed WebAuthn credential"


class RegistrationRejected(BadRequest):
    """A well-formed registration response that fails a relying-party check (§7.1)."""

    code = "webauthn_invalid"
    status = 422
    title = "WebAuthn registration rejected"


class AuthenticationRejected(Unauthorized):
    """A well-formed assertion that fails a relying-party check (§7.2): no session."""

    code = "webauthn_invalid"
    title = "WebAuthn login rejected"
