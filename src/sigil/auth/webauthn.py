"""WebAuthn relying party for ES256 passkeys, over py_webauthn (``webauthn`` 3.x).

One public function per ceremony step (STYLE.md §4), keyword-only, stateless: the caller stores
the challenge (``sigil.auth.challenges``) and the credential's public key and sign counter.

- :func:`registration_options` / :func:`verify_registration`: ``navigator.credentials.create()``.
- :func:`authentication_options` / :func:`verify_authentication`: ``navigator.credentials.get()``.

Every check is a named step with its own error code, run before py_webauthn's own verification
(which repeats them and checks the attestation and the signature). References are to WebAuthn
Level 2 (W3C Recommendation, 2021): §7.1 "Registering a New Credential", §7.2 "Verifying an
Authentication Assertion".

Policy: ES256 (COSE -7, ECDSA P-256 with SHA-256) only; user presence always required; user
verification "preferred" by default ("required" makes a missing UV flag a rejection); "none"
attestation requested (passkeys rarely attest and the server has no attestation trust store).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_cbor,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSECRV, COSEAlgorithmIdentifier
from webauthn.helpers.decode_credential_public_key import DecodedEC2PublicKey
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorData,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    ClientDataType,
    CollectedClientData,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from sigil.errors import BadRequest, SigilError, Unauthorized

ES256_ONLY = [COSEAlgorithmIdentifier.ECDSA_SHA_256]
USER_VERIFICATION_POLICIES = ("required", "preferred", "discouraged")
MAX_CREDENTIAL_ID = 1023  # WebAuthn L2 §5.1: credential ids are at most 1023 bytes


# --- errors -------------------------------------------------------------------------------------


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


# --- policy and results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RelyingParty:
    """Who the server is to authenticators. ``origins`` are the exact web origins whose
    ``clientDataJSON.origin`` is accepted; nothing is trusted implicitly."""

    rp_id: str
    rp_name: str
    origins: tuple[str, ...]
    user_verification: str = "preferred"
    timeout_ms: int = 60_000

    def __post_init__(self) -> None:
        if self.user_verification not in USER_VERIFICATION_POLICIES:
            raise ValueError(f"user_verification must be one of {USER_VERIFICATION_POLICIES}")

    @property
    def uv_required(self) -> bool:
        return self.user_verification == "required"


@dataclass(frozen=True)
class StoredCredential:
    """What the server keeps of a passkey, as the options and checks need it."""

    credential_id: bytes
    public_key: bytes  # COSE_Key bytes
    sign_count: int = 0
    transports: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifiedPasskey:
    """A registration that passed every check: store these."""

    credential_id: bytes
    public_key: bytes  # COSE_Key bytes, ES256 on P-256
    sign_count: int
    aaguid: str
    transports: tuple[str, ...]
    user_verified: bool


@dataclass(frozen=True)
class VerifiedAssertion:
    """A login that passed every check: store ``new_sign_count`` with the credential."""

    credential_id: bytes
    new_sign_count: int
    user_verified: bool
    user_handle: bytes | None


# --- registration ---------------------------------------------------------------------------------


def registration_options(
    rp: RelyingParty,
    *,
    user_name: str,
    user_handle: bytes,
    challenge: bytes,
    exclude: Sequence[StoredCredential] = (),
) -> dict[str, Any]:
    """``PublicKeyCredentialCreationOptions`` as JSON (§5.4), ES256 only, "none" attestation,
    a discoverable credential preferred, ``exclude`` listing the user's existing passkeys."""
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=rp.rp_name,
        user_name=user_name,
        user_id=user_handle,
        challenge=challenge,
        timeout=rp.timeout_ms,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement(rp.user_verification),
        ),
        exclude_credentials=[_descriptor(c) for c in exclude],
        supported_pub_key_algs=ES256_ONLY,
    )
    parsed: dict[str, Any] = orjson.loads(options_to_json(options))
    return parsed


def verify_registration(
    rp: RelyingParty, *, credential: Mapping[str, Any], expected_challenge: bytes
) -> VerifiedPasskey:
    """§7.1: the response to :func:`registration_options`. Raises :class:`WebAuthnMalformed`
    or :class:`RegistrationRejected` (with the failed check's code)."""
    cred = _parse(parse_registration_credential_json, credential)
    assert isinstance(cred, RegistrationCredential)
    client_data = _client_data(cred.response.client_data_json)
    try:
        attestation = parse_attestation_object(cred.response.attestation_object)
        if not isinstance(attestation.auth_data, AuthenticatorData):
            raise TypeError("authData is not authenticator data")
        raw = parse_cbor(cred.response.attestation_object)
        # §8.7: a "none" attestation statement is the empty map; any statement is a map.
        if not isinstance(raw.get("attStmt"), dict) or (raw.get("fmt") == "none" and raw["attStmt"]):
            raise TypeError("attStmt must be a map (the empty map for fmt none)")
    except Exception as exc:  # any failure to parse outside bytes is malformed input
        raise WebAuthnMalformed(f"attestationObject: {exc}") from None
    auth_data = attestation.auth_data
    error = RegistrationRejected
    check_type(client_data, ClientDataType.WEBAUTHN_CREATE, error)  # §7.1 step 7
    check_challenge(client_data, expected_challenge, error)  # step 8
    check_origin(client_data, rp, error)  # step 9
    check_rp_id_hash(auth_data, rp, error)  # step 13
    check_user_presence(auth_data, error)  # step 14
    check_user_verification(auth_data, rp, error)  # step 15
    public_key = check_es256_key(auth_data)  # step 16
    if len(cred.raw_id) > MAX_CREDENTIAL_ID:
        raise RegistrationRejected("the credential id is longer than 1023 bytes", code="webauthn_invalid")
    try:
        verified = verify_registration_response(
            credential=cred,
            expected_challenge=expected_challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            require_user_presence=True,
            require_user_verification=rp.uv_required,
            supported_pub_key_algs=ES256_ONLY,
        )
    except (WebAuthnException, TypeError, ValueError, KeyError) as exc:  # e.g. a malformed attStmt
        raise RegistrationRejected(f"registration does not verify: {exc}") from None
    if verified.credential_id != cred.raw_id:  # §7.1 step 22: the attested id is the credential's id
        raise RegistrationRejected("the attested credential id is not the credential's id")
    transports = tuple(
        t.value for t in cred.response.transports or () if isinstance(t, AuthenticatorTransport)
    )
    return VerifiedPasskey(
        credential_id=verified.credential_id,
        public_key=public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=transports,
        user_verified=verified.user_verified,
    )


# --- authentication -------------------------------------------------------------------------------


def authentication_options(
    rp: RelyingParty, *, challenge: bytes, allow: Sequence[StoredCredential] = ()
) -> dict[str, Any]:
    """``PublicKeyCredentialRequestOptions`` as JSON (§5.5). An empty ``allow`` asks for a
    discoverable credential (the authenticator picks the account)."""
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=rp.timeout_ms,
        allow_credentials=[_descriptor(c) for c in allow],
        user_verification=UserVerificationRequirement(rp.user_verification),
    )
    parsed: dict[str, Any] = orjson.loads(options_to_json(options))
    return parsed


def credential_id_of(credential: Mapping[str, Any]) -> bytes:
    """The ``rawId`` of an assertion, to find the stored credential before verifying it."""
    cred = _parse(parse_authentication_credential_json, credential)
    assert isinstance(cred, AuthenticationCredential)
    if not cred.raw_id or len(cred.raw_id) > MAX_CREDENTIAL_ID:
        raise WebAuthnMalformed("rawId is empty or longer than 1023 bytes")
    return cred.raw_id


def verify_authentication(
    rp: RelyingParty,
    *,
    credential: Mapping[str, Any],
    expected_challenge: bytes,
    stored: StoredCredential,
) -> VerifiedAssertion:
    """§7.2: an assertion by ``stored`` over ``expected_challenge``. Raises
    :class:`WebAuthnMalformed` or :class:`AuthenticationRejected` (with the failed check's code).

    The signature is checked before the counter, so only a validly signed assertion can report a
    cloned authenticator (``sign_count_regressed``)."""
    cred = _parse(parse_authentication_credential_json, credential)
    assert isinstance(cred, AuthenticationCredential)
    if not hmac.compare_digest(cred.raw_id, stored.credential_id):  # §7.2 step 5
        raise AuthenticationRejected("the assertion is not by this credential", code="credential_mismatch")
    client_data = _client_data(cred.response.client_data_json)
    try:
        auth_data = parse_authenticator_data(cred.response.authenticator_data)
    except Exception as exc:  # any failure to parse outside bytes is malformed input
        raise WebAuthnMalformed(f"authenticatorData: {exc}") from None
    error = AuthenticationRejected
    check_type(client_data, ClientDataType.WEBAUTHN_GET, error)  # §7.2 step 11
    check_challenge(client_data, expected_challenge, error)  # step 12
    check_origin(client_data, rp, error)  # step 13
    check_rp_id_hash(auth_data, rp, error)  # step 15
    check_user_presence(auth_data, error)  # step 16
    check_user_verification(auth_data, rp, error)  # step 17
    try:
        # The counter is checked below, after the signature: pass 0 so that the library's own
        # counter rule (the same one) cannot fire before the signature is known to be good.
        verified = verify_authentication_response(
            credential=cred,
            expected_challenge=expected_challenge,
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            credential_public_key=stored.public_key,
            credential_current_sign_count=0,
            require_user_verification=rp.uv_required,
        )
    except (
        WebAuthnException,
        TypeError,
        ValueError,
    ) as exc:  # step 20: signature over authData || H(clientData)
        raise AuthenticationRejected(f"assertion does not verify: {exc}", code="signature_invalid") from None
    check_sign_count(auth_data.sign_count, stored.sign_count)  # step 21
    return VerifiedAssertion(
        credential_id=verified.credential_id,
        new_sign_count=verified.new_sign_count,
        user_verified=verified.user_verified,
        user_handle=cred.response.user_handle,
    )


# --- the named checks -----------------------------------------------------------------------------


def check_type(client_data: CollectedClientData, expected: ClientDataType, error: type[SigilError]) -> None:
    if client_data.type != expected:
        raise error(f"clientDataJSON.type must be {expected.value!r}", code="webauthn_invalid")


def check_challenge(client_data: CollectedClientData, expected: bytes, error: type[SigilError]) -> None:
    if not hmac.compare_digest(client_data.challenge, expected):
        raise error("clientDataJSON.challenge is not this ceremony's challenge", code="challenge_mismatch")


def check_origin(client_data: CollectedClientData, rp: RelyingParty, error: type[SigilError]) -> None:
    if client_data.origin not in rp.origins:
        raise error(
            f"origin {client_data.origin[:200]!r} is not an allowed origin (SIGIL_WEBAUTHN_ORIGINS)",
            code="origin_mismatch",
        )


def check_rp_id_hash(auth_data: AuthenticatorData, rp: RelyingParty, error: type[SigilError]) -> None:
    if not hmac.compare_digest(auth_data.rp_id_hash, hashlib.sha256(rp.rp_id.encode()).digest()):
        raise error(f"authenticatorData.rpIdHash is not SHA-256 of {rp.rp_id!r}", code="rp_id_mismatch")


def check_user_presence(auth_data: AuthenticatorData, error: type[SigilError]) -> None:
    if not auth_data.flags.up:
        raise error("the authenticator did not test user presence (UP flag)", code="user_presence_missing")


def check_user_verification(auth_data: AuthenticatorData, rp: RelyingParty, error: type[SigilError]) -> None:
    if rp.uv_required and not auth_data.flags.uv:
        raise error(
            "user verification is required and the UV flag is not set", code="user_verification_missing"
        )


def check_es256_key(auth_data: AuthenticatorData) -> bytes:
    """The attested key must be an EC2 P-256 key for ES256 and a point on the curve."""
    attested = auth_data.attested_credential_data
    if attested is None or not auth_data.flags.at:
        raise RegistrationRejected("no attested credential data (AT flag)", code="webauthn_invalid")
    try:
        decoded = decode_credential_public_key(attested.credential_public_key)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise WebAuthnMalformed(f"credential public key: {exc}") from None
    if (
        not isinstance(decoded, DecodedEC2PublicKey)
        or decoded.alg != COSEAlgorithmIdentifier.ECDSA_SHA_256
        or decoded.crv != COSECRV.P256
    ):
        raise RegistrationRejected("only ES256 (ECDSA P-256, COSE -7) passkeys", code="unsupported_algorithm")
    try:
        decoded_public_key_to_cryptography(decoded)  # raises for a point off the curve
    except (WebAuthnException, ValueError) as exc:
        raise RegistrationRejected(f"invalid P-256 public key: {exc}", code="invalid_public_key") from None
    return bytes(attested.credential_public_key)


def check_sign_count(received: int, stored: int) -> None:
    """§6.1.1: when either counter is non-zero, the received one must be greater, else the
    authenticator may have been cloned; the assertion is refused."""
    if (received or stored) and received <= stored:
        raise AuthenticationRejected(
            f"sign counter {received} is not above the stored {stored} (a cloned authenticator?)",
            code="sign_count_regressed",
        )


# --- helpers -----------------------------------------------------------------------------------


def _descriptor(cred: StoredCredential) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in cred.transports if t in _TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=cred.credential_id, transports=transports or None)


_TRANSPORTS = {t.value for t in AuthenticatorTransport}


def _parse(parser: Any, credential: Mapping[str, Any]) -> object:
    if not isinstance(credential, Mapping):
        raise WebAuthnMalformed("credential must be a JSON object")
    try:
        return parser(dict(credential))
    except Exception as exc:  # any failure to parse outside JSON is malformed input
        raise WebAuthnMalformed(f"credential: {exc}") from None


def _client_data(raw: bytes) -> CollectedClientData:
    try:
        client_data = parse_client_data_json(raw)
    except Exception as exc:  # any failure to parse outside bytes is malformed input
        raise WebAuthnMalformed(f"clientDataJSON: {exc}") from None
    if not isinstance(client_data.origin, str) or not isinstance(client_data.type, str):
        raise WebAuthnMalformed("clientDataJSON: origin and type must be strings")
    return client_data
