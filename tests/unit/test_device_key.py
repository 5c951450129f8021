"""sigil.auth.device: the device key signs challenges as WebCrypto does; DeviceClient speaks /v1/auth.

Signatures are checked with pyca/cryptography and python-ecdsa, never mocked. The client tests run
against an in-process stand-in for the server (httpx.MockTransport) that verifies with real crypto.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
import secrets
from typing import Any

import ecdsa as pyecdsa
import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from sigil.auth.device import DeviceKey, decode_challenge
from sigil.client import ApiError
from sigil.client.device import DeviceClient
from sigil.crypto.encoding import b64decode
from sigil.errors import BadRequest, InvalidEncoding

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def challenge_h(domain: str = "localhost") -> bytes:
    """H = SHA-256(32 random bytes ‖ domain), as the server builds it."""
    return hashlib.sha256(secrets.token_bytes(32) + domain.encode()).digest()


def pyca_public(device: DeviceKey) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes.fromhex(device.public_key_hex))


def verify_webcrypto(public: ec.EllipticCurvePublicKey, signature: bytes, h: bytes) -> None:
    """What the server (and WebCrypto's verify) does: ECDSA P-256 with SHA-256 over the 32 bytes of H."""
    public.verify(signature, h, ec.ECDSA(hashes.SHA256()))


@pytest.fixture(scope="module")
def device() -> DeviceKey:
    return DeviceKey.generate()


def test_signature_verifies_with_cryptography_over_h(device: DeviceKey) -> None:
    h = challenge_h()
    signature = device.sign_challenge(h)
    verify_webcrypto(pyca_public(device), signature, h)
    r, s = decode_dss_signature(signature)  # DER
    assert 1 <= r < P256_N and 1 <= s < P256_N


def test_signature_is_over_sha256_of_h_not_over_h_as_digest(device: DeviceKey) -> None:
    h = challenge_h()
    signature = device.sign_challenge(h)
    vk = pyecdsa.VerifyingKey.from_string(bytes.fromhex(device.public_key_hex), curve=pyecdsa.NIST256p)
    assert vk.verify(signature, h, hashfunc=hashlib.sha256, sigdecode=pyecdsa.util.sigdecode_der)
    with pytest.raises(pyecdsa.BadSignatureError):  # H itself is not the digest that was signed
        vk.verify_digest(signature, h, sigdecode=pyecdsa.util.sigdecode_der)


def test_two_signatures_of_the_same_h_differ(device: DeviceKey) -> None:
    """A fresh random nonce per signature (as WebCrypto), not RFC 6979."""
    h = challenge_h()
    signatures = {device.sign_challenge(h) for _ in range(8)}
    assert len(signatures) == 8
    rs = {decode_dss_signature(sig)[0] for sig in signatures}
    assert len(rs) == 8  # distinct r: distinct nonces k
    public = pyca_public(device)
    for sig in signatures:
        verify_webcrypto(public, sig, h)


def test_signature_over_other_bytes_or_by_another_key_fails(device: DeviceKey) -> None:
    h = challenge_h()
    signature = device.sign_challenge(h)
    with pytest.raises(InvalidSignature):
        verify_webcrypto(pyca_public(device), signature, challenge_h())
    with pytest.raises(InvalidSignature):
        verify_webcrypto(pyca_public(DeviceKey.generate()), signature, h)


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, "a" * 32])
def test_challenge_must_be_32_bytes(device: DeviceKey, bad: Any) -> None:
    with pytest.raises(BadRequest):
        device.sign_challenge(bad)


def test_public_key_formats_agree(device: DeviceKey) -> None:
    from_pem = serialization.load_pem_public_key(device.public_key_pem.encode())
    assert isinstance(from_pem, ec.EllipticCurvePublicKey)
    numbers = from_pem.public_numbers()
    jwk = device.public_key_jwk
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256"
    assert int.from_bytes(base64.urlsafe_b64decode(jwk["x"] + "="), "big") == numbers.x
    assert int.from_bytes(base64.urlsafe_b64decode(jwk["y"] + "="), "big") == numbers.y
    assert device.public_key_hex == "04" + f"{numbers.x:064x}" + f"{numbers.y:064x}"


def test_repr_and_pickle_keep_the_key_in(device: DeviceKey) -> None:
    text = repr(device) + str(device)
    assert "P-256" in text
    assert device.public_key.sec1(compressed=True).hex() in text
    with pytest.raises(TypeError):
        pickle.dumps(device)


def test_decode_challenge() -> None:
    h = challenge_h()
    assert decode_challenge(base64.urlsafe_b64encode(h).decode().rstrip("=")) == h
    assert decode_challenge(base64.urlsafe_b64encode(h).decode()) == h
    with pytest.raises(InvalidEncoding):
        decode_challenge(base64.urlsafe_b64encode(h[:31]).decode())
    with pytest.raises(InvalidEncoding):
        decode_challenge("not base64!")


# --- DeviceClient against an in-process stand-in server (real signature checks) ---------------------------


class StandIn:
    """Just enough of /v1/auth to drive DeviceClient; records every request it sees."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.devices: dict[str, tuple[str, ec.EllipticCurvePublicKey, bool]] = {}
        self.challenges: dict[str, bytes] = {}
        self.sessions: dict[str, tuple[str, str]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = json.loads(request.content) if request.content else {}
        auth = request.headers.get("authorization", "")
        session = self.sessions.get(auth.removeprefix("Bearer "))
        path = request.url.path
        if (request.method, path) == ("POST", "/v1/auth/devices"):
            key = serialization.load_pem_public_key(body["public_key"].encode())
            assert isinstance(key, ec.EllipticCurvePublicKey)
            if any(user == body["user"] for user, _, _ in self.devices.values()) and (
                session is None or session[0] != body["user"]
            ):
                return problem(401, "unauthorized")
            device_id = "dev_" + secrets.token_hex(8)
            self.devices[device_id] = (body["user"], key, False)
            return httpx.Response(201, json={"device_id": device_id, "user": body["user"]})
        if (request.method, path) == ("POST", "/v1/auth/challenge"):
            challenge_id = "ch_" + secrets.token_hex(8)
            self.challenges[challenge_id] = challenge_h()
            h64 = base64.urlsafe_b64encode(self.challenges[challenge_id]).decode().rstrip("=")
            return httpx.Response(
                200,
                json={
                    "challenge_id": challenge_id,
                    "challenge": h64,
                    "domain": "localhost",
                    "expires_at": "x",
                },
            )
        if (request.method, path) == ("POST", "/v1/auth/verify"):
            h = self.challenges.pop(body["challenge_id"])
            user, key, revoked = self.devices[body["device_id"]]
            if revoked:
                return problem(401, "device_revoked")
            try:
                verify_webcrypto(key, b64decode(body["signature"]), h)
            except InvalidSignature:
                return problem(401, "login_failed")
            token = "session-" + secrets.token_hex(8)
            self.sessions[token] = (user, body["device_id"])
            return httpx.Response(200, json={"session_token": token, "expires_at": "2030-01-01T00:00:00Z"})
        if session is None:
            return problem(401, "unauthorized")
        if (request.method, path) == ("GET", "/v1/auth/session"):
            return httpx.Response(200, json={"user": session[0], "device_id": session[1], "expires_at": 1})
        if (request.method, path) == ("GET", "/v1/auth/devices"):
            rows = [
                {"device_id": d, "name": None, "kind": "ecdsa", "created_at": 0, "revoked": revoked}
                for d, (user, _, revoked) in self.devices.items()
                if user == session[0]
            ]
            return httpx.Response(200, json={"devices": rows})
        if request.method == "DELETE" and path.startswith("/v1/auth/devices/"):
            device_id = path.rsplit("/", 1)[1]
            user, key, _ = self.devices[device_id]
            self.devices[device_id] = (user, key, True)
            return httpx.Response(200, json={"device_id": device_id, "revoked": True})
        return problem(404, "not_found")


def problem(status: int, code: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"status": status, "code": code, "title": code},
        headers={"content-type": "application/problem+json"},
    )


def test_client_register_login_whoami_list_revoke(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGIL_TOKEN", "sgl_api-token-must-not-be-sent")
    server = StandIn()
    first, second = DeviceKey.generate(), DeviceKey.generate()
    with DeviceClient("http://sigil.test", transport=httpx.MockTransport(server)) as client:
        reg = client.register(first, user="alice", name="laptop")
        login = client.login(first, user="alice", device_id=reg.device_id)
        assert login.session_token.startswith("session-")
        assert login.session_token not in repr(login)
        me = client.whoami(login.session_token)
        assert (me.user, me.device_id) == ("alice", reg.device_id)

        with pytest.raises(ApiError) as info:  # a second device of alice needs her session
            client.register(second, user="alice")
        assert info.value.status == 401
        reg2 = client.register(second, user="alice", session=login.session_token)
        assert {d.device_id for d in client.list_devices(login.session_token)} == {
            reg.device_id,
            reg2.device_id,
        }

        assert client.revoke_device(reg2.device_id, login.session_token) == {
            "device_id": reg2.device_id,
            "revoked": True,
        }
        with pytest.raises(ApiError) as info:
            client.login(second, user="alice", device_id=reg2.device_id)
        assert info.value.code == "device_revoked"
        with pytest.raises(ApiError) as info:  # the wrong key for the device: a real signature check fails
            client.login(second, user="alice", device_id=reg.device_id)
        assert info.value.code == "login_failed"

    # No request carried the API token, and none without a session carried any bearer at all.
    for request in server.requests:
        assert "sgl_api-token" not in request.headers.get("authorization", "")
        if request.url.path in ("/v1/auth/challenge", "/v1/auth/verify"):
            assert "authorization" not in request.headers


def test_client_session_in_constructor() -> None:
    server = StandIn()
    key = DeviceKey.generate()
    transport = httpx.MockTransport(server)
    with DeviceClient("http://sigil.test", transport=transport) as client:
        reg = client.register(key, user="carol")
        token = client.login(key, user="carol", device_id=reg.device_id).session_token
    with DeviceClient("http://sigil.test", session=token, transport=transport) as client:
        assert client.whoami().user == "carol"
        assert "session-" not in repr(client)


def test_private_key_is_never_sent() -> None:
    server = StandIn()
    key_store_pass = "pw"
    device = DeviceKey.generate()
    d = device.seal(key_store_pass, user="dave").unlock(key_store_pass).scalar_bytes()
    forms = [
        d.hex(),
        d.hex().upper(),
        base64.b64encode(d).decode()[:40],
        base64.urlsafe_b64encode(d).decode()[:40],
    ]
    with DeviceClient("http://sigil.test", transport=httpx.MockTransport(server)) as client:
        reg = client.register(device, user="dave")
        for _ in range(3):
            client.login(device, user="dave", device_id=reg.device_id)
    assert len(server.requests) == 7
    for request in server.requests:
        wire = request.content + str(request.url).encode() + str(request.headers).encode()
        assert d not in wire
        for form in forms:
            assert form.encode() not in wire
