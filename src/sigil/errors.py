"""The error taxonomy shared by every layer.

Each family has a stable machine-readable ``code`` and an HTTP ``status``; the server maps any
``SigilError`` to an RFC 9457 ``application/problem+json`` body in one place
(``sigil.server.problems``). Messages must never contain secret material: they are shown to
callers verbatim.

"Malformed input" (``BadRequest`` and subclasses) and "the signature does not verify"
(``InvalidSignature``) are different things: the first is the caller's bug, the second is an
answer.
"""

from __future__ import annotations


class SigilError(Exception):
    """Base class of every error Sigil raises on purpose."""

    code: str = "error"
    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        super().__init__(self.detail)


class BadRequest(SigilError):
    """The request is well-formed JSON but its content is not acceptable."""

    code = "bad_request"
    status = 422
    title = "Invalid request"


class MalformedBody(BadRequest):
    """The body is not parseable (not JSON, wrong content type)."""

    code = "malformed_body"
    status = 400
    title = "Malformed request body"


class UnknownCurve(BadRequest):
    code = "unknown_curve"
    title = "Unknown curve"


class UnsupportedHash(BadRequest):
    code = "unsupported_hash"
    title = "Unsupported hash for this curve"


class InvalidEncoding(BadRequest):
    """Bad base64/hex, wrong length, or an encoding that does not apply to the curve."""

    code = "invalid_encoding"
    title = "Invalid encoding"


class InvalidPublicKey(BadRequest):
    """A public key that cannot be parsed, is off the curve, or is the identity."""

    code = "invalid_public_key"
    title = "Invalid public key"


class InvalidSignature(SigilError):
    """A signature that does not verify. Library callers get this; the API answers ``valid: false``."""

    code = "invalid_signature"
    status = 400
    title = "Signature does not verify"


class Unauthorized(SigilError):
    code = "unauthorized"
    status = 401
    title = "Missing or invalid credentials"


class Forbidden(SigilError):
    """Authenticated, but the token's scopes do not allow this action."""

    code = "forbidden"
    status = 403
    title = "Not allowed for this token"


class NotFound(SigilError):
    """Unknown, or not the caller's (never reveal which)."""

    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(SigilError):
    """The request is valid but the resource's state does not allow it."""

    code = "conflict"
    status = 409
    title = "State conflict"


class PayloadTooLarge(SigilError):
    code = "payload_too_large"
    status = 413
    title = "Request body too large"


class TamperedData(SigilError):
    """Sealed data failed authentication: wrong master key, or the database was edited."""

    code = "tampered_data"
    status = 500
    title = "Sealed data failed authentication"


class UnknownObjectType(BadRequest):
    """A signed-object type name that Sigil does not know (see ``sigil.objects.OBJECT_TYPES``)."""

    code = "unknown_object_type"
    title = "Unknown object type"


class UnknownProfile(BadRequest):
    """A signature-rule profile name that Sigil does not know (see ``sigil.objects.PROFILES``)."""

    code = "unknown_profile"
    title = "Unknown signature profile"


class MissingField(BadRequest):
    """A field the signature rule needs is absent from the object or its context."""

    code = "missing_field"
    title = "Missing field"


class WrongFieldType(BadRequest):
    """A field has the wrong JSON type (e.g. a string timestamp, a list where an object belongs)."""

    code = "wrong_field_type"
    title = "Wrong field type"


class TooManyRequests(SigilError):
    """A rate limit was hit (per user or per client address); retry after the window."""

    code = "rate_limited"
    status = 429
    title = "Too many requests"


# --- two-party MPC ECDSA (issue 5) -------------------------------------------------------------
# ``sigil.wallets`` maps ``sigil.mpc.errors`` onto these (sigil.mpc itself stays free of HTTP codes).


class MpcInvalidMessage(BadRequest):
    """An MPC message field is malformed: wrong type or length, a scalar out of range, a point off
    the curve or at infinity."""

    code = "mpc_invalid_message"
    title = "Invalid MPC message"


class MpcInvalidProof(BadRequest):
    """A zero-knowledge or Schnorr proof, or a commitment opening, does not check."""

    code = "mpc_invalid_proof"
    title = "MPC proof rejected"


class MpcInvalidShare(BadRequest):
    """A key share does not match its Feldman commitments."""

    code = "mpc_invalid_share"
    title = "MPC share rejected"


class PairingLocked(Conflict):
    """The pairing was locked (a signature failed to verify, CVE-2023-33242); it never signs again."""

    code = "mpc_pairing_locked"
    title = "Pairing locked"


class PairingNotActive(Conflict):
    """The pairing has not completed (its proofs were not accepted yet)."""

    code = "mpc_pairing_not_active"
    title = "Pairing not active"


class SessionUsed(Conflict):
    """An MPC session (keygen, pairing or signing) was already used: sessions are single-use."""

    code = "mpc_session_used"
    title = "Session already used"


class SessionExpired(Conflict):
    """An MPC session (keygen, pairing or signing) expired before it was used."""

    code = "mpc_session_expired"
    title = "Session expired"
