"""Bad input on every endpoint: a problem+json 4xx with the documented stable ``code``, never a
500, and stored state unchanged (docs/api.md "Errors"; issue 2 "Bad input").

State is compared through the database itself (row counts and contents of principals, keys,
versions, and the audit log's successful entries) and through the principal's ``GET /v1/keys``.
A rejected *sign* may leave an audit record of the attempt (outcome = the error code): that is the
audit log doing its job, not a change of stored state; any other new row fails the test.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from support.server import ServerProcess

FOUR_MIB = 4 * 1024 * 1024
PROBLEM = "application/problem+json"


def principal_token(server: ServerProcess, scopes: list[str] | None = None) -> str:
    with server.client(server.admin_token) as admin:
        body: dict[str, Any] = {"name": "b-" + secrets.token_hex(6)}
        if scopes:
            body["scopes"] = scopes
        r = admin.post("/v1/tokens", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


def db_url(server: ServerProcess) -> str:
    return server.db_url or f"sqlite:///{server.data_dir / 'sigil.db'}"


@dataclass
class World:
    server: ServerProcess
    token: str
    keys: dict[str, str]  # curve -> key_id (enabled, version 1)
    disabled: str
    engine: sa.Engine
    sig: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, auth: str) -> httpx.Client:
        token = {
            "principal": self.token,
            "admin": self.server.admin_token,
            "none": None,
            "wrong": "sgl_" + "x" * 43,
        }[auth]
        return self.server.client(token)

    def snapshot(self) -> dict[str, Any]:
        with self.server.client(self.server.admin_token) as admin:
            admin.get("/v1/audit/verify").raise_for_status()  # flushes queued audit events
        with self.server.client(self.token) as c:
            listed = c.get("/v1/keys").json()
        with self.engine.connect() as conn:
            tables = {
                "principals": conn.execute(
                    sa.text("SELECT id, name, token_hash, scopes FROM principals ORDER BY id")
                ).all(),
                "keys": conn.execute(
                    sa.text("SELECT id, state, latest_version, deletion_at, label, jwt FROM keys ORDER BY id")
                ).all(),
                "versions": conn.execute(
                    sa.text("SELECT key_id, version, state, sealed_private FROM key_versions ORDER BY 1, 2")
                ).all(),
                "audit_ok": conn.execute(
                    sa.text(
                        "SELECT seq, action, key_id, outcome FROM audit_log WHERE outcome = 'ok' ORDER BY seq"
                    )
                ).all(),
                "audit_failed": conn.execute(
                    sa.text("SELECT action, outcome FROM audit_log WHERE outcome <> 'ok' ORDER BY seq")
                ).all(),
            }
        return {"listed": listed, **tables}


@pytest.fixture(scope="module")
def world_cache() -> dict[str, World]:
    return {}


@pytest.fixture
def world(any_server: ServerProcess, world_cache: dict[str, World]) -> World:
    cached = world_cache.get(any_server.url)
    if cached is not None:
        return cached
    token = principal_token(any_server)
    keys: dict[str, str] = {}
    with any_server.client(token) as c:
        for curve in ("P-256", "P-384", "secp256k1"):
            r = c.post("/v1/keys", json={"curve": curve})
            assert r.status_code == 201, r.text
            keys[curve] = r.json()["key_id"]
        disabled = c.post("/v1/keys", json={"curve": "P-256"}).json()["key_id"]
        c.post(f"/v1/keys/{disabled}/disable", json={}).raise_for_status()
        sig = c.post(f"/v1/keys/{keys['P-256']}/sign", json={"data": "hello"}).json()["signature"]
        pem = c.get(f"/v1/keys/{keys['P-256']}").json()["versions"][0]["public_key_pem"]
    w = World(any_server, token, keys, disabled, sa.create_engine(db_url(any_server)), sig)
    w.extra["pem"] = pem
    world_cache[any_server.url] = w
    return w


def assert_state_unchanged(before: dict[str, Any], after: dict[str, Any], allow_failed_sign: bool) -> None:
    for name in ("listed", "principals", "keys", "versions", "audit_ok"):
        assert before[name] == after[name], f"{name} changed"
    new_failed = after["audit_failed"][len(before["audit_failed"]) :]
    assert after["audit_failed"][: len(before["audit_failed"])] == before["audit_failed"]
    if allow_failed_sign:
        assert all(action == "sign" for action, _outcome in new_failed), new_failed
    else:
        assert new_failed == [], new_failed


def assert_problem(r: httpx.Response, status: int, code: str | tuple[str, ...]) -> None:
    assert r.status_code < 500, (r.status_code, r.text)
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("content-type", "").startswith(PROBLEM), r.headers
    body = r.json()
    codes = (code,) if isinstance(code, str) else code
    assert body["code"] in codes, body
    assert body["status"] == status and body["type"].endswith(body["code"]) and body["title"]
    assert "Traceback" not in r.text


# --- the table -------------------------------------------------------------------------------------

K256, K384, KK1 = "{P-256}", "{P-384}", "{secp256k1}"
SIGN = "/v1/keys/" + K256 + "/sign"
UNKNOWN = "key_aaaaaaaaaaaaaaaaaaaaaaaaaa"
D32 = hashlib.sha256(b"x").hexdigest()


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    status: int
    code: str | tuple[str, ...]
    json: Any = None
    content: bytes | None = None
    auth: str = "principal"
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    xfail: str | None = None


def body_cases(method: str, path: str, auth: str = "principal") -> list[Case]:
    """Malformed and non-object bodies for an endpoint that takes a JSON body."""
    tag = f"{method} {path}"
    return [
        Case(f"{tag} not json", method, path, 400, "malformed_body", content=b"{not json", auth=auth),
        Case(f"{tag} truncated", method, path, 400, "malformed_body", content=b'{"curve": "P-2', auth=auth),
        Case(f"{tag} array", method, path, 400, "malformed_body", content=b"[1, 2]", auth=auth),
        Case(f"{tag} string", method, path, 400, "malformed_body", content=b'"x"', auth=auth),
        Case(f"{tag} number", method, path, 400, "malformed_body", content=b"42", auth=auth),
        Case(f"{tag} null", method, path, 400, "malformed_body", content=b"null", auth=auth),
        Case(
            f"{tag} not utf-8", method, path, 400, "malformed_body", content=b'{"a": "\xff\xfe"}', auth=auth
        ),
        Case(
            f"{tag} lone surrogate",
            method,
            path,
            400,
            "malformed_body",
            content=b'{"data": "\\ud800"}',
            auth=auth,
        ),
        Case(f"{tag} NaN", method, path, 400, "malformed_body", content=b'{"version": NaN}', auth=auth),
        Case(
            f"{tag} deep", method, path, 400, "malformed_body", content=b"[" * 5000 + b"]" * 5000, auth=auth
        ),
        Case(
            f"{tag} form",
            method,
            path,
            400,
            "malformed_body",
            content=b"curve=P-256",
            auth=auth,
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        Case(
            f"{tag} unknown field", method, path, 422, "validation_error", json={"zzz_unknown": 1}, auth=auth
        ),
    ]


def auth_cases(method: str, path: str, body: Any = None) -> list[Case]:
    tag = f"{method} {path}"
    return [
        Case(f"{tag} no token", method, path, 401, "unauthorized", json=body, auth="none"),
        Case(f"{tag} wrong token", method, path, 401, "unauthorized", json=body, auth="wrong"),
        Case(
            f"{tag} basic auth",
            method,
            path,
            401,
            "unauthorized",
            json=body,
            auth="none",
            headers={"authorization": "Basic YWRtaW46YWRtaW4="},
        ),
        Case(
            f"{tag} short token",
            method,
            path,
            401,
            "unauthorized",
            json=body,
            auth="none",
            headers={"authorization": "Bearer x"},
        ),
    ]


KEY_PATHS = [
    "/v1/keys/{P-256}",
    "/v1/keys/{P-256}/sign",
    "/v1/keys/{P-256}/rotate",
    "/v1/keys/{P-256}/disable",
    "/v1/keys/{P-256}/enable",
    "/v1/keys/{P-256}/jwt",
]

CASES: list[Case] = [
    # tokens (admin)
    *body_cases("POST", "/v1/tokens", auth="admin"),
    *auth_cases("POST", "/v1/tokens", {"name": "nope"}),
    Case("tokens non-admin", "POST", "/v1/tokens", 403, "forbidden", json={"name": "nope-x"}),
    Case("tokens name type", "POST", "/v1/tokens", 422, "validation_error", json={"name": 5}, auth="admin"),
    Case("tokens name missing", "POST", "/v1/tokens", 422, "validation_error", json={}, auth="admin"),
    Case("tokens name empty", "POST", "/v1/tokens", 422, "validation_error", json={"name": ""}, auth="admin"),
    Case(
        "tokens name chars",
        "POST",
        "/v1/tokens",
        422,
        "validation_error",
        json={"name": "a b/c"},
        auth="admin",
    ),
    Case(
        "tokens name long",
        "POST",
        "/v1/tokens",
        422,
        "validation_error",
        json={"name": "a" * 65},
        auth="admin",
    ),
    Case(
        "tokens scope",
        "POST",
        "/v1/tokens",
        422,
        "validation_error",
        json={"name": "ok-name-1", "scopes": ["root"]},
        auth="admin",
    ),
    Case(
        "tokens scopes type",
        "POST",
        "/v1/tokens",
        422,
        "validation_error",
        json={"name": "ok-name-2", "scopes": "admin"},
        auth="admin",
    ),
    Case("tokens name taken", "POST", "/v1/tokens", 409, "name_taken", json={"name": "admin"}, auth="admin"),
    # create key
    *body_cases("POST", "/v1/keys"),
    *auth_cases("POST", "/v1/keys", {"curve": "P-256"}),
    Case("create unknown curve", "POST", "/v1/keys", 422, "unknown_curve", json={"curve": "P-521"}),
    Case("create curve case", "POST", "/v1/keys", 422, "unknown_curve", json={"curve": "p256"}),
    Case("create curve ed25519", "POST", "/v1/keys", 422, "unknown_curve", json={"curve": "Ed25519"}),
    Case("create curve type", "POST", "/v1/keys", 422, "validation_error", json={"curve": 256}),
    Case("create curve null", "POST", "/v1/keys", 422, "validation_error", json={"curve": None}),
    Case("create curve missing", "POST", "/v1/keys", 422, "validation_error", json={"label": "x"}),
    Case("create empty body", "POST", "/v1/keys", 422, "validation_error", content=b""),
    Case(
        "create label type", "POST", "/v1/keys", 422, "validation_error", json={"curve": "P-256", "label": 1}
    ),
    Case(
        "create label long",
        "POST",
        "/v1/keys",
        422,
        "validation_error",
        json={"curve": "P-256", "label": "x" * 201},
    ),
    Case(
        "create jwt type", "POST", "/v1/keys", 422, "validation_error", json={"curve": "P-256", "jwt": "yes"}
    ),
    Case(
        "create extra", "POST", "/v1/keys", 422, "validation_error", json={"curve": "P-256", "private": "x"}
    ),
    # list / show / public
    *auth_cases("GET", "/v1/keys"),
    *auth_cases("GET", "/v1/keys/{P-256}"),
    Case("show unknown", "GET", f"/v1/keys/{UNKNOWN}", 404, "not_found"),
    Case("show odd id", "GET", "/v1/keys/..%2f..%2fetc", 404, "not_found"),
    Case("show long id", "GET", "/v1/keys/key_" + "a" * 300, 404, "not_found"),
    Case("public unknown", "GET", f"/v1/keys/{UNKNOWN}/public", 404, "not_found", auth="none"),
    Case("public junk", "GET", "/v1/keys/%00%ff/public", 404, "not_found", auth="none"),
    Case("jwks unknown", "GET", f"/v1/keys/{UNKNOWN}/jwks.json", 404, "not_found", auth="none"),
    # sign
    *body_cases("POST", SIGN),
    *auth_cases("POST", SIGN, {"data": "x"}),
    Case("sign unknown key", "POST", f"/v1/keys/{UNKNOWN}/sign", 404, "not_found", json={"data": "x"}),
    Case("sign no message", "POST", SIGN, 422, "validation_error", json={}),
    Case("sign two messages", "POST", SIGN, 422, "validation_error", json={"data": "x", "digest": D32}),
    Case(
        "sign items and data",
        "POST",
        SIGN,
        422,
        "validation_error",
        json={"data": "x", "items": [{"data": "y"}]},
    ),
    Case("sign data type", "POST", SIGN, 422, "validation_error", json={"data": 5}),
    Case("sign data list", "POST", SIGN, 422, "validation_error", json={"data": ["x"]}),
    Case("sign data null only", "POST", SIGN, 422, "validation_error", json={"data": None}),
    Case(
        "sign unknown hash",
        "POST",
        SIGN,
        422,
        ("unsupported_hash", "validation_error"),
        json={"data": "x", "hash": "MD5"},
    ),
    Case(
        "sign hash lowercase",
        "POST",
        SIGN,
        422,
        ("unsupported_hash", "validation_error"),
        json={"data": "x", "hash": "sha256"},
    ),
    Case(
        "sign digest unknown hash",
        "POST",
        SIGN,
        422,
        ("unsupported_hash", "validation_error"),
        json={"digest": D32, "hash": "SHA-1"},
    ),
    Case(
        "sign keccak on P-256",
        "POST",
        SIGN,
        422,
        "unsupported_hash",
        json={"data": "x", "hash": "KECCAK-256"},
    ),
    Case(
        "sign keccak on P-384",
        "POST",
        "/v1/keys/{P-384}/sign",
        422,
        "unsupported_hash",
        json={"data": "x", "hash": "KECCAK-256"},
    ),
    Case("sign hash type", "POST", SIGN, 422, "validation_error", json={"data": "x", "hash": 256}),
    Case(
        "sign encoding unknown",
        "POST",
        SIGN,
        422,
        ("validation_error", "invalid_encoding"),
        json={"data": "x", "encoding": "base58"},
    ),
    Case(
        "sign rsv on P-256",
        "POST",
        SIGN,
        422,
        ("invalid_encoding", "validation_error"),
        json={"data": "x", "encoding": "rsv"},
    ),
    Case("sign bad base64", "POST", SIGN, 422, "invalid_encoding", json={"data_b64": "not base64!!"}),
    Case("sign base64 bad padding", "POST", SIGN, 422, "invalid_encoding", json={"data_b64": "abc=="}),
    Case("sign base64 length", "POST", SIGN, 422, "invalid_encoding", json={"data_b64": "abcde"}),
    Case("sign digest short hex", "POST", SIGN, 422, "invalid_encoding", json={"digest": D32[:-2]}),
    Case("sign digest long hex", "POST", SIGN, 422, "invalid_encoding", json={"digest": D32 + "00"}),
    Case(
        "sign digest 48 for sha256",
        "POST",
        SIGN,
        422,
        "invalid_encoding",
        json={"digest": hashlib.sha384(b"x").hexdigest()},
    ),
    Case(
        "sign digest 32 for sha512",
        "POST",
        SIGN,
        422,
        "invalid_encoding",
        json={"digest": D32, "hash": "SHA-512"},
    ),
    Case(
        "sign digest 32 for P-384 default",
        "POST",
        "/v1/keys/{P-384}/sign",
        422,
        "invalid_encoding",
        json={"digest": D32},
    ),
    Case(
        "sign digest 32 for SHA-384",
        "POST",
        SIGN,
        422,
        "invalid_encoding",
        json={"digest": D32, "hash": "SHA-384"},
    ),
    Case(
        "sign digest b64 wrong size",
        "POST",
        SIGN,
        422,
        "invalid_encoding",
        json={"digest": base64.b64encode(b"\x01" * 31).decode()},
    ),
    Case("sign digest not hex", "POST", SIGN, 422, "invalid_encoding", json={"digest": "zz" * 32}),
    Case("sign digest empty", "POST", SIGN, 422, "invalid_encoding", json={"digest": ""}),
    Case("sign digest type", "POST", SIGN, 422, "validation_error", json={"digest": 12345}),
    Case("sign version zero", "POST", SIGN, 422, "validation_error", json={"data": "x", "version": 0}),
    Case("sign version negative", "POST", SIGN, 422, "validation_error", json={"data": "x", "version": -1}),
    Case("sign version string", "POST", SIGN, 422, "validation_error", json={"data": "x", "version": "1"}),
    Case("sign version float", "POST", SIGN, 422, "validation_error", json={"data": "x", "version": 1.5}),
    Case("sign version huge", "POST", SIGN, 422, "validation_error", json={"data": "x", "version": 2**80}),
    Case("sign version bool", "POST", SIGN, 422, "validation_error", json={"data": "x", "version": True}),
    Case("sign version missing", "POST", SIGN, 404, "not_found", json={"data": "x", "version": 99}),
    Case("sign low_s type", "POST", SIGN, 422, "validation_error", json={"data": "x", "low_s": "true"}),
    Case("sign items type", "POST", SIGN, 422, "validation_error", json={"items": {"data": "x"}}),
    Case("sign items item type", "POST", SIGN, 422, "validation_error", json={"items": ["x"]}),
    Case("sign items item empty", "POST", SIGN, 422, "validation_error", json={"items": [{}]}),
    Case(
        "sign items item two",
        "POST",
        SIGN,
        422,
        "validation_error",
        json={"items": [{"data": "x", "data_b64": "eA=="}]},
    ),
    Case(
        "sign items extra",
        "POST",
        SIGN,
        422,
        "validation_error",
        json={"items": [{"data": "x", "hash": "SHA-256"}]},
    ),
    Case(
        "sign items bad b64",
        "POST",
        SIGN,
        422,
        "invalid_encoding",
        json={"items": [{"data": "x"}, {"data_b64": "!"}]},
    ),
    Case("sign items bad digest", "POST", SIGN, 422, "invalid_encoding", json={"items": [{"digest": "00"}]}),
    Case("sign items 1001", "POST", SIGN, 413, "payload_too_large", json={"items": [{"data": "x"}] * 1001}),
    Case("sign disabled key", "POST", "/v1/keys/{disabled}/sign", 409, "key_disabled", json={"data": "x"}),
    Case("sign data too long", "POST", SIGN, 422, "validation_error", json={"data": "x" * 1_000_001}),
    # verify (no token)
    *body_cases("POST", "/v1/verify", auth="none"),
    Case(
        "verify no signature",
        "POST",
        "/v1/verify",
        422,
        "validation_error",
        json={"key_id": "{P-256}", "data": "hello"},
        auth="none",
    ),
    Case(
        "verify signature type",
        "POST",
        "/v1/verify",
        422,
        "validation_error",
        json={"key_id": "{P-256}", "data": "hello", "signature": 5},
        auth="none",
    ),
    Case(
        "verify bad base64 sig",
        "POST",
        "/v1/verify",
        422,
        "invalid_encoding",
        json={"key_id": "{P-256}", "data": "hello", "signature": "***"},
        auth="none",
    ),
    Case(
        "verify neither key",
        "POST",
        "/v1/verify",
        422,
        "validation_error",
        json={"data": "hello", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify both keys",
        "POST",
        "/v1/verify",
        422,
        "validation_error",
        json={"key_id": "{P-256}", "public_key": "{pem}", "data": "hello", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify no message",
        "POST",
        "/v1/verify",
        422,
        "validation_error",
        json={"key_id": "{P-256}", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify unknown key",
        "POST",
        "/v1/verify",
        404,
        "not_found",
        json={"key_id": UNKNOWN, "data": "hello", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify key id type",
        "POST",
        "/v1/verify",
        422,
        "validation_error",
        json={"key_id": 7, "data": "hello", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify unknown version",
        "POST",
        "/v1/verify",
        404,
        "not_found",
        json={"key_id": "{P-256}", "version": 9, "data": "hello", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify version with public key",
        "POST",
        "/v1/verify",
        422,
        "validation_error",
        json={"public_key": "{pem}", "version": 1, "data": "hello", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify bad pem",
        "POST",
        "/v1/verify",
        422,
        "invalid_public_key",
        json={
            "public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "data": "hello",
            "signature": "{sig}",
        },
        auth="none",
    ),
    Case(
        "verify garbage public key",
        "POST",
        "/v1/verify",
        422,
        "invalid_public_key",
        json={"public_key": "hello", "data": "hello", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify rsa jwk",
        "POST",
        "/v1/verify",
        422,
        "invalid_public_key",
        json={"public_key": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}, "data": "hello", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify jwk bad coords",
        "POST",
        "/v1/verify",
        422,
        "invalid_public_key",
        json={
            "public_key": {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
            "data": "hello",
            "signature": "{sig}",
        },
        auth="none",
    ),
    Case(
        "verify off-curve hex",
        "POST",
        "/v1/verify",
        422,
        "invalid_public_key",
        json={"public_key": "04" + "01" * 64, "curve": "P-256", "data": "hello", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify hex unknown curve",
        "POST",
        "/v1/verify",
        422,
        ("unknown_curve", "invalid_public_key"),
        json={"public_key": "04" + "01" * 64, "curve": "P-999", "data": "hello", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify public key type",
        "POST",
        "/v1/verify",
        422,
        "validation_error",
        json={"public_key": 5, "data": "hello", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify unknown hash",
        "POST",
        "/v1/verify",
        422,
        ("unsupported_hash", "validation_error"),
        json={"key_id": "{P-256}", "data": "hello", "hash": "MD5", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify keccak on P-256",
        "POST",
        "/v1/verify",
        422,
        "unsupported_hash",
        json={"key_id": "{P-256}", "data": "hello", "hash": "KECCAK-256", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify digest wrong length",
        "POST",
        "/v1/verify",
        422,
        "invalid_encoding",
        json={"key_id": "{P-256}", "digest": "abcd", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify bad data_b64",
        "POST",
        "/v1/verify",
        422,
        "invalid_encoding",
        json={"key_id": "{P-256}", "data_b64": "@@@", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify encoding unknown",
        "POST",
        "/v1/verify",
        422,
        ("validation_error", "invalid_encoding"),
        json={"key_id": "{P-256}", "data": "hello", "encoding": "pem", "signature": "{sig}"},
        auth="none",
    ),
    Case(
        "verify extra",
        "POST",
        "/v1/verify",
        422,
        "validation_error",
        json={"key_id": "{P-256}", "data": "hello", "signature": "{sig}", "strict": True},
        auth="none",
    ),
    # rotate / disable / enable / delete / cancel
    *auth_cases("POST", "/v1/keys/{P-256}/rotate"),
    Case("rotate unknown", "POST", f"/v1/keys/{UNKNOWN}/rotate", 404, "not_found"),
    Case("rotate non-key id", "POST", "/v1/keys/not-a-key/rotate", 404, "not_found"),
    *body_cases("POST", "/v1/keys/{P-256}/disable"),
    *auth_cases("POST", "/v1/keys/{P-256}/disable", {}),
    Case(
        "disable version type",
        "POST",
        "/v1/keys/{P-256}/disable",
        422,
        "validation_error",
        json={"version": "1"},
    ),
    Case(
        "disable version zero",
        "POST",
        "/v1/keys/{P-256}/disable",
        422,
        "validation_error",
        json={"version": 0},
    ),
    Case(
        "disable unknown version", "POST", "/v1/keys/{P-256}/disable", 404, "not_found", json={"version": 42}
    ),
    Case("disable unknown key", "POST", f"/v1/keys/{UNKNOWN}/disable", 404, "not_found", json={}),
    *body_cases("POST", "/v1/keys/{disabled}/enable"),
    *auth_cases("POST", "/v1/keys/{disabled}/enable", {}),
    Case(
        "enable version type",
        "POST",
        "/v1/keys/{disabled}/enable",
        422,
        "validation_error",
        json={"version": []},
    ),
    Case(
        "enable unknown version", "POST", "/v1/keys/{disabled}/enable", 404, "not_found", json={"version": 42}
    ),
    *auth_cases("DELETE", "/v1/keys/{P-256}"),
    Case("delete unknown", "DELETE", f"/v1/keys/{UNKNOWN}", 404, "not_found"),
    Case(
        "delete days low", "DELETE", "/v1/keys/{P-256}", 422, "validation_error", params={"pending_days": "6"}
    ),
    Case(
        "delete days high",
        "DELETE",
        "/v1/keys/{P-256}",
        422,
        "validation_error",
        params={"pending_days": "31"},
    ),
    Case(
        "delete days text",
        "DELETE",
        "/v1/keys/{P-256}",
        422,
        "validation_error",
        params={"pending_days": "x"},
    ),
    Case(
        "delete days huge",
        "DELETE",
        "/v1/keys/{P-256}",
        422,
        "validation_error",
        params={"pending_days": "9" * 40},
    ),
    Case(
        "delete days empty",
        "DELETE",
        "/v1/keys/{P-256}",
        422,
        "validation_error",
        params={"pending_days": ""},
    ),
    *auth_cases("POST", "/v1/keys/{P-256}/cancel-deletion"),
    Case("cancel not pending", "POST", "/v1/keys/{P-256}/cancel-deletion", 409, "not_pending_deletion"),
    Case("cancel unknown", "POST", f"/v1/keys/{UNKNOWN}/cancel-deletion", 404, "not_found"),
    # jwt
    *body_cases("POST", "/v1/keys/{P-256}/jwt"),
    *auth_cases("POST", "/v1/keys/{P-256}/jwt", {"claims": {}}),
    Case("jwt unknown key", "POST", f"/v1/keys/{UNKNOWN}/jwt", 404, "not_found", json={"claims": {}}),
    Case("jwt claims missing", "POST", "/v1/keys/{P-256}/jwt", 422, "validation_error", json={}),
    Case("jwt claims list", "POST", "/v1/keys/{P-256}/jwt", 422, "validation_error", json={"claims": [1]}),
    Case(
        "jwt claims string", "POST", "/v1/keys/{P-256}/jwt", 422, "validation_error", json={"claims": "sub"}
    ),
    Case(
        "jwt expires zero",
        "POST",
        "/v1/keys/{P-256}/jwt",
        422,
        "validation_error",
        json={"claims": {}, "expires_in": 0},
    ),
    Case(
        "jwt expires too long",
        "POST",
        "/v1/keys/{P-256}/jwt",
        422,
        "validation_error",
        json={"claims": {}, "expires_in": 31_536_001},
    ),
    Case(
        "jwt expires string",
        "POST",
        "/v1/keys/{P-256}/jwt",
        422,
        "validation_error",
        json={"claims": {}, "expires_in": "60"},
    ),
    Case("jwt disabled key", "POST", "/v1/keys/{disabled}/jwt", 409, "key_disabled", json={"claims": {}}),
    # audit (admin)
    *auth_cases("GET", "/v1/audit"),
    *auth_cases("GET", "/v1/audit/verify"),
    Case("audit non-admin", "GET", "/v1/audit", 403, "forbidden"),
    Case("audit verify non-admin", "GET", "/v1/audit/verify", 403, "forbidden"),
    Case(
        "audit after negative",
        "GET",
        "/v1/audit",
        422,
        "validation_error",
        auth="admin",
        params={"after": "-1"},
    ),
    Case(
        "audit limit zero", "GET", "/v1/audit", 422, "validation_error", auth="admin", params={"limit": "0"}
    ),
    Case(
        "audit limit big", "GET", "/v1/audit", 422, "validation_error", auth="admin", params={"limit": "1001"}
    ),
    Case(
        "audit limit text", "GET", "/v1/audit", 422, "validation_error", auth="admin", params={"limit": "ten"}
    ),
    # routing
    Case("unknown route", "GET", "/v1/nothing-here", 404, "not_found", auth="none"),
    Case("unknown route post", "POST", "/v1/keys/{P-256}/explode", 404, "not_found", json={}),
    Case("wrong method keys", "PUT", "/v1/keys", 405, "method_not_allowed", json={}),
    Case("wrong method verify", "GET", "/v1/verify", 405, "method_not_allowed", auth="none"),
    Case("wrong method sign", "GET", SIGN, 405, "method_not_allowed"),
]

# A signature and key ids are only known at run time: placeholders are filled in per world.


def fill(value: Any, w: World) -> Any:
    if isinstance(value, str):
        for curve, key_id in w.keys.items():
            value = value.replace("{" + curve + "}", key_id)
        value = value.replace("{disabled}", w.disabled)
        if value == "{sig}":
            return w.sig
        if value == "{pem}":
            return w.extra["pem"]
        return value
    if isinstance(value, dict):
        return {k: fill(v, w) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, w) for v in value]
    return value


def send(w: World, case: Case) -> httpx.Response:
    path = fill(case.path, w)
    with w.client(case.auth) as c:
        kwargs: dict[str, Any] = {"params": case.params, "headers": case.headers}
        if case.content is not None:
            kwargs["content"] = case.content
        elif case.json is not None:
            kwargs["json"] = fill(case.json, w)
        return c.request(case.method, path, **kwargs)


def _ids() -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for c in CASES:
        n = seen.get(c.id, 0)
        seen[c.id] = n + 1
        out.append(c.id if n == 0 else f"{c.id} #{n}")
    return out


def _params() -> list[Any]:
    return [
        pytest.param(c, id=i, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
        for c, i in zip(CASES, _ids(), strict=True)
    ]


@pytest.mark.parametrize("case", _params())
def test_bad_input(world: World, case: Case) -> None:
    before = world.snapshot()
    r = send(world, case)
    assert_problem(r, case.status, case.code)
    after = world.snapshot()
    assert_state_unchanged(before, after, allow_failed_sign="/sign" in case.path)


# --- oversized bodies -----------------------------------------------------------------------------

BODY_PATHS = [
    ("POST", "/v1/tokens", "admin"),
    ("POST", "/v1/keys", "principal"),
    ("POST", SIGN, "principal"),
    ("POST", "/v1/verify", "none"),
    ("POST", "/v1/keys/{P-256}/disable", "principal"),
    ("POST", "/v1/keys/{disabled}/enable", "principal"),
    ("POST", "/v1/keys/{P-256}/jwt", "principal"),
]


@pytest.mark.parametrize(("method", "path", "auth"), BODY_PATHS)
def test_oversized_body_declared(world: World, method: str, path: str, auth: str) -> None:
    """A JSON body just over 4 MiB with Content-Length: 413 before it is parsed."""
    payload = b'{"data": "' + b"a" * FOUR_MIB + b'"}'
    before = world.snapshot()
    with world.client(auth) as c:
        r = c.request(method, fill(path, world), content=payload)
    assert_problem(r, 413, "payload_too_large")
    assert_state_unchanged(before, world.snapshot(), allow_failed_sign=False)


@pytest.mark.parametrize(("method", "path", "auth"), BODY_PATHS[:4])
def test_oversized_body_chunked(world: World, method: str, path: str, auth: str) -> None:
    """The same without Content-Length (chunked transfer): the server counts as it reads."""

    def chunks() -> Iterator[bytes]:
        yield b'{"data": "'
        for _ in range(FOUR_MIB // 65536 + 1):
            yield b"a" * 65536
        yield b'"}'

    before = world.snapshot()
    with world.client(auth) as c:
        r = c.request(method, fill(path, world), content=chunks())
    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "payload_too_large")
    assert_state_unchanged(before, world.snapshot(), allow_failed_sign=False)


def test_just_under_the_limit_is_not_413(world: World) -> None:
    """Control: a large body under the limit is parsed (and here rejected for its content)."""
    payload = b'{"data": "' + b"a" * (FOUR_MIB - 4096) + b'"}'
    with world.client("principal") as c:
        r = c.post(fill(SIGN, world), content=payload)
    assert_problem(r, 422, "validation_error")  # data is over the 1,000,000-character field limit


@pytest.fixture(scope="module")
def small_body_server() -> Iterator[ServerProcess]:
    proc = ServerProcess(env={"SIGIL_MAX_BODY": "65536"}).start()
    yield proc
    proc.stop()


def test_configured_body_limit(small_body_server: ServerProcess) -> None:
    srv = small_body_server
    token = principal_token(srv)
    with srv.client(token) as c:
        key_id = c.post("/v1/keys", json={"curve": "P-256"}).json()["key_id"]
        ok = c.post(f"/v1/keys/{key_id}/sign", json={"data": "a" * 60_000})
        assert ok.status_code == 200, ok.text
        r = c.post(f"/v1/keys/{key_id}/sign", json={"data": "a" * 70_000})
        assert_problem(r, 413, "payload_too_large")
        r = c.post(f"/v1/keys/{key_id}/sign", json={"items": [{"data": "a" * 100}] * 1000})
        assert_problem(r, 413, "payload_too_large")


# --- verify: a malformed signature is an answer, not an error ---------------------------------------

GARBAGE_SIGNATURES: dict[str, Callable[[bytes], bytes]] = {
    "empty DER-ish": lambda s: b"\x30\x00",
    "random bytes": lambda s: secrets.token_bytes(70),
    "truncated DER": lambda s: s[:-3],
    "trailing byte": lambda s: s + b"\x00",
    "flipped byte": lambda s: s[:10] + bytes([s[10] ^ 1]) + s[11:],
    "zeros": lambda s: b"\x00" * 64,
    "one byte": lambda s: b"\x01",
}


@pytest.mark.parametrize("mangle", list(GARBAGE_SIGNATURES), ids=list(GARBAGE_SIGNATURES))
def test_garbage_signature_is_valid_false(world: World, mangle: str) -> None:
    sig = base64.b64decode(world.sig)
    bad = base64.b64encode(GARBAGE_SIGNATURES[mangle](sig)).decode()
    before = world.snapshot()
    with world.client("none") as c:
        for body in (
            {"key_id": world.keys["P-256"], "data": "hello", "signature": bad},
            {"public_key": world.extra["pem"], "data": "hello", "signature": bad},
            {"key_id": world.keys["P-256"], "data": "hello", "signature": bad, "encoding": "raw"},
            {"key_id": world.keys["secp256k1"], "data": "hello", "signature": bad, "encoding": "rsv"},
        ):
            r = c.post("/v1/verify", json=body)
            assert r.status_code == 200, (body, r.text)
            assert r.json()["valid"] is False
        # the genuine signature still verifies (control)
        good = c.post(
            "/v1/verify", json={"key_id": world.keys["P-256"], "data": "hello", "signature": world.sig}
        )
        assert good.json()["valid"] is True
    assert_state_unchanged(before, world.snapshot(), allow_failed_sign=False)


def test_no_traceback_in_server_log(world: World) -> None:
    """Runs last in this module: none of the requests above made the server log an error."""
    log = world.server.log()
    assert "Traceback" not in log, log[-4000:]
    assert "internal error" not in log.lower(), log[-4000:]
