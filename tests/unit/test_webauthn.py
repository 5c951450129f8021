"""The pure WebAuthn ceremony steps (sigil.auth.webauthn), one named check at a time, answered by
the software authenticator (real ES256 signatures, nothing mocked)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sigil.auth.errors import AuthenticationRejected, RegistrationRejected, WebAuthnMalformed
from sigil.auth.webauthn import (
    RelyingParty,
    StoredCredential,
    VerifiedPasskey,
    authentication_options,
    credential_id_of,
    registration_options,
    verify_authentication,
    verify_registration,
)
from sigil.auth.webauthn_checks import check_sign_count
from support.authenticator import FLAG_AT, FLAG_UP, FLAG_UV, SoftAuthenticator, b64url, b64url_decode

RP = RelyingParty(rp_id="login.example", rp_name="Sigil", origins=("https://login.example",))
UV_REQUIRED = RelyingParty(
    rp_id="login.example", rp_name="Sigil", origins=("https://login.example",), user_verification="required"
)


def _registration(rp: RelyingParty = RP) -> tuple[SoftAuthenticator, dict[str, Any], bytes]:
    challenge = secrets.token_bytes(32)
    options = registration_options(rp, user_name="alice", user_handle=b"usr_1", challenge=challenge)
    return SoftAuthenticator(origin="https://login.example"), options, challenge


def _registered(rp: RelyingParty = RP) -> tuple[SoftAuthenticator, VerifiedPasskey]:
    auth, options, challenge = _registration(rp)
    return auth, verify_registration(rp, credential=auth.create(options), expected_challenge=challenge)


def _login(
    auth: SoftAuthenticator,
    passkey: VerifiedPasskey,
    *,
    stored_count: int = 0,
    rp: RelyingParty = RP,
    **get: Any,
) -> Any:
    challenge = secrets.token_bytes(32)
    stored = StoredCredential(passkey.credential_id, passkey.public_key, stored_count)
    options = authentication_options(rp, challenge=challenge, allow=[stored])
    return verify_authentication(
        rp, credential=auth.get(options, **get), expected_challenge=challenge, stored=stored
    )


def test_options_are_es256_only_with_the_given_challenge() -> None:
    challenge = secrets.token_bytes(32)
    options = registration_options(RP, user_name="alice", user_handle=b"usr_1", challenge=challenge)
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7]
    assert options["challenge"] == b64url(challenge)
    assert options["user"]["id"] == b64url(b"usr_1")
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    login = authentication_options(RP, challenge=challenge)
    assert login["allowCredentials"] == [] and login["rpId"] == "login.example"


def test_round_trip() -> None:
    auth, passkey = _registered()
    assert passkey.sign_count == 0 and passkey.user_verified and passkey.transports == ("internal",)
    assert passkey.credential_id == next(iter(auth.credentials))
    result = _login(auth, passkey)
    assert result.new_sign_count == 1 and result.user_handle == b"usr_1"


@pytest.mark.parametrize(
    ("create", "code"),
    [
        ({"origin": "https://evil.example"}, "origin_mismatch"),
        ({"rp_id": "evil.example"}, "rp_id_mismatch"),
        ({"flags": FLAG_UV | FLAG_AT}, "user_presence_missing"),
        ({"challenge": b"\x00" * 32}, "challenge_mismatch"),
        ({"client_type": "webauthn.get"}, "webauthn_invalid"),
        ({"alg": -257}, "unsupported_algorithm"),
        ({"curve": ec.SECP384R1()}, "unsupported_algorithm"),
        ({"flags": FLAG_UP | FLAG_UV}, "webauthn_malformed"),  # no AT flag: the key bytes are left over
    ],
)
def test_registration_checks(create: dict[str, Any], code: str) -> None:
    auth, options, challenge = _registration()
    credential = auth.create(options, **create)
    with pytest.raises((RegistrationRejected, WebAuthnMalformed)) as exc:
        verify_registration(RP, credential=credential, expected_challenge=challenge)
    assert exc.value.code == code


def test_registration_user_verification_policy() -> None:
    auth, options, challenge = _registration(UV_REQUIRED)
    with pytest.raises(RegistrationRejected) as exc:
        verify_registration(
            UV_REQUIRED,
            credential=auth.create(options, flags=FLAG_UP | FLAG_AT),
            expected_challenge=challenge,
        )
    assert exc.value.code == "user_verification_missing"
    auth, options, challenge = _registration(RP)  # preferred: accepted without UV
    verify_registration(
        RP, credential=auth.create(options, flags=FLAG_UP | FLAG_AT), expected_challenge=challenge
    )


@pytest.mark.parametrize(
    ("get", "code"),
    [
        ({"origin": "https://evil.example"}, "origin_mismatch"),
        ({"rp_id": "evil.example"}, "rp_id_mismatch"),
        ({"flags": FLAG_UV}, "user_presence_missing"),
        ({"challenge": b"\x01" * 32}, "challenge_mismatch"),
        ({"client_type": "webauthn.create"}, "webauthn_invalid"),
        ({"tamper_signature": True}, "signature_invalid"),
    ],
)
def test_authentication_checks(get: dict[str, Any], code: str) -> None:
    auth, passkey = _registered()
    with pytest.raises(AuthenticationRejected) as exc:
        _login(auth, passkey, **get)
    assert exc.value.code == code
    assert exc.value.status == 401


def test_user_verification_required_policy() -> None:
    auth, passkey = _registered(UV_REQUIRED)
    with pytest.raises(AuthenticationRejected) as exc:
        _login(auth, passkey, rp=UV_REQUIRED, flags=FLAG_UP)
    assert exc.value.code == "user_verification_missing"
    assert _login(auth, passkey, flags=FLAG_UP).user_verified is False  # "preferred" lets it in


def test_sign_counter_rule() -> None:
    check_sign_count(0, 0)  # an authenticator without a counter
    check_sign_count(5, 4)
    check_sign_count(1, 0)
    for received, stored in ((4, 4), (3, 4), (0, 4)):
        with pytest.raises(AuthenticationRejected) as exc:
            check_sign_count(received, stored)
        assert exc.value.code == "sign_count_regressed"
    auth, passkey = _registered()
    with pytest.raises(AuthenticationRejected) as exc:
        _login(auth, passkey, stored_count=10, sign_count=9)
    assert exc.value.code == "sign_count_regressed"


def test_a_bad_signature_is_reported_before_the_counter() -> None:
    auth, passkey = _registered()
    with pytest.raises(AuthenticationRejected) as exc:
        _login(auth, passkey, stored_count=10, sign_count=9, tamper_signature=True)
    assert exc.value.code == "signature_invalid"


def test_assertion_by_another_credential() -> None:
    _auth, passkey = _registered()
    other, other_passkey = _registered()
    challenge = secrets.token_bytes(32)
    options = authentication_options(RP, challenge=challenge)
    stored = StoredCredential(passkey.credential_id, passkey.public_key)
    with pytest.raises(AuthenticationRejected) as exc:
        verify_authentication(RP, credential=other.get(options), expected_challenge=challenge, stored=stored)
    assert exc.value.code == "credential_mismatch"
    # Same id, other key (a forged credential id): the signature does not verify.
    forged = StoredCredential(other_passkey.credential_id, passkey.public_key)
    with pytest.raises(AuthenticationRejected) as exc:
        verify_authentication(RP, credential=other.get(options), expected_challenge=challenge, stored=forged)
    assert exc.value.code == "signature_invalid"


@pytest.mark.parametrize(
    "credential",
    [
        {},
        {"id": "x", "rawId": "x", "type": "public-key"},
        {"id": "", "rawId": "", "type": "public-key", "response": {}},
        {"id": 1, "rawId": 1, "type": "public-key", "response": {"clientDataJSON": 1}},
    ],
)
def test_malformed_credentials(credential: dict[str, Any]) -> None:
    with pytest.raises(WebAuthnMalformed):
        credential_id_of(credential)
    with pytest.raises(WebAuthnMalformed):
        verify_registration(RP, credential=credential, expected_challenge=b"x" * 32)


def test_policy_is_validated() -> None:
    with pytest.raises(ValueError, match="user_verification"):
        RelyingParty(rp_id="a", rp_name="b", origins=(), user_verification="sometimes")


@pytest.mark.parametrize("member", ["fmt", "attStmt", "authData"])
@pytest.mark.parametrize("value", [None, 1, 1.5, True, "", "text", b"", b"\x00" * 37, [], {"a": 1}])
def test_attestation_object_of_the_wrong_shape_is_a_clean_rejection(member: str, value: object) -> None:
    """Found by fuzzing: py_webauthn raised TypeError (a 500) for a non-map attStmt or non-bytes authData."""
    auth, options, challenge = _registration()
    credential = auth.create(options)
    attestation = cbor2.loads(b64url_decode(credential["response"]["attestationObject"]))
    attestation[member] = value
    credential["response"]["attestationObject"] = b64url(cbor2.dumps(attestation))
    with pytest.raises((WebAuthnMalformed, RegistrationRejected)):
        verify_registration(RP, credential=credential, expected_challenge=challenge)


@pytest.mark.parametrize("member", ["type", "challenge", "origin", "crossOrigin", "tokenBinding"])
@pytest.mark.parametrize("value", [None, 1, [], {}, "", {"status": 5}, ["webauthn.get"]])
def test_client_data_of_the_wrong_shape_is_a_clean_rejection(member: str, value: object) -> None:
    auth, passkey = _registered()
    challenge = secrets.token_bytes(32)
    stored = StoredCredential(passkey.credential_id, passkey.public_key)
    credential = auth.get(authentication_options(RP, challenge=challenge))
    client_data = json.loads(b64url_decode(credential["response"]["clientDataJSON"]))
    client_data[member] = value
    credential["response"]["clientDataJSON"] = b64url(json.dumps(client_data).encode())
    with pytest.raises((WebAuthnMalformed, AuthenticationRejected)):
        verify_authentication(RP, credential=credential, expected_challenge=challenge, stored=stored)
