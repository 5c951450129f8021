"""WebAuthn passkeys over HTTP (issue 4): registration and login ceremonies against a real server,
answered by a software authenticator that makes real ES256 signatures (tests/support/authenticator.py).

Every rejection is checked the same way: a 4xx problem+json with its code, the auth tables exactly
as they were (users, devices, challenges: a rejected step consumes nothing and moves no counter),
and an audit entry whose outcome is that code.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt as pyjwt
import pytest
import sqlalchemy as sa

from support.authenticator import FLAG_AT, FLAG_UP, FLAG_UV, SoftAuthenticator, b64url
from support.postgres import fresh_schema
from support.server import ServerProcess

RP_ID = "login.example"
ORIGIN = "https://login.example"
ENV = {
    "SIGIL_OPEN_REGISTRATION": "1",
    "SIGIL_RP_ID": RP_ID,
    "SIGIL_WEBAUTHN_ORIGINS": f"{ORIGIN},https://other-allowed.example",
    "SIGIL_AUTH_RATE_ADDR": "100000",
    "SIGIL_AUTH_RATE_USER": "100000",
}
AUTH_TABLES = ("auth_users", "auth_devices", "auth_challenges")


class Harness:
    """One WebAuthn-enabled server, a client, and direct database access for the state checks."""

    def __init__(self, proc: ServerProcess) -> None:
        self.proc = proc
        self.http = proc.client()
        self.engine = sa.create_engine(proc.db_url or f"sqlite:///{proc.data_dir / 'sigil.db'}")

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()

    # --- ceremonies ---------------------------------------------------------------------------

    def register_options(self, user: str, token: str | None = None) -> dict[str, Any]:
        r = self.http.post("/v1/webauthn/register/options", json={"user": user}, headers=_auth(token))
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def register(
        self, auth: SoftAuthenticator, user: str, token: str | None = None, **create: Any
    ) -> dict[str, Any]:
        started = self.register_options(user, token)
        credential = auth.create(started["options"], **create)
        r = self.http.post(
            "/v1/webauthn/register/verify",
            json={"challenge_id": started["challenge_id"], "credential": credential, "name": "soft key"},
            headers=_auth(token),
        )
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    def login_options(self, user: str | None) -> dict[str, Any]:
        r = self.http.post("/v1/webauthn/login/options", json={} if user is None else {"user": user})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def login_verify(self, challenge_id: str, credential: Any) -> httpx.Response:
        return self.http.post(
            "/v1/webauthn/login/verify", json={"challenge_id": challenge_id, "credential": credential}
        )

    def login(self, auth: SoftAuthenticator, user: str | None, **get: Any) -> httpx.Response:
        started = self.login_options(user)
        return self.login_verify(started["challenge_id"], auth.get(started["options"], **get))

    # --- state and audit ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        with self.engine.connect() as conn:
            return {
                table: [tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))]
                for table in AUTH_TABLES
            }

    def execute(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql), params)

    def device(self, device_id: str) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT * FROM auth_devices WHERE id = :id"), {"id": device_id}).one()

    def audit_seq(self) -> int:
        with self.proc.client(self.proc.admin_token) as admin:
            r = admin.get("/v1/audit/verify")
            assert r.status_code == 200 and r.json()["ok"], r.text
            return int(r.json()["entries"])

    def audit_after(self, seq: int) -> list[dict[str, Any]]:
        with self.proc.client(self.proc.admin_token) as admin:
            r = admin.get("/v1/audit", params={"after": seq, "limit": 1000})
            assert r.status_code == 200, r.text
            entries: list[dict[str, Any]] = r.json()["entries"]
            return entries

    def expect_rejection(self, status: int, code: str, action: str, call: Any) -> dict[str, Any]:
        """Run ``call`` (→ httpx.Response) and check status, problem code, no state change, audit."""
        before, seq = self.snapshot(), self.audit_seq()
        r = call()
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        problem: dict[str, Any] = r.json()
        assert problem["code"] == code, problem
        assert problem["status"] == status and problem["detail"]
        assert self.snapshot() == before, "a rejected WebAuthn step changed stored state"
        outcomes = [(e["action"], e["outcome"]) for e in self.audit_after(seq)]
        assert (action, code) in outcomes, outcomes
        return problem


def _auth(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


def _user() -> str:
    return "u-" + secrets.token_hex(5)


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.slow, pytest.mark.postgres])],
)
def wa(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "sqlite":
        proc = ServerProcess(env=ENV).start()
        harness = Harness(proc)
        yield harness
        harness.close()
        proc.stop()
        return
    with fresh_schema() as url:
        proc = ServerProcess(db_url=url, env=ENV).start()
        harness = Harness(proc)
        yield harness
        harness.close()
        proc.stop()


@pytest.fixture
def auth() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN)


@pytest.fixture
def alice(wa: Harness, auth: SoftAuthenticator) -> tuple[str, str]:
    """A user with one registered passkey in ``auth``: (user, device_id)."""
    user = _user()
    return user, wa.register(auth, user)["device_id"]


# --- the round trip ----------------------------------------------------------------------------------


def test_register_then_login_gives_a_session_verifiable_from_the_jwks(
    wa: Harness, auth: SoftAuthenticator
) -> None:
    user = _user()
    started = wa.register_options(user)
    options = started["options"]
    assert options["rp"] == {"id": RP_ID, "name": "Sigil"}
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7]  # ES256 only
    assert options["attestation"] == "none"
    credential = auth.create(options)
    r = wa.http.post(
        "/v1/webauthn/register/verify",
        json={"challenge_id": started["challenge_id"], "credential": credential, "name": "laptop"},
    )
    assert r.status_code == 201, r.text
    device_id = r.json()["device_id"]
    assert r.json()["user"] == user
    row = wa.device(device_id)
    assert row.kind == "webauthn" and row.name == "laptop" and row.sign_count == 0
    assert row.revoked_at is None and bytes(row.credential_id) == next(iter(auth.credentials))

    login = wa.login_options(user)
    assert login["options"]["rpId"] == RP_ID
    assert login["options"]["userVerification"] == "preferred"
    assert [c["id"] for c in login["options"]["allowCredentials"]] == [credential["id"]]
    r = wa.login_verify(login["challenge_id"], auth.get(login["options"]))
    assert r.status_code == 200, r.text
    session = r.json()
    assert wa.device(device_id).sign_count == 1

    jwks = wa.http.get("/.well-known/jwks.json").json()
    kid = pyjwt.get_unverified_header(session["session_token"])["kid"]
    [jwk] = [k for k in jwks["keys"] if k["kid"] == kid]
    claims = pyjwt.decode(
        session["session_token"], pyjwt.PyJWK(jwk, algorithm="ES256").key, algorithms=["ES256"]
    )
    assert claims["sub"] == user and claims["device_id"] == device_id and claims["iss"] == "sigil"
    assert claims["exp"] == session["expires_at"] > time.time()
    r = wa.http.get("/v1/auth/session", headers=_auth(session["session_token"]))
    assert r.status_code == 200, r.text
    assert (r.json()["user"], r.json()["device_id"]) == (user, device_id)


def test_discoverable_login_without_a_user_name(
    wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]
) -> None:
    user, device_id = alice
    started = wa.login_options(None)
    assert started["options"]["allowCredentials"] == []
    r = wa.login_verify(started["challenge_id"], auth.get(started["options"]))
    assert r.status_code == 200, r.text
    assert (r.json()["user"], r.json()["device_id"]) == (user, device_id)


def test_a_second_passkey_needs_the_users_session(
    wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]
) -> None:
    user, _ = alice
    other = SoftAuthenticator(origin=ORIGIN)
    wa.expect_rejection(
        401,
        "unauthorized",
        "webauthn.register",
        lambda: wa.http.post("/v1/webauthn/register/options", json={"user": user}),
    )
    token = wa.login(auth, user).json()["session_token"]
    second = wa.register(other, user, token=token)["device_id"]
    r = wa.login(other, user)
    assert r.status_code == 200 and r.json()["device_id"] == second
    # A session is good only for its own user.
    wa.expect_rejection(
        401,
        "unauthorized",
        "webauthn.register",
        lambda: wa.http.post("/v1/webauthn/register/options", json={"user": _user()}, headers=_auth(token)),
    )


def test_authenticator_without_a_counter_logs_in_repeatedly(wa: Harness) -> None:
    auth = SoftAuthenticator(origin=ORIGIN, counter_step=0)
    user = _user()
    wa.register(auth, user)
    for _ in range(3):
        assert wa.login(auth, user).status_code == 200


def test_user_verification_is_preferred_not_required(
    wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]
) -> None:
    user, _ = alice
    assert wa.login(auth, user, flags=FLAG_UP).status_code == 200


def test_second_allowed_origin_is_accepted(
    wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]
) -> None:
    user, _ = alice
    assert wa.login(auth, user, origin="https://other-allowed.example").status_code == 200


# --- login rejections ----------------------------------------------------------------------------


def _bad_login(
    wa: Harness, status: int, code: str, user: str | None, auth: SoftAuthenticator, **get: Any
) -> None:
    started = wa.login_options(user)
    credential = auth.get(started["options"], **get)
    wa.expect_rejection(
        status, code, "webauthn.login", lambda: wa.login_verify(started["challenge_id"], credential)
    )
    # The challenge was not consumed: a good assertion over it still logs in.
    good = auth.get(started["options"])
    assert wa.login_verify(started["challenge_id"], good).status_code == 200


def test_wrong_origin(wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]) -> None:
    _bad_login(wa, 401, "origin_mismatch", alice[0], auth, origin="https://evil.example")


def test_wrong_rp_id_hash(wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]) -> None:
    _bad_login(wa, 401, "rp_id_mismatch", alice[0], auth, rp_id="evil.example")


def test_missing_user_presence(wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]) -> None:
    _bad_login(wa, 401, "user_presence_missing", alice[0], auth, flags=FLAG_UV)


def test_tampered_signature(wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]) -> None:
    _bad_login(wa, 401, "signature_invalid", alice[0], auth, tamper_signature=True)


def test_signature_over_another_challenge(
    wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]
) -> None:
    _bad_login(wa, 401, "challenge_mismatch", alice[0], auth, challenge=secrets.token_bytes(32))


def test_registration_response_offered_as_a_login(
    wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]
) -> None:
    _bad_login(wa, 401, "webauthn_invalid", alice[0], auth, client_type="webauthn.create")


def test_sign_counter_going_backwards(wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]) -> None:
    user, device_id = alice
    for _ in range(3):
        assert wa.login(auth, user).status_code == 200
    assert wa.device(device_id).sign_count == 3
    for count in (3, 2, 0):  # equal is a clone warning too
        _bad_login(wa, 401, "sign_count_regressed", user, auth, sign_count=count)
    assert wa.device(device_id).sign_count == 6  # only the good login after each rejection moved it


def test_replayed_challenge(wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]) -> None:
    user, _ = alice
    started = wa.login_options(user)
    assert wa.login_verify(started["challenge_id"], auth.get(started["options"])).status_code == 200
    replay = auth.get(started["options"])  # a fresh, valid assertion over the used challenge
    wa.expect_rejection(
        409, "challenge_used", "webauthn.login", lambda: wa.login_verify(started["challenge_id"], replay)
    )


def test_expired_challenge(wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]) -> None:
    user, _ = alice
    started = wa.login_options(user)
    wa.execute(
        "UPDATE auth_challenges SET expires_at = created_at WHERE id = :id", id=started["challenge_id"]
    )
    credential = auth.get(started["options"])
    wa.expect_rejection(
        410,
        "challenge_expired",
        "webauthn.login",
        lambda: wa.login_verify(started["challenge_id"], credential),
    )


def test_credential_of_another_user(wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]) -> None:
    bob_auth = SoftAuthenticator(origin=ORIGIN)
    bob = _user()
    wa.register(bob_auth, bob)
    started = wa.login_options(alice[0])  # alice's challenge, bob's passkey
    credential = bob_auth.get(started["options"], credential_id=next(iter(bob_auth.credentials)))
    wa.expect_rejection(
        401,
        "challenge_mismatch",
        "webauthn.login",
        lambda: wa.login_verify(started["challenge_id"], credential),
    )


def test_unknown_credential(wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]) -> None:
    stranger = SoftAuthenticator(origin=ORIGIN)
    stranger.create(wa.register_options(_user())["options"])  # made, never registered
    started = wa.login_options(None)
    credential = stranger.get(started["options"])
    wa.expect_rejection(
        401,
        "credential_unknown",
        "webauthn.login",
        lambda: wa.login_verify(started["challenge_id"], credential),
    )


def test_revoked_device(wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]) -> None:
    user, device_id = alice
    token = wa.login(auth, user).json()["session_token"]
    started = wa.login_options(user)
    r = wa.http.delete(f"/v1/auth/devices/{device_id}", headers=_auth(token))
    assert r.status_code == 200 and r.json()["revoked"] is True, r.text
    assert wa.http.get("/v1/auth/session", headers=_auth(token)).status_code == 401
    credential = auth.get(started["options"])
    wa.expect_rejection(
        401, "device_revoked", "webauthn.login", lambda: wa.login_verify(started["challenge_id"], credential)
    )
    r = wa.http.post("/v1/webauthn/login/options", json={"user": user})
    assert r.status_code == 404 and r.json()["code"] == "no_passkeys"


def test_concurrent_verifies_of_one_assertion(
    wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]
) -> None:
    """20 concurrent calls with one valid assertion for one challenge: exactly one session."""
    user, device_id = alice
    started = wa.login_options(user)
    credential = auth.get(started["options"])
    body = {"challenge_id": started["challenge_id"], "credential": credential}

    def call(_: int) -> int:
        with wa.proc.client() as http:
            return http.post("/v1/webauthn/login/verify", json=body).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = sorted(pool.map(call, range(20)))
    assert statuses.count(200) == 1, statuses
    assert set(statuses) - {200} <= {409}, statuses
    assert wa.device(device_id).sign_count == 1


def test_unknown_user_and_unknown_challenge(
    wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]
) -> None:
    wa.expect_rejection(
        404,
        "not_found",
        "webauthn.login",
        lambda: wa.http.post("/v1/webauthn/login/options", json={"user": _user()}),
    )
    started = wa.login_options(alice[0])
    credential = auth.get(started["options"])
    wa.expect_rejection(
        404,
        "challenge_not_found",
        "webauthn.login",
        lambda: wa.login_verify("ch_" + "0" * 28, credential),
    )


@pytest.mark.parametrize(
    ("mangle", "status", "code"),
    [
        (lambda c: "not an object", 422, "validation_error"),
        (lambda c: {**c, "rawId": "!!!*"}, 400, "webauthn_malformed"),
        (lambda c: {k: v for k, v in c.items() if k != "response"}, 400, "webauthn_malformed"),
        (
            lambda c: {**c, "response": {**c["response"], "clientDataJSON": b64url(b"{not json")}},
            400,
            "webauthn_malformed",
        ),
        (lambda c: {**c, "response": {**c["response"], "clientDataJSON": "%%%"}}, 400, "webauthn_malformed"),
        (
            lambda c: {**c, "response": {**c["response"], "authenticatorData": b64url(b"short")}},
            400,
            "webauthn_malformed",
        ),
        (lambda c: {**c, "response": {**c["response"], "signature": 5}}, 400, "webauthn_malformed"),
        (lambda c: {**c, "type": "password"}, 400, "webauthn_malformed"),
    ],
)
def test_malformed_login_credential(
    wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str], mangle: Any, status: int, code: str
) -> None:
    started = wa.login_options(alice[0])
    bad = mangle(auth.get(started["options"]))
    wa.expect_rejection(status, code, "webauthn.login", lambda: wa.login_verify(started["challenge_id"], bad))


def test_malformed_json_body(wa: Harness) -> None:
    for path in ("/v1/webauthn/login/verify", "/v1/webauthn/register/verify"):
        action = "webauthn.login" if "login" in path else "webauthn.register"
        wa.expect_rejection(
            400,
            "malformed_body",
            action,
            lambda path=path: wa.http.post(
                path, content=b"{nope", headers={"content-type": "application/json"}
            ),
        )


# --- registration rejections -----------------------------------------------------------------------


def _bad_registration(wa: Harness, status: int, code: str, **create: Any) -> None:
    user = _user()
    auth = SoftAuthenticator(origin=ORIGIN)
    started = wa.register_options(user)
    credential = auth.create(started["options"], **create)
    wa.expect_rejection(
        status,
        code,
        "webauthn.register",
        lambda: wa.http.post(
            "/v1/webauthn/register/verify",
            json={"challenge_id": started["challenge_id"], "credential": credential},
        ),
    )
    # Nothing was consumed: the same challenge still registers a good credential.
    good = auth.create(started["options"])
    r = wa.http.post(
        "/v1/webauthn/register/verify", json={"challenge_id": started["challenge_id"], "credential": good}
    )
    assert r.status_code == 201, r.text


def test_registration_wrong_origin(wa: Harness) -> None:
    _bad_registration(wa, 422, "origin_mismatch", origin="https://evil.example")


def test_registration_wrong_rp_id(wa: Harness) -> None:
    _bad_registration(wa, 422, "rp_id_mismatch", rp_id="evil.example")


def test_registration_without_user_presence(wa: Harness) -> None:
    _bad_registration(wa, 422, "user_presence_missing", flags=FLAG_UV | FLAG_AT)


def test_registration_over_another_challenge(wa: Harness) -> None:
    _bad_registration(wa, 422, "challenge_mismatch", challenge=secrets.token_bytes(32))


def test_registration_refuses_other_algorithms(wa: Harness) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    _bad_registration(wa, 422, "unsupported_algorithm", alg=-35)  # ES384 claimed
    _bad_registration(wa, 422, "unsupported_algorithm", curve=ec.SECP384R1())  # P-384 key as ES256


def test_registration_challenge_is_single_use(wa: Harness) -> None:
    user = _user()
    auth = SoftAuthenticator(origin=ORIGIN)
    started = wa.register_options(user)
    first = auth.create(started["options"])
    body = {"challenge_id": started["challenge_id"], "credential": first}
    assert wa.http.post("/v1/webauthn/register/verify", json=body).status_code == 201
    again = {"challenge_id": started["challenge_id"], "credential": auth.create(started["options"])}
    wa.expect_rejection(
        409,
        "challenge_used",
        "webauthn.register",
        lambda: wa.http.post("/v1/webauthn/register/verify", json=again),
    )


def test_registration_of_a_known_credential_id(
    wa: Harness, auth: SoftAuthenticator, alice: tuple[str, str]
) -> None:
    taken = next(iter(auth.credentials))
    user = _user()
    started = wa.register_options(user)
    credential = SoftAuthenticator(origin=ORIGIN).create(started["options"], credential_id=taken)
    wa.expect_rejection(
        409,
        "credential_exists",
        "webauthn.register",
        lambda: wa.http.post(
            "/v1/webauthn/register/verify",
            json={"challenge_id": started["challenge_id"], "credential": credential},
        ),
    )


def test_registration_closed_without_open_registration(server: ServerProcess) -> None:
    with server.client() as http:
        r = http.post("/v1/webauthn/register/options", json={"user": _user()})
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "registration_closed"


def test_user_verification_required_policy() -> None:
    env = {**ENV, "SIGIL_WEBAUTHN_USER_VERIFICATION": "required"}
    proc = ServerProcess(env=env).start()
    wa = Harness(proc)
    try:
        auth = SoftAuthenticator(origin=ORIGIN)
        user = _user()
        started = wa.register_options(user)
        assert started["options"]["authenticatorSelection"]["userVerification"] == "required"
        wa.register(auth, user)
        assert wa.login_options(user)["options"]["userVerification"] == "required"
        _bad_login(wa, 401, "user_verification_missing", user, auth, flags=FLAG_UP)
    finally:
        wa.close()
        proc.stop()


def test_rate_limited_per_client_address() -> None:
    proc = ServerProcess(env={**ENV, "SIGIL_AUTH_RATE_ADDR": "3"}).start()
    wa = Harness(proc)
    try:
        for _ in range(3):
            r = wa.http.post("/v1/webauthn/login/options", json={})
            assert r.status_code == 200, r.text
        wa.expect_rejection(
            429, "rate_limited", "webauthn.login", lambda: wa.http.post("/v1/webauthn/login/options", json={})
        )
    finally:
        wa.close()
        proc.stop()


def test_rate_limited_per_user() -> None:
    """The options steps also count per named user (SIGIL_AUTH_RATE_USER), whatever the address."""
    proc = ServerProcess(env={**ENV, "SIGIL_AUTH_RATE_USER": "2"}).start()
    wa = Harness(proc)
    try:
        user, other = _user(), _user()
        for _ in range(2):
            r = wa.http.post("/v1/webauthn/login/options", json={"user": user})
            assert r.status_code == 404, r.text  # counted before the lookup
        wa.expect_rejection(
            429,
            "rate_limited",
            "webauthn.login",
            lambda: wa.http.post("/v1/webauthn/login/options", json={"user": user}),
        )
        assert wa.http.post("/v1/webauthn/login/options", json={"user": other}).status_code == 404
        assert wa.http.post("/v1/webauthn/login/options", json={}).status_code == 200
    finally:
        wa.close()
        proc.stop()
