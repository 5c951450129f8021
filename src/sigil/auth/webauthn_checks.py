"""The named relying-party checks of the WebAuthn ceremonies (``sigil.auth.webauthn``).

One function per check, each raising its own error code; a check that both ceremonies make takes
the ceremony's error family (``RegistrationRejected`` or ``AuthenticationRejected``). References
are to WebAuthn Level 2 (W3C Recommendation, 2021).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from webauthn.helpers import decode_credential_public_key, decoded_public_key_to_cryptography
from webauthn.helpers.cose import COSECRV, COSEAlgorithmIdentifier
from webauthn.helpers.decode_credential_public_key import DecodedEC2PublicKey
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AuthenticatorData, ClientDataType, CollectedClientData

from sigil.auth.errors import AuthenticationRejected, RegistrationRejected, WebAuthnMalformed
from sigil.errors import SigilError

if TYPE_CHECKING:
    from sigil.auth.webauthn import RelyingParty


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
