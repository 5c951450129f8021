"""The login page end to end in headless Chromium: this browser's WebCrypto key and passkeys.

Register, sign out, sign in, whoami, and replays that fail, all against a real server: the browser makes
real keys and real signatures (WebCrypto; a CDP virtual authenticator for WebAuthn). A screenshot of every
step goes to ``tests/e2e/artifacts/<test>/``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from support.browser import Console, capture_posts
from support.server import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# Reads IndexedDB as the page's own script can: the stored key pair, and what exporting the private key does.
READ_DEVICE_KEY = """
async (user) => {
  const db = await new Promise((resolve, reject) => {
    const r = indexedDB.open("sigil-console");
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const record = await new Promise((resolve, reject) => {
    const r = db.transaction("device-keys").objectStore("device-keys").get(user);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  db.close();
  const key = record.keyPair.privateKey;
  const exportErrors = [];
  for (const format of ["pkcs8", "jwk"]) {
    try { await crypto.subtle.exportKey(format, key); exportErrors.push(null); }
    catch (e) { exportErrors.push(e.name); }
  }
  return {
    deviceId: record.device_id,
    type: key.type,
    extractable: key.extractable,
    usages: key.usages,
    curve: key.algorithm.namedCurve,
    exportErrors,
    publicJwk: await crypto.subtle.exportKey("jwk", record.keyPair.publicKey),
  };
}
"""


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def session_token(ui: Console) -> str:
    token = ui.page.evaluate("() => sessionStorage.getItem('sigil.session')")
    assert token, "no session token in sessionStorage"
    return str(token)


def register_and_login_browser(ui: Console, user: str) -> None:
    ui.open()
    ui.shot("page")
    ui.fill_user(user)
    state, message = ui.act("register")
    assert state == "ok", message
    assert "dev_" in message
    ui.shot("registered")
    state, message = ui.act("login")
    assert state == "ok", message
    assert ui.logged_in() and ui.whoami() == user
    ui.shot("signed-in")


def test_this_browser_register_logout_login(console: Console, user: str, web_server: ServerProcess) -> None:
    ui = console
    register_and_login_browser(ui, user)

    # The private key never leaves the browser: WebCrypto refuses to export it.
    key = ui.page.evaluate(READ_DEVICE_KEY, user)
    assert key["type"] == "private" and key["curve"] == "P-256"
    assert key["extractable"] is False
    assert key["usages"] == ["sign"]
    assert key["exportErrors"] == ["InvalidAccessError", "InvalidAccessError"]
    assert ui.page.locator("#whoami-device").text_content() == key["deviceId"]

    state, message = ui.act("logout")
    assert state == "ok" and "Signed out" in message
    assert not ui.logged_in()
    assert ui.page.evaluate("() => sessionStorage.getItem('sigil.session')") is None
    ui.shot("signed-out")

    # Sign in again; check the browser's signature over H ourselves, with the public key it registered.
    verify_bodies = capture_posts(ui.page, "/v1/auth/verify")
    with ui.page.expect_response(lambda r: r.url.endswith("/v1/auth/challenge")) as challenge_info:
        state, message = ui.act("login")
    assert state == "ok", message
    assert ui.whoami() == user
    ui.shot("signed-in-again")
    challenge = challenge_info.value.json()
    [body] = verify_bodies.bodies
    assert body["challenge_id"] == challenge["challenge_id"] and body["device_id"] == key["deviceId"]
    raw = b64url_decode(body["signature"])
    assert len(raw) == 64  # WebCrypto's r‖s
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    jwk = key["publicJwk"]
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url_decode(jwk["x"]), "big"),
        int.from_bytes(b64url_decode(jwk["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()
    public.verify(signature, b64url_decode(challenge["challenge"]), ec.ECDSA(hashes.SHA256()))

    # whoami, from the button and after a reload (the token lives in this tab's sessionStorage).
    state, message = ui.act("whoami")
    assert state == "ok" and user in message
    ui.page.reload()
    ui.page.wait_for_selector("#session-panel:not([hidden])")
    assert ui.whoami() == user
    ui.shot("whoami")

    # The session token is an ES256 JWT that the service's published JWKS verifies.
    token = session_token(ui)
    jwks = httpx.get(web_server.url + "/.well-known/jwks.json").json()
    kid = jwt.get_unverified_header(token).get("kid")
    keys = [k for k in jwks["keys"] if kid is None or k.get("kid") == kid]
    assert keys, "the session token's key is not in /.well-known/jwks.json"
    claims = jwt.decode(token, jwt.PyJWK(keys[0]).key, algorithms=["ES256"], options={"verify_aud": False})
    assert claims["sub"] == user


def test_this_browser_replay_fails(console: Console, user: str, playwright: Any, origin: str) -> None:
    ui = console
    verify_bodies = capture_posts(ui.page, "/v1/auth/verify")
    register_and_login_browser(ui, user)
    [body] = verify_bodies.bodies

    # The same verify request again, from outside the browser: the challenge is spent.
    api = playwright.request.new_context(base_url=origin)
    try:
        replay = api.post(
            "/v1/auth/verify", data=json.dumps(body), headers={"content-type": "application/json"}
        )
        assert 400 <= replay.status < 500, replay.text()
        assert replay.json()["code"] == "challenge_used"
        assert "session_token" not in replay.json()
    finally:
        api.dispose()

    # And through the page: sign out, sign in, but the old request goes out instead of the new one.
    ui.act("logout")

    def resend_old(route: Any) -> None:
        route.continue_(post_data=json.dumps(body))

    ui.page.route("**/v1/auth/verify", resend_old)
    state, message = ui.act("login")
    ui.page.unroute("**/v1/auth/verify")
    assert state == "error", message
    assert "challenge_used" in message and "HTTP 4" in message
    assert not ui.logged_in()
    ui.shot("replay-rejected")

    # The device itself still works.
    state, message = ui.act("login")
    assert state == "ok", message
    assert ui.whoami() == user
    ui.shot("signed-in-after-replay")


def test_errors_are_shown(console: Console, browser: Any, origin: str, user: str) -> None:
    ui = console
    ui.open()
    state, message = ui.act("login")  # no user name
    assert state == "error" and "Enter a user name" in message
    ui.fill_user(user)
    state, message = ui.act("login")  # this browser holds no key for the user
    assert state == "error" and "holds no key" in message
    ui.shot("no-key")
    state, message = ui.act("register")
    assert state == "ok", message

    # A session token the server does not accept (here: not a JWT at all) is dropped on load.
    ui.page.evaluate("() => sessionStorage.setItem('sigil.session', 'not-a-token')")
    ui.page.reload()
    state, message = ui.wait_status()
    assert state == "ok" and "session has ended" in message, message
    assert not ui.logged_in()
    assert ui.page.evaluate("() => sessionStorage.getItem('sigil.session')") is None
    ui.shot("bad-session-dropped")

    # Another browser may not add a device to an existing user without that user's session:
    # the server's problem+json detail is shown.
    other = browser.new_context(base_url=origin)
    try:
        page = other.new_page()
        stranger = Console(page=page, origin=origin, shots_dir=ui.shots_dir, shots=ui.shots)
        stranger.open()
        stranger.fill_user(user)
        state, message = stranger.act("register")
        assert state == "error", message
        assert "HTTP 401" in message or "HTTP 403" in message
        stranger.shot("register-existing-user-refused")
    finally:
        other.close()


def test_passkey_register_logout_login(console: Console, authenticator: dict[str, Any], user: str) -> None:
    ui = console
    cdp, authenticator_id = authenticator["cdp"], authenticator["id"]
    ui.open()
    ui.mode("passkey")
    ui.fill_user(user)
    ui.shot("page")
    state, message = ui.act("register")
    assert state == "ok", message
    assert "dev_" in message
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
    assert len(credentials) == 1
    ui.shot("registered")

    state, message = ui.act("login")
    assert state == "ok", message
    assert ui.whoami() == user
    ui.shot("signed-in")

    ui.act("logout")
    assert not ui.logged_in()
    ui.shot("signed-out")

    # Without a user name: the authenticator offers its discoverable credential for this site.
    ui.fill_user("")
    state, message = ui.act("login")
    assert state == "ok", message
    assert ui.whoami() == user
    ui.shot("signed-in-discoverable")
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]
    assert credentials[0]["signCount"] >= 2


def test_passkey_replay_fails(
    console: Console, authenticator: dict[str, Any], user: str, playwright: Any, origin: str
) -> None:
    ui = console
    verify_bodies = capture_posts(ui.page, "/v1/webauthn/login/verify")
    ui.open()
    ui.mode("passkey")
    ui.fill_user(user)
    state, message = ui.act("register")
    assert state == "ok", message
    state, message = ui.act("login")
    assert state == "ok", message
    ui.shot("signed-in")
    [body] = verify_bodies.bodies

    api = playwright.request.new_context(base_url=origin)
    try:
        replay = api.post(
            "/v1/webauthn/login/verify", data=json.dumps(body), headers={"content-type": "application/json"}
        )
        assert 400 <= replay.status < 500, replay.text()
        assert "session_token" not in replay.json()
    finally:
        api.dispose()

    ui.act("logout")

    def resend_old(route: Any) -> None:
        route.continue_(post_data=json.dumps(body))

    ui.page.route("**/v1/webauthn/login/verify", resend_old)
    state, message = ui.act("login")
    ui.page.unroute("**/v1/webauthn/login/verify")
    assert state == "error", message
    assert "HTTP 4" in message
    assert not ui.logged_in()
    ui.shot("replay-rejected")


def test_add_passkey_then_revoke_browser_key(
    console: Console, authenticator: dict[str, Any], user: str
) -> None:
    """A signed-in user adds a passkey (adding a device needs the session), then revokes the browser key."""
    ui = console
    register_and_login_browser(ui, user)

    state, message = ui.act("add-passkey")
    assert state == "ok", message
    rows = ui.page.locator("[data-testid=device-row]")
    assert rows.count() == 2
    kinds = sorted(rows.nth(i).get_attribute("data-kind") or "" for i in range(2))
    assert kinds == ["ecdsa", "webauthn"]
    ui.shot("passkey-added")

    ui.act("logout")
    ui.mode("passkey")
    ui.fill_user(user)
    state, message = ui.act("login")
    assert state == "ok", message
    assert ui.whoami() == user
    ui.shot("signed-in-with-passkey")

    ecdsa_row = ui.page.locator("[data-testid=device-row][data-kind=ecdsa]")
    ui.page.evaluate("() => { document.getElementById('status').dataset.state = 'idle'; }")
    ecdsa_row.locator("[data-testid=revoke]").click()
    state, message = ui.wait_status()
    assert state == "ok", message
    assert ecdsa_row.get_attribute("data-revoked") == "true"
    ui.shot("browser-key-revoked")

    ui.act("logout")
    ui.mode("browser")
    state, message = ui.act("login")
    assert state == "error", message
    assert "device_revoked" in message
    assert not ui.logged_in()
    ui.shot("revoked-key-refused")
