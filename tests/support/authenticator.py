"""A software WebAuthn authenticator (and the browser's part of the ceremony) for API tests.

It makes real ES256 credentials with ``cryptography`` and answers the options the server sends
with the JSON a browser's ``PublicKeyCredential.toJSON()`` produces, so the relying party is tested
without a browser. Every field the server checks can be bent per call (origin, RP ID, flags,
counter, challenge, signature) to build the rejection cases.

Formats (WebAuthn Level 2):
- clientDataJSON: §5.8.1 ``{type, challenge (base64url), origin, crossOrigin}``.
- authenticatorData: §6.1 rpIdHash (32) ‖ flags (1) ‖ signCount (4, big-endian) ‖ attested
  credential data (§6.5.1: aaguid (16) ‖ credentialIdLength (2) ‖ credentialId ‖ COSE key).
- COSE EC2 key: RFC 9052/9053 ``{1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}``.
- attestation object: §6.5 ``{"fmt": "none", "attStmt": {}, "authData": ...}``.
- assertion signature: ECDSA P-256 / SHA-256 (DER) over authenticatorData ‖ SHA-256(clientDataJSON).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40
TEST_AAGUID = bytes.fromhex("5349474c2d544553542d415554480001")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


COSE_CURVES = {"secp256r1": 1, "secp384r1": 2, "secp521r1": 3}


def cose_ec2_key(public: ec.EllipticCurvePublicKey) -> bytes:
    """The COSE_Key of an EC2 public key, labelled ES256 (alg -7) whatever its curve."""
    numbers = public.public_numbers()
    size = (public.curve.key_size + 7) // 8
    crv = COSE_CURVES[public.curve.name]
    x, y = numbers.x.to_bytes(size, "big"), numbers.y.to_bytes(size, "big")
    return cbor2.dumps({1: 2, 3: -7, -1: crv, -2: x, -3: y})


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


class SoftAuthenticator:
    """One authenticator holding any number of ES256 credentials.

    ``counter_step`` is what each assertion adds to the credential's counter (0 = an authenticator
    that keeps no counter, as many passkey providers do).
    """

    def __init__(self, *, origin: str, counter_step: int = 1, aaguid: bytes = TEST_AAGUID) -> None:
        self.origin = origin
        self.counter_step = counter_step
        self.aaguid = aaguid
        self.credentials: dict[bytes, SoftCredential] = {}

    # --- registration (navigator.credentials.create) ---------------------------------------------

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: bytes | None = None,
        flags: int = FLAG_UP | FLAG_UV | FLAG_AT,
        curve: ec.EllipticCurve | None = None,
        alg: int = -7,
        client_type: str = "webauthn.create",
        credential_id: bytes | None = None,
    ) -> dict[str, Any]:
        """Answer registration options with a new credential ("none" attestation); a given
        ``credential_id`` replaces the random one."""
        rp = rp_id or options["rp"]["id"]
        private = ec.generate_private_key(curve or ec.SECP256R1())
        cred_id = credential_id or secrets.token_bytes(32)
        cred = SoftCredential(cred_id, private, rp, b64url_decode(options["user"]["id"]))
        cose = cose_ec2_key(private.public_key())
        if alg != -7:  # a key that claims another algorithm (the server must refuse it)
            decoded = cbor2.loads(cose)
            decoded[3] = alg
            cose = cbor2.dumps(decoded)
        attested = self.aaguid + len(cred_id).to_bytes(2, "big") + cred_id + cose
        auth_data = self._auth_data(rp, flags, cred.sign_count) + attested
        client_data = self._client_data(client_type, challenge, options, origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.credentials[cred_id] = cred
        return {
            "id": b64url(cred_id),
            "rawId": b64url(cred_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    # --- authentication (navigator.credentials.get) ----------------------------------------------

    def get(
        self,
        options: dict[str, Any],
        *,
        credential_id: bytes | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: bytes | None = None,
        flags: int = FLAG_UP | FLAG_UV,
        sign_count: int | None = None,
        tamper_signature: bool = False,
        client_type: str = "webauthn.get",
    ) -> dict[str, Any]:
        """Answer authentication options with an assertion by ``credential_id`` (default: the
        first allowed credential this authenticator holds, else its only one)."""
        cred = self.credentials[credential_id or self._pick(options)]
        if sign_count is None:
            cred.sign_count += self.counter_step
            sign_count = cred.sign_count
        auth_data = self._auth_data(rp_id or options.get("rpId") or cred.rp_id, flags, sign_count)
        client_data = self._client_data(client_type, challenge, options, origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = cred.private_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        if tamper_signature:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        return {
            "id": b64url(cred.credential_id),
            "rawId": b64url(cred.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(cred.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def _pick(self, options: dict[str, Any]) -> bytes:
        for allowed in options.get("allowCredentials") or []:
            cred_id = b64url_decode(allowed["id"])
            if cred_id in self.credentials:
                return cred_id
        if len(self.credentials) == 1:
            return next(iter(self.credentials))
        raise LookupError("no credential of this authenticator is allowed by the options")

    # --- shared pieces -----------------------------------------------------------------------------

    @staticmethod
    def _auth_data(rp_id: str, flags: int, sign_count: int) -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + sign_count.to_bytes(4, "big")

    def _client_data(
        self, client_type: str, challenge: bytes | None, options: dict[str, Any], origin: str | None
    ) -> bytes:
        data = {
            "type": client_type,
            "challenge": b64url(challenge) if challenge is not None else options["challenge"],
            "origin": origin or self.origin,
            "crossOrigin": False,
        }
        return json.dumps(data, separators=(",", ":")).encode()
