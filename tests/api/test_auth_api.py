"""Device-key login over HTTP against real servers (SQLite and, marked slow, PostgreSQL).

Devices are ``cryptography`` P-256 keys signing H with ECDSA(SHA-256), as WebCrypto does; the
session JWT is checked with PyJWT and nothing but ``/.well-known/jwks.json``. Every rejection is
checked for its status and code, its audit entry, and that the auth tables did not change.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import create_engine, text

from support.postgres import fresh_schema
from support.server import ServerProcess

OPEN = {"SIGIL_OPEN_REGISTRATION": "1", "SIGIL_AUTH_RATE_USER": "100000", "SIGIL_AUTH_RATE_ADDR": "1000000"}
AUTH_TABLES = ("auth_users", "auth_devices", "auth_challenges", "auth_challenge_uses")


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.slow, pytest.mark.postgres])],
)
def auth_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """Open registration, two workers, limits out of the way."""
    if request.param == "sqlite":
        proc = ServerProcess(workers=2, env=OPEN).start()
        yield proc
        proc.stop()
        return
    with fresh_schema() as url:
        proc = ServerProcess(db_url=url, workers=2, env=OPEN).start()
        yield proc
        proc.stop()


def db_url(server: ServerProcess) -> str:
    return server.db_url or f"sqlite:///{server.data_dir / 'sigil.db'}"


def snapshot(server: ServerProcess) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the auth tables (the state a rejection must not change)."""
    engine = create_engine(db_url(server))
    try:
        with engine.connect() as conn:
            return {
                t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))]
                for t in AUTH_TABLES
            }
    finally:
        engine.dispose()


def audit_outcomes(server: ServerProcess, device_id: str, timeout: float = 10.0) -> list[str]:
    """Outcomes of the ``auth.verify`` entries about ``device_id`` (written in batches: poll)."""
    engine = create_engine(db_url(server))
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT outcome FROM audit_log"
                        " WHERE action = 'auth.verify' AND key_id = :d ORDER BY seq"
                    ),
                    {"d": device_id},
                ).all()
            if rows or time.monotonic() > deadline:
                return [r[0] for r in rows]
            time.sleep(0.1)
    finally:
        engine.dispose()


def wait_for_audit(server: ServerProcess, device_id: str, outcome: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while outcome not in audit_outcomes(server, device_id, timeout=0.5):
        assert time.monotonic() < deadline, f"no audit entry auth.verify/{outcome} for {device_id}"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def raw_sig(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@dataclass
class Device:
    """A device: a P-256 key pair that never leaves the test, and its registration."""

    user: str
    key: ec.EllipticCurvePrivateKey
    device_id: str = ""

    @classmethod
    def new(cls, user: str | None = None) -> Device:
        return cls(user or "u-" + secrets.token_hex(5), ec.generate_private_key(ec.SECP256R1()))

    def pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def register(self, client: httpx.Client, session: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {session}"} if session else {}
        r = client.post(
            "/v1/auth/devices", json={"user": self.user, "public_key": self.pem()}, headers=headers
        )
        if r.status_code == 201:
            self.device_id = r.json()["device_id"]
        return r

    def sign(self, h: bytes) -> bytes:
        return self.key.sign(h, ec.ECDSA(hashes.SHA256()))

    def challenge(self, client: httpx.Client) -> tuple[str, bytes]:
        r = client.post("/v1/auth/challenge", json={"user": self.user})
        assert r.status_code == 200, r.text
        body = r.json()
        return body["challenge_id"], base64.urlsafe_b64decode(body["challenge"] + "==")

    def login(self, client: httpx.Client) -> str:
        cid, h = self.challenge(client)
        r = verify(client, cid, self.device_id, self.sign(h))
        assert r.status_code == 200, r.text
        return str(r.json()["session_token"])


def verify(client: httpx.Client, challenge_id: str, device_id: str, signature: bytes | str) -> httpx.Response:
    sig = signature if isinstance(signature, str) else base64.b64encode(signature).decode()
    return client.post(
        "/v1/auth/verify", json={"challenge_id": challenge_id, "device_id": device_id, "signature": sig}
    )


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def client(auth_server: ServerProcess) -> Iterator[httpx.Client]:
    with auth_server.client() as c:
        yield c


# --- registration ---------------------------------------------------------------------------------


def test_registration_is_closed_by_default(any_server: ServerProcess) -> None:
    with any_server.client() as c:
        before = snapshot(any_server)
        r = Device.new().register(c)
        assert r.status_code == 403 and r.json()["code"] == "registration_closed"
        assert r.headers["content-type"] == "application/problem+json"
        assert snapshot(any_server) == before


def test_adding_a_device_needs_the_users_session(auth_server: ServerProcess, client: httpx.Client) -> None:
    first = Device.new()
    assert first.register(client).status_code == 201
    second = Device.new(first.user)
    r = second.register(client)  # no session
    assert r.status_code == 401
    stranger = Device.new()
    stranger.register(client)
    r = second.register(client, session=stranger.login(client))  # someone else's session
    assert r.status_code == 401
    r = second.register(client, session=first.login(client))
    assert r.status_code == 201, r.text
    assert r.json() == {"device_id": second.device_id, "user": first.user}
    second.login(client)


@pytest.mark.parametrize(
    "public_key",
    [
        "not a key",
        "04" + "00" * 64,  # the point (0, 0) is not on the curve
        "04" + "11" * 64,
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    ],
    ids=["garbage", "zero-point", "off-curve", "jwk-p384", "pem-p384"],
)
def test_malformed_key_is_refused(
    auth_server: ServerProcess, client: httpx.Client, public_key: object
) -> None:
    before = snapshot(auth_server)
    r = client.post("/v1/auth/devices", json={"user": "u-" + secrets.token_hex(5), "public_key": public_key})
    assert r.status_code == 422 and r.json()["code"] == "invalid_public_key", r.text
    assert snapshot(auth_server) == before


def test_key_formats_jwk_and_sec1_hex(client: httpx.Client) -> None:
    for form in ("jwk", "hex"):
        device = Device.new()
        pub = device.key.public_key()
        n = pub.public_numbers()
        value: object = (
            {
                "kty": "EC",
                "crv": "P-256",
                "x": b64u(n.x.to_bytes(32, "big")),
                "y": b64u(n.y.to_bytes(32, "big")),
            }
            if form == "jwk"
            else pub.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            ).hex()
        )
        r = client.post("/v1/auth/devices", json={"user": device.user, "public_key": value, "name": form})
        assert r.status_code == 201, r.text
        device.device_id = r.json()["device_id"]
        device.login(client)


# --- login ---------------------------------------------------------------------------------------


def test_login_der_and_raw_session_verifies_from_jwks(
    auth_server: ServerProcess, client: httpx.Client
) -> None:
    device = Device.new()
    assert device.register(client).status_code == 201
    cid, h = device.challenge(client)
    assert len(h) == 32
    r = verify(client, cid, device.device_id, device.sign(h))  # DER, base64
    assert r.status_code == 200, r.text
    der_token = r.json()["session_token"]
    cid, h = device.challenge(client)
    r = verify(client, cid, device.device_id, b64u(raw_sig(device.sign(h))))  # raw r||s, base64url
    assert r.status_code == 200, r.text
    token, expires_at = r.json()["session_token"], r.json()["expires_at"]

    jwks = httpx.get(auth_server.url + "/.well-known/jwks.json").json()
    for t in (der_token, token):
        kid = pyjwt.get_unverified_header(t)["kid"]
        key = pyjwt.PyJWKSet.from_dict(jwks)[kid].key
        claims = pyjwt.decode(
            t, key, algorithms=["ES256"], issuer="sigil", options={"require": ["exp", "sub"]}
        )
        assert claims["sub"] == device.user and claims["device_id"] == device.device_id
    assert claims["exp"] == expires_at

    who = client.get("/v1/auth/session", headers=bearer(token))
    assert who.status_code == 200
    assert who.json() == {"user": device.user, "device_id": device.device_id, "expires_at": expires_at}
    assert client.get("/v1/auth/session").status_code == 401
    assert client.get("/v1/auth/session", headers=bearer(token[:-3] + "AAA")).status_code == 401
    wait_for_audit(auth_server, device.device_id, "ok")


def test_list_and_revoke_devices(auth_server: ServerProcess, client: httpx.Client) -> None:
    phone, laptop = Device.new(), None
    phone.register(client)
    laptop = Device.new(phone.user)
    token = phone.login(client)
    assert laptop.register(client, session=token).status_code == 201
    listed = client.get("/v1/auth/devices", headers=bearer(token)).json()["devices"]
    assert [d["device_id"] for d in listed] == [phone.device_id, laptop.device_id]
    assert all(d["kind"] == "ecdsa" and d["revoked"] is False for d in listed)

    other = Device.new()
    other.register(client)
    r = client.delete(f"/v1/auth/devices/{other.device_id}", headers=bearer(token))
    assert r.status_code == 404  # not yours
    assert client.delete(f"/v1/auth/devices/{laptop.device_id}").status_code == 401
    laptop_token = laptop.login(client)
    r = client.delete(f"/v1/auth/devices/{laptop.device_id}", headers=bearer(token))
    assert r.status_code == 200 and r.json() == {"device_id": laptop.device_id, "revoked": True}
    listed = client.get("/v1/auth/devices", headers=bearer(token)).json()["devices"]
    assert [d["revoked"] for d in listed] == [False, True]
    assert client.get("/v1/auth/session", headers=bearer(laptop_token)).status_code == 401  # its sessions end


def test_challenge_for_unknown_user_is_404(client: httpx.Client) -> None:
    r = client.post("/v1/auth/challenge", json={"user": "nobody-" + secrets.token_hex(4)})
    assert r.status_code == 404


# --- rejections: clear 4xx, an audit entry, no state change ---------------------------------------


def _reject(server: ServerProcess, r_fn: Any, status: int, code: str, device_id: str) -> None:
    before = snapshot(server)
    r = r_fn()
    assert r.status_code == status, r.text
    assert r.json()["code"] == code
    assert r.headers["content-type"] == "application/problem+json"
    assert snapshot(server) == before
    wait_for_audit(server, device_id, code)


def test_replayed_challenge(auth_server: ServerProcess, client: httpx.Client) -> None:
    device = Device.new()
    device.register(client)
    cid, h = device.challenge(client)
    sig = device.sign(h)
    assert verify(client, cid, device.device_id, sig).status_code == 200
    _reject(
        auth_server,
        lambda: verify(client, cid, device.device_id, sig),
        409,
        "challenge_used",
        device.device_id,
    )


def test_another_users_challenge(auth_server: ServerProcess, client: httpx.Client) -> None:
    alice, bob = Device.new(), Device.new()
    alice.register(client)
    bob.register(client)
    cid, h = bob.challenge(client)
    # Alice signs Bob's challenge with her own device.
    _reject(
        auth_server,
        lambda: verify(client, cid, alice.device_id, alice.sign(h)),
        401,
        "challenge_mismatch",
        alice.device_id,
    )
    assert verify(client, cid, bob.device_id, bob.sign(h)).status_code == 200  # still usable by Bob


def test_signature_over_other_bytes(auth_server: ServerProcess, client: httpx.Client) -> None:
    """Another domain's challenge: SHA-256(random ‖ other domain) signed by the right device."""
    device = Device.new()
    device.register(client)
    cid, h = device.challenge(client)
    other = hashlib.sha256(secrets.token_bytes(32) + b"evil.example").digest()
    _reject(
        auth_server,
        lambda: verify(client, cid, device.device_id, device.sign(other)),
        401,
        "login_failed",
        device.device_id,
    )
    assert verify(client, cid, device.device_id, device.sign(h)).status_code == 200


def test_signature_by_another_device(auth_server: ServerProcess, client: httpx.Client) -> None:
    first = Device.new()
    first.register(client)
    second = Device.new(first.user)
    second.register(client, session=first.login(client))
    cid, h = first.challenge(client)
    _reject(
        auth_server,
        lambda: verify(client, cid, first.device_id, second.sign(h)),
        401,
        "login_failed",
        first.device_id,
    )
    assert verify(client, cid, first.device_id, first.sign(h)).status_code == 200


def test_revoked_device(auth_server: ServerProcess, client: httpx.Client) -> None:
    first = Device.new()
    first.register(client)
    token = first.login(client)
    second = Device.new(first.user)
    second.register(client, session=token)
    second.login(client)  # the worker now keeps the device: the revocation must still be seen at once
    assert client.delete(f"/v1/auth/devices/{second.device_id}", headers=bearer(token)).status_code == 200
    cid, h = second.challenge(client)
    _reject(
        auth_server,
        lambda: verify(client, cid, second.device_id, second.sign(h)),
        401,
        "device_revoked",
        second.device_id,
    )


@pytest.mark.parametrize(
    "signature",
    [
        "!!not base64!!",
        base64.b64encode(b"\x30\x02\x01").decode(),
        base64.b64encode(b"\x01" * 65).decode(),
        "",
    ],
    ids=["not-base64", "short-der", "65-bytes", "empty"],
)
def test_malformed_signature(auth_server: ServerProcess, client: httpx.Client, signature: str) -> None:
    device = Device.new()
    device.register(client)
    cid, h = device.challenge(client)
    _reject(
        auth_server,
        lambda: verify(client, cid, device.device_id, signature),
        422,
        "invalid_encoding",
        device.device_id,
    )
    assert verify(client, cid, device.device_id, device.sign(h)).status_code == 200


def test_unknown_device_or_challenge(auth_server: ServerProcess, client: httpx.Client) -> None:
    device = Device.new()
    device.register(client)
    cid, h = device.challenge(client)
    fake = "dev_" + secrets.token_hex(14)
    _reject(auth_server, lambda: verify(client, cid, fake, device.sign(h)), 401, "login_failed", fake)
    r = verify(client, "ch_" + secrets.token_hex(14), device.device_id, device.sign(h))
    assert r.status_code == 404 and r.json()["code"] == "challenge_not_found"


def test_edited_challenge_id(auth_server: ServerProcess, client: httpx.Client) -> None:
    """The challenge id is a MAC'd token: change any part of it (here: the expiry, the user, one
    bit of the tag) and it is an unknown challenge — even with a good signature over H."""
    device, other = Device.new(), Device.new()
    device.register(client)
    other.register(client)
    cid, h = device.challenge(client)
    raw = bytearray(base64.urlsafe_b64decode(cid[3:] + "=" * (-len(cid[3:]) % 4)))
    later = bytearray(raw)
    later[3] ^= 0x40  # a byte of expires_at
    tag = bytearray(raw)
    tag[-1] ^= 0x01
    other_cid, _ = other.challenge(client)
    other_raw = base64.urlsafe_b64decode(other_cid[3:] + "=" * (-len(other_cid[3:]) % 4))
    spliced = other_raw[:42] + bytes(raw[42:])  # another user's header and random with this tag
    for forged in (later, tag, spliced):
        edited = "ch_" + b64u(bytes(forged))
        _reject(
            auth_server,
            lambda edited=edited: verify(client, edited, device.device_id, device.sign(h)),
            404,
            "challenge_not_found",
            device.device_id,
        )
    assert verify(client, cid, device.device_id, device.sign(h)).status_code == 200


def test_challenge_from_before_a_restart_is_refused() -> None:
    """SQLite: the challenge key is drawn at each start, so nothing issued before a restart (and
    possibly consumed in the ledger that the restart forgot) is accepted after it."""
    server = ServerProcess(env=OPEN).start()
    try:
        with server.client() as client:
            device = Device.new()
            device.register(client)
            cid, h = device.challenge(client)
            used_cid, used_h = device.challenge(client)
            assert verify(client, used_cid, device.device_id, device.sign(used_h)).status_code == 200
        server.stop()
        server.start()
        with server.client() as client:
            for challenge_id, digest in ((cid, h), (used_cid, used_h)):
                r = verify(client, challenge_id, device.device_id, device.sign(digest))
                assert r.status_code == 404 and r.json()["code"] == "challenge_not_found", r.text
            wait_for_audit(server, device.device_id, "challenge_not_found")
            device.login(client)  # a fresh challenge works
    finally:
        server.stop()


def test_expired_challenge() -> None:
    server = ServerProcess(env={**OPEN, "SIGIL_CHALLENGE_TTL": "1"}).start()
    try:
        with server.client() as client:
            device = Device.new()
            device.register(client)
            cid, h = device.challenge(client)
            time.sleep(1.3)
            _reject(
                server,
                lambda: verify(client, cid, device.device_id, device.sign(h)),
                410,
                "challenge_expired",
                device.device_id,
            )
    finally:
        server.stop()


# --- concurrency: exactly one of 20 identical verify calls wins -----------------------------------


def test_twenty_concurrent_verifies_one_wins(auth_server: ServerProcess, client: httpx.Client) -> None:
    device = Device.new()
    device.register(client)
    cid, h = device.challenge(client)
    body = {
        "challenge_id": cid,
        "device_id": device.device_id,
        "signature": base64.b64encode(device.sign(h)).decode(),
    }
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        with httpx.Client(base_url=auth_server.url, timeout=30) as c:
            barrier.wait()
            r = c.post("/v1/auth/verify", json=body)
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 19, statuses
    outcomes = audit_outcomes(auth_server, device.device_id)
    deadline = time.monotonic() + 10
    while len(outcomes) < 20 and time.monotonic() < deadline:
        time.sleep(0.2)
        outcomes = audit_outcomes(auth_server, device.device_id)
    assert sorted(outcomes) == ["challenge_used"] * 19 + ["ok"]


# --- rate limits ------------------------------------------------------------------------------------


def test_rate_limits_per_user_and_per_address() -> None:
    env = {"SIGIL_OPEN_REGISTRATION": "1", "SIGIL_AUTH_RATE_USER": "3", "SIGIL_AUTH_RATE_ADDR": "8"}
    server = ServerProcess(env=env).start()
    try:
        with server.client() as client:
            alice, bob = Device.new(), Device.new()
            alice.register(client)
            bob.register(client)
            for _ in range(3):
                alice.challenge(client)
            r = client.post("/v1/auth/challenge", json={"user": alice.user})
            assert r.status_code == 429 and r.json()["code"] == "rate_limited"
            for _ in range(4):  # 3 + 1 refused + 4 = 8 from this address
                r = client.post("/v1/auth/challenge", json={"user": bob.user})
            statuses = [
                client.post("/v1/auth/challenge", json={"user": bob.user}).status_code for _ in range(2)
            ]
            assert 429 in statuses
            for _ in range(9):
                r = verify(client, "ch_" + secrets.token_hex(14), alice.device_id, b"\x00" * 64)
            assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    finally:
        server.stop()
