"""WebAuthn relying party for ES256 passkeys, over py_webauthn (``webauthn`` 3.x).

One public function per ceremony step (STYLE.md §4), keyword-only, stateless: the caller stores
the challenge (``sigil.auth.challenges``) and the credential's public key and sign counter.

- :func:`registration_options` / :func:`verify_registration`: ``navigator.credentials.create()``.
- :func:`authentication_options` / :func:`verify_authentication`: ``navigator.credentials.get()``.

Every check is a named step with its own error code (``sigil.auth.webauthn_checks``; the error
families are in ``sigil.auth.errors``), run before py_webauthn's own verification (which repeats
them and checks the attestation and the signature). References are to WebAuthn Level 2 (W3C
Recommendation, 2021): §7.1 "Registering a New Credential", §7.2 "Verifying an Authentication
Assertion".

Policy: ES256 (COSE -7, ECDSA P-256 with SHA-256) only; user presence always required; user
verification "preferred" by default ("required" makes a missing UV flag a rejection); "none"
attestation requested (passkeys rarely attest and the server has no attestation trust store).
"""

from __future__ import annotations

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
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import (
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_cbor,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
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
from webauthn.registration.verify_registration_response import VerifiedRegistration

from sigil.auth.errors import AuthenticationRejected, RegistrationRejected, WebAuthnMalformed
from sigil.auth.webauthn_checks import (
    check_challenge,
    check_es256_key,
    check_origin,
    check_rp_id_hash,
    check_sign_count,
    check_type,
    check_user_presence,
    check_user_verification,
)

ES256_ONLY = [COSEAlgorithmIdentifier.ECDSA_SHA_256]
USER_VERIFICATION_POLICIES = ("required", "preferred", "discouraged")
MAX_CREDENTIAL_ID = 1023  # WebAuthn L2 §5.1: credential ids are at most 1023 bytes


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
    auth_data = _attested_auth_data(cred.response.attestation_object)
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
    verified = _library_verified_registration(rp, cred, expected_challenge)
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


def _attested_auth_data(attestation_object: bytes) -> AuthenticatorData:
    """The authenticator data of an attestation object; any failure to parse it, or an attestation
    statement that is not a map, is malformed input."""
    try:
        attestation = parse_attestation_object(attestation_object)
        if not isinstance(attestation.auth_data, AuthenticatorData):
            raise TypeError("authData is not authenticator data")
        raw = parse_cbor(attestation_object)
        # §8.7: a "none" attestation statement is the empty map; any statement is a map.
        if not isinstance(raw.get("attStmt"), dict) or (raw.get("fmt") == "none" and raw["attStmt"]):
            raise TypeError("attStmt must be a map (the empty map for fmt none)")
    except Exception as exc:  # any failure to parse outside bytes is malformed input
        raise WebAuthnMalformed(f"attestationObject: {exc}") from None
    return attestation.auth_data


def _library_verified_registration(
    rp: RelyingParty, cred: RegistrationCredential, expected_challenge: bytes
) -> VerifiedRegistration:
    """py_webauthn's own verification of a registration (the checks again, and the attestation)."""
    try:
        return verify_registration_response(
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
    auth_data = _auth_data(cred.response.authenticator_data)
    error = AuthenticationRejected
    check_type(client_data, ClientDataType.WEBAUTHN_GET, error)  # §7.2 step 11
    check_challenge(client_data, expected_challenge, error)  # step 12
    check_origin(client_data, rp, error)  # step 13
    check_rp_id_hash(auth_data, rp, error)  # step 15
    check_user_presence(auth_data, error)  # step 16
    check_user_verification(auth_data, rp, error)  # step 17
    verified = _library_verified_signature(rp, cred, expected_challenge, stored)  # step 20
    check_sign_count(auth_data.sign_count, stored.sign_count)  # step 21
    return VerifiedAssertion(
        credential_id=verified.credential_id,
        new_sign_count=verified.new_sign_count,
        user_verified=verified.user_verified,
        user_handle=cred.response.user_handle,
    )


def _auth_data(authenticator_data: bytes) -> AuthenticatorData:
    try:
        return parse_authenticator_data(authenticator_data)
    except Exception as exc:  # any failure to parse outside bytes is malformed input
        raise WebAuthnMalformed(f"authenticatorData: {exc}") from None


def _library_verified_signature(
    rp: RelyingParty, cred: AuthenticationCredential, expected_challenge: bytes, stored: StoredCredential
) -> VerifiedAuthentication:
    """py_webauthn's own verification of an assertion: the checks again, and the signature."""
    try:
        # The counter is checked by the caller, after the signature: pass 0 so that the library's
        # own counter rule (the same one) cannot fire before the signature is known to be good.
        return verify_authentication_response(
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
