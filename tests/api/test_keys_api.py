"""The keys contract (docs/api.md) through HTTP, on SQLite and PostgreSQL.

Signatures are checked with ``cryptography`` / eth-keys / PyJWT / joserfc, never with Sigil's own
crypto, so a bug shared by the server and the library cannot hide.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from eth_keys import keys as eth
from eth_utils import keccak, to_checksum_address
from joserfc import jwt as jose_jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from support.server import ServerProcess

CURVES = ["P-256", "P-384", "secp256k1"]
SIZES = {"P-256": 32, "P-384": 48, "secp256k1": 32}
P_HASHES = ["SHA-256", "SHA-384", "SHA-512"]
HASHES = {"P-256": P_HASHES, "P-384": P_HASHES, "secp256k1": ["SHA-256", "KECCAK-256"]}
ENCODINGS = {"P-256": ["der", "raw"], "P-384": ["der", "raw"], "secp256k1": ["der", "raw", "rsv"]}
JWS_ALG = {"P-256": "ES256", "P-384": "ES384", "secp256k1": "ES256K"}
ORDER = {
    "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "P-384": int(
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973", 16
    ),
    "secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
}


# --- helpers --------------------------------------------------------------------------------------


def principal_token(server: ServerProcess) -> str:
    with server.client(server.admin_token) as admin:
        r = admin.post("/v1/tokens", json={"name": "k-" + secrets.token_hex(6)})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


def digest_of(hash_name: str, data: bytes) -> bytes:
    if hash_name == "KECCAK-256":
        return keccak(data)
    return hashlib.new(hash_name.replace("-", "").lower(), data).digest()


def der_of(sig: bytes, encoding: str, size: int) -> bytes:
    if encoding == "der":
        return sig
    r, s = int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size : 2 * size], "big")
    return encode_dss_signature(r, s)


def verifies(pem: str, sig: bytes, encoding: str, curve: str, digest: bytes) -> bool:
    """Independent check with ``cryptography`` over the prehashed digest."""
    pub = serialization.load_pem_public_key(pem.encode())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    algo: hashes.HashAlgorithm = {32: hashes.SHA256(), 48: hashes.SHA384(), 64: hashes.SHA512()}[len(digest)]
    try:
        pub.verify(der_of(sig, encoding, SIZES[curve]), digest, ec.ECDSA(Prehashed(algo)))
        return True
    except InvalidSignature:
        return False


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert body["status"] == status
    return body


def create(api: httpx.Client, curve: str = "P-256", **extra: Any) -> dict[str, Any]:
    r = api.post("/v1/keys", json={"curve": curve, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def sign(api: httpx.Client, key_id: str, **body: Any) -> httpx.Response:
    return api.post(f"/v1/keys/{key_id}/sign", json=body)


def signed(api: httpx.Client, key_id: str, **body: Any) -> dict[str, Any]:
    r = sign(api, key_id, **body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def verify(anon: httpx.Client, **body: Any) -> httpx.Response:
    return anon.post("/v1/verify", json=body)


def pem_of(api: httpx.Client, key_id: str, version: int) -> str:
    versions = api.get(f"/v1/keys/{key_id}").json()["versions"]
    return next(str(v["public_key_pem"]) for v in versions if v["version"] == version)


@pytest.fixture
def other(any_server: ServerProcess) -> Iterator[httpx.Client]:
    """A second principal on the same server."""
    with any_server.client(principal_token(any_server)) as client:
        yield client


# --- create, list, show, public -----------------------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_create_each_curve(api: httpx.Client, anon: httpx.Client, curve: str) -> None:
    body = create(api, curve, label="release signing")
    assert body["key_id"].startswith("key_")
    assert body["curve"] == curve and body["version"] == 1 and body["state"] == "enabled"
    assert body["label"] == "release signing" and body["jwt"] is False
    assert body["created_at"].endswith("Z")
    pub = serialization.load_pem_public_key(body["public_key_pem"].encode())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    assert pub.curve.key_size == SIZES[curve] * 8
    point = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert body["public_key_hex"].lower().removeprefix("0x") == point.hex()
    jwk = body["public_key_jwk"]
    assert jwk["kty"] == "EC" and jwk["crv"] == curve
    size = SIZES[curve]
    assert base64.urlsafe_b64decode(jwk["x"] + "==") == point[1 : 1 + size]
    assert base64.urlsafe_b64decode(jwk["y"] + "==") == point[1 + size :]
    assert "d" not in jwk
    if curve == "secp256k1":
        expected = eth.PublicKey(point[1:]).to_checksum_address()
        assert body["address"] == expected
        assert body["address"] == to_checksum_address(body["address"])  # EIP-55 form
    else:
        assert body["address"] is None
    # The public endpoint needs no token and says the same.
    r = anon.get(f"/v1/keys/{body['key_id']}/public")
    assert r.status_code == 200, r.text
    public = r.json()
    assert public["key_id"] == body["key_id"] and public["curve"] == curve
    assert [v["version"] for v in public["versions"]] == [1]
    assert public["versions"][0]["public_key_pem"] == body["public_key_pem"]
    assert public["versions"][0]["address"] == body["address"]


def test_list_and_show_only_own_keys(api: httpx.Client, other: httpx.Client) -> None:
    mine = {create(api, c)["key_id"] for c in CURVES}
    theirs = create(other)["key_id"]
    listed = api.get("/v1/keys")
    assert listed.status_code == 200
    ids = {k["key_id"] for k in listed.json()["keys"]}
    assert ids == mine
    assert {k["key_id"] for k in other.get("/v1/keys").json()["keys"]} == {theirs}
    for key_id in mine:
        meta = api.get(f"/v1/keys/{key_id}").json()
        assert meta["key_id"] == key_id and meta["latest_version"] == 1 and meta["deletion_date"] is None
        assert [v["version"] for v in meta["versions"]] == [1]
        assert meta["versions"][0]["state"] == "enabled"


def test_other_principals_key_is_404_everywhere(api: httpx.Client, other: httpx.Client) -> None:
    key_id = create(other)["key_id"]
    before = other.get(f"/v1/keys/{key_id}").json()
    problem(api.get(f"/v1/keys/{key_id}"), 404, "not_found")
    problem(sign(api, key_id, data="x"), 404, "not_found")
    problem(sign(api, key_id, items=[{"data": "x"}]), 404, "not_found")
    problem(api.post(f"/v1/keys/{key_id}/rotate"), 404, "not_found")
    problem(api.post(f"/v1/keys/{key_id}/disable", json={}), 404, "not_found")
    problem(api.post(f"/v1/keys/{key_id}/enable", json={}), 404, "not_found")
    problem(api.delete(f"/v1/keys/{key_id}", params={"pending_days": 7}), 404, "not_found")
    problem(api.post(f"/v1/keys/{key_id}/cancel-deletion"), 404, "not_found")
    problem(api.post(f"/v1/keys/{key_id}/jwt", json={"claims": {"sub": "x"}}), 404, "not_found")
    # The same answer as for a key that does not exist at all.
    problem(api.get("/v1/keys/key_doesnotexist0000000000000"), 404, "not_found")
    assert other.get(f"/v1/keys/{key_id}").json() == before


def test_public_and_verify_need_no_token(api: httpx.Client, anon: httpx.Client) -> None:
    key = create(api)
    sig = signed(api, key["key_id"], data="hello")["signature"]
    assert anon.get(f"/v1/keys/{key['key_id']}/public").status_code == 200
    r = verify(anon, key_id=key["key_id"], data="hello", signature=sig)
    assert r.status_code == 200 and r.json()["valid"] is True
    r = verify(anon, public_key=key["public_key_pem"], data="hello", signature=sig)
    assert r.json() == {"valid": True} or r.json()["valid"] is True
    assert anon.get(f"/v1/keys/{key['key_id']}/jwks.json").status_code == 200
    # ...but everything owner-only does.
    problem(anon.get("/v1/keys"), 401, "unauthorized")
    problem(anon.post("/v1/keys", json={"curve": "P-256"}), 401, "unauthorized")
    problem(sign(anon, key["key_id"], data="x"), 401, "unauthorized")


# --- sign: every input form x encoding x hash -----------------------------------------------------


@pytest.mark.parametrize("curve", CURVES)
def test_sign_matrix(api: httpx.Client, anon: httpx.Client, curve: str) -> None:
    key = create(api, curve)
    key_id, pem = key["key_id"], key["public_key_pem"]
    data = "sign me — ünïcode ✓ " + curve
    raw = data.encode()
    failures: list[str] = []
    for hash_name in HASHES[curve]:
        dig = digest_of(hash_name, raw)
        forms = {
            "data": {"data": data},
            "data_b64": {"data_b64": base64.b64encode(raw).decode()},
            "digest_hex": {"digest": dig.hex()},
            "digest_b64": {"digest": base64.b64encode(dig).decode()},
        }
        for encoding in ENCODINGS[curve]:
            for form, fields in forms.items():
                where = f"{hash_name}/{encoding}/{form}"
                out = signed(api, key_id, hash=hash_name, encoding=encoding, **fields)
                assert out["key_id"] == key_id and out["version"] == 1, where
                assert out["encoding"] == encoding and out["hash"] == hash_name, where
                sig = base64.b64decode(out["signature"], validate=True)
                if encoding == "raw":
                    assert len(sig) == 2 * SIZES[curve], where
                if encoding == "rsv":
                    assert len(sig) == 65 and sig[64] in (27, 28), where
                    assert int.from_bytes(sig[32:64], "big") <= ORDER[curve] // 2, where
                if not verifies(pem, sig, encoding, curve, dig):
                    failures.append(where)
                ok = verify(
                    anon,
                    key_id=key_id,
                    hash=hash_name,
                    encoding=encoding,
                    signature=out["signature"],
                    **fields,
                ).json()
                if ok.get("valid") is not True or ok.get("version") != 1:
                    failures.append(where + " (server verify)")
    assert not failures, failures


@pytest.mark.parametrize("curve", CURVES)
def test_default_hash(api: httpx.Client, curve: str) -> None:
    key = create(api, curve)
    out = signed(api, key["key_id"], data="defaults")
    expected = "SHA-384" if curve == "P-384" else "SHA-256"
    assert out["hash"] == expected and out["encoding"] == "der"
    sig = base64.b64decode(out["signature"])
    assert verifies(key["public_key_pem"], sig, "der", curve, digest_of(expected, b"defaults"))


def test_signatures_are_deterministic(api: httpx.Client) -> None:
    key_id = create(api)["key_id"]
    a = signed(api, key_id, data="same")["signature"]
    b = signed(api, key_id, data="same")["signature"]
    assert a == b  # RFC 6979


def test_wrong_message_does_not_verify(api: httpx.Client, anon: httpx.Client) -> None:
    key = create(api, "secp256k1")
    sig = signed(api, key["key_id"], data="one", encoding="rsv")["signature"]
    r = verify(anon, key_id=key["key_id"], data="two", encoding="rsv", signature=sig)
    assert r.status_code == 200 and r.json()["valid"] is False


def test_verify_with_public_key_forms(api: httpx.Client, anon: httpx.Client) -> None:
    key = create(api, "P-384")
    sig = signed(api, key["key_id"], data="forms")["signature"]
    for public_key, extra in (
        (key["public_key_pem"], {}),
        (key["public_key_jwk"], {}),
        (key["public_key_hex"], {"curve": "P-384"}),
    ):
        r = verify(anon, public_key=public_key, data="forms", signature=sig, **extra)
        assert r.status_code == 200 and r.json()["valid"] is True, r.text
        r = verify(anon, public_key=public_key, data="forms!", signature=sig, **extra)
        assert r.status_code == 200 and r.json()["valid"] is False, r.text


# --- batch ------------------------------------------------------------------------------------------


def test_batch_of_1000(api: httpx.Client) -> None:
    key = create(api)
    items: list[dict[str, str]] = []
    digests: list[bytes] = []
    for i in range(1000):
        msg = f"item {i}".encode()
        digests.append(hashlib.sha256(msg).digest())
        if i % 3 == 0:
            items.append({"data": msg.decode()})
        elif i % 3 == 1:
            items.append({"data_b64": base64.b64encode(msg).decode()})
        else:
            items.append({"digest": digests[-1].hex()})
    out = signed(api, key["key_id"], items=items, encoding="raw")
    assert "signature" not in out or out["signature"] is None
    sigs = [base64.b64decode(s) for s in out["signatures"]]
    assert len(sigs) == 1000
    bad = [
        i
        for i, (s, d) in enumerate(zip(sigs, digests, strict=True))
        if not verifies(key["public_key_pem"], s, "raw", "P-256", d)
    ]
    assert not bad, bad[:10]


def test_batch_of_1001_is_413(api: httpx.Client) -> None:
    key_id = create(api)["key_id"]
    problem(sign(api, key_id, items=[{"data": str(i)} for i in range(1001)]), 413, "payload_too_large")
    empty = sign(api, key_id, items=[])
    assert empty.status_code in (413, 422), empty.text
    assert empty.headers["content-type"].startswith("application/problem+json")


# --- versions -------------------------------------------------------------------------------------


def test_rotate_and_versions(api: httpx.Client, anon: httpx.Client) -> None:
    key = create(api, "secp256k1")
    key_id = key["key_id"]
    sig1 = signed(api, key_id, data="v", encoding="rsv")["signature"]
    r = api.post(f"/v1/keys/{key_id}/rotate")
    assert r.status_code == 200, r.text
    meta = r.json()
    assert meta["latest_version"] == 2 and [v["version"] for v in meta["versions"]] == [1, 2]
    pem2 = next(v["public_key_pem"] for v in meta["versions"] if v["version"] == 2)
    assert pem2 != key["public_key_pem"]
    latest = signed(api, key_id, data="v", encoding="rsv")
    assert latest["version"] == 2
    assert verifies(
        pem2, base64.b64decode(latest["signature"]), "rsv", "secp256k1", hashlib.sha256(b"v").digest()
    )
    pinned = signed(api, key_id, data="v", encoding="rsv", version=1)
    assert pinned["version"] == 1 and pinned["signature"] == sig1
    # verify accepts every live version, and can be pinned
    for sig, version in ((sig1, 1), (latest["signature"], 2)):
        r = verify(anon, key_id=key_id, data="v", encoding="rsv", signature=sig).json()
        assert r["valid"] is True and r["version"] == version
        r = verify(anon, key_id=key_id, version=version, data="v", encoding="rsv", signature=sig).json()
        assert r["valid"] is True
    r = verify(anon, key_id=key_id, version=2, data="v", encoding="rsv", signature=sig1).json()
    assert r["valid"] is False
    problem(sign(api, key_id, data="v", version=3), 404, "not_found")
    public = anon.get(f"/v1/keys/{key_id}/public").json()
    assert [v["version"] for v in public["versions"]] == [1, 2]


def test_disable_enable_key(api: httpx.Client, anon: httpx.Client) -> None:
    key_id = create(api)["key_id"]
    sig = signed(api, key_id, data="d")["signature"]
    r = api.post(f"/v1/keys/{key_id}/disable", json={})
    assert r.status_code == 200 and r.json()["state"] == "disabled"
    problem(sign(api, key_id, data="d"), 409, "key_disabled")
    problem(api.post(f"/v1/keys/{key_id}/jwt", json={"claims": {}}), 409, "key_disabled")
    assert verify(anon, key_id=key_id, data="d", signature=sig).json()["valid"] is True
    r = api.post(f"/v1/keys/{key_id}/enable", json={})
    assert r.status_code == 200 and r.json()["state"] == "enabled"
    assert signed(api, key_id, data="d")["signature"] == sig


def test_disable_enable_one_version(api: httpx.Client, anon: httpx.Client) -> None:
    key_id = create(api)["key_id"]
    api.post(f"/v1/keys/{key_id}/rotate").raise_for_status()
    r = api.post(f"/v1/keys/{key_id}/disable", json={"version": 2})
    assert r.status_code == 200, r.text
    meta = r.json()
    assert meta["state"] == "enabled"
    assert {v["version"]: v["state"] for v in meta["versions"]} == {1: "enabled", 2: "disabled"}
    # The latest *enabled* version signs; the disabled one cannot be pinned.
    out = signed(api, key_id, data="x")
    assert out["version"] == 1
    problem(sign(api, key_id, data="x", version=2), 409, "version_disabled")
    api.post(f"/v1/keys/{key_id}/enable", json={"version": 2}).raise_for_status()
    v2 = signed(api, key_id, data="x")
    assert v2["version"] == 2
    api.post(f"/v1/keys/{key_id}/disable", json={"version": 2}).raise_for_status()
    # verify still accepts a signature of a disabled version
    r = verify(anon, key_id=key_id, data="x", signature=v2["signature"]).json()
    assert r["valid"] is True and r["version"] == 2
    problem(api.post(f"/v1/keys/{key_id}/disable", json={"version": 9}), 404, "not_found")


# --- scheduled deletion ---------------------------------------------------------------------------


def test_pending_deletion_and_cancel(api: httpx.Client, anon: httpx.Client) -> None:
    key_id = create(api)["key_id"]
    sig = signed(api, key_id, data="p")["signature"]
    r = api.delete(f"/v1/keys/{key_id}", params={"pending_days": 7})
    assert r.status_code == 200, r.text
    meta = r.json()
    assert meta["state"] == "pending_deletion" and meta["deletion_date"]
    problem(sign(api, key_id, data="p"), 409, "key_pending_deletion")
    problem(api.post(f"/v1/keys/{key_id}/jwt", json={"claims": {}}), 409, "key_pending_deletion")
    problem(api.post(f"/v1/keys/{key_id}/rotate"), 409, "key_pending_deletion")
    problem(api.post(f"/v1/keys/{key_id}/enable", json={}), 409, "key_pending_deletion")
    problem(api.delete(f"/v1/keys/{key_id}", params={"pending_days": 7}), 409, "key_pending_deletion")
    assert verify(anon, key_id=key_id, data="p", signature=sig).json()["valid"] is True
    r = api.post(f"/v1/keys/{key_id}/cancel-deletion")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "disabled" and r.json()["deletion_date"] is None
    problem(api.post(f"/v1/keys/{key_id}/cancel-deletion"), 409, "not_pending_deletion")
    problem(sign(api, key_id, data="p"), 409, "key_disabled")
    api.post(f"/v1/keys/{key_id}/enable", json={}).raise_for_status()
    assert signed(api, key_id, data="p")["signature"] == sig


@pytest.mark.parametrize("days", ["6", "31", "abc", "-7"])
def test_pending_days_out_of_range(api: httpx.Client, days: str) -> None:
    key_id = create(api)["key_id"]
    r = api.delete(f"/v1/keys/{key_id}", params={"pending_days": days})
    problem(r, 422, "validation_error")
    assert api.get(f"/v1/keys/{key_id}").json()["state"] == "enabled"


def test_default_pending_days_is_30(api: httpx.Client) -> None:
    key_id = create(api)["key_id"]
    meta = api.delete(f"/v1/keys/{key_id}").json()
    created = meta["created_at"]
    from datetime import datetime

    def parse(s: str) -> datetime:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))

    days = (parse(meta["deletion_date"]) - parse(created)).total_seconds() / 86400
    assert 29.9 < days < 30.1


@pytest.fixture(scope="module")
def short_days_server() -> Iterator[ServerProcess]:
    """A SQLite server where one "day" of pending deletion lasts one second."""
    proc = ServerProcess(env={"SIGIL_DELETION_WINDOW_SECONDS": "1"}).start()
    yield proc
    proc.stop()


def test_destruction_after_window(short_days_server: ServerProcess) -> None:
    srv = short_days_server
    with srv.client(principal_token(srv)) as api, srv.client() as anon:
        keys = {c: create(api, c) for c in CURVES}
        sigs = {c: signed(api, k["key_id"], data="gone")["signature"] for c, k in keys.items()}
        api.post(f"/v1/keys/{keys['P-256']['key_id']}/rotate").raise_for_status()
        keep = create(api)["key_id"]
        for k in keys.values():
            r = api.delete(f"/v1/keys/{k['key_id']}", params={"pending_days": 7})
            assert r.status_code == 200 and r.json()["state"] == "pending_deletion"
        # pending: verify still works
        for c, k in keys.items():
            assert verify(anon, key_id=k["key_id"], data="gone", signature=sigs[c]).json()["valid"] is True
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = {api.get(f"/v1/keys/{k['key_id']}").json()["state"] for k in keys.values()}
            if states == {"destroyed"}:
                break
            time.sleep(0.5)
        for c, k in keys.items():
            key_id = k["key_id"]
            problem(sign(api, key_id, data="gone"), 409, "key_destroyed")
            problem(verify(anon, key_id=key_id, data="gone", signature=sigs[c]), 409, "key_destroyed")
            problem(api.post(f"/v1/keys/{key_id}/cancel-deletion"), 409, "not_pending_deletion")
            problem(api.post(f"/v1/keys/{key_id}/jwt", json={"claims": {}}), 409, "key_destroyed")
            meta = api.get(f"/v1/keys/{key_id}").json()
            assert meta["state"] == "destroyed"
            assert all(v["state"] == "destroyed" and "public_key_pem" not in v for v in meta["versions"])
            public = anon.get(f"/v1/keys/{key_id}/public").json()
            assert public["versions"] == []
            assert anon.get(f"/v1/keys/{key_id}/jwks.json").json()["keys"] == []
        assert signed(api, keep, data="still here")["version"] == 1
    # The sealed private keys are gone from the database itself.
    db = sqlite3.connect(f"file:{srv.data_dir / 'sigil.db'}?mode=ro", uri=True)
    try:
        for k in keys.values():
            rows = db.execute(
                "SELECT version, state, sealed_private FROM key_versions WHERE key_id = ?", (k["key_id"],)
            ).fetchall()
            assert rows, k["key_id"]
            assert all(state == "destroyed" and sealed is None for _v, state, sealed in rows), rows
        (sealed_keep,) = db.execute(
            "SELECT sealed_private FROM key_versions WHERE key_id = ?", (keep,)
        ).fetchone()
        assert sealed_keep  # the control key keeps its sealed scalar
    finally:
        db.close()


# --- JWT and JWKS ---------------------------------------------------------------------------------


def _jwk_by_kid(jwks: dict[str, Any], kid: str) -> dict[str, Any]:
    found = [k for k in jwks["keys"] if k.get("kid") == kid]
    assert len(found) == 1, (kid, jwks)
    return found[0]


@pytest.mark.parametrize("curve", CURVES)
def test_jwt_verifies_from_jwks(api: httpx.Client, anon: httpx.Client, curve: str) -> None:
    key = create(api, curve, jwt=True)
    key_id = key["key_id"]
    api.post(f"/v1/keys/{key_id}/rotate").raise_for_status()
    claims = {"sub": "user-42", "aud": "sigil-tests", "scope": ["a", "b"], "n": 7}
    before = int(time.time())
    r = api.post(f"/v1/keys/{key_id}/jwt", json={"claims": claims, "expires_in": 600})
    assert r.status_code == 200, r.text
    out = r.json()
    alg = JWS_ALG[curve]
    assert out["alg"] == alg and out["kid"] == f"{key_id}:2"
    token = out["token"]
    header = pyjwt.get_unverified_header(token)
    assert header["alg"] == alg and header["kid"] == f"{key_id}:2"

    for where in (f"/v1/keys/{key_id}/jwks.json", "/.well-known/jwks.json"):
        jwks = anon.get(where).json()
        entry = _jwk_by_kid(jwks, out["kid"])
        assert entry["alg"] == alg and entry["use"] == "sig" and entry["crv"] == curve and "d" not in entry
        # PyJWT, with only the JWKS document
        pyjwk = pyjwt.PyJWKSet.from_dict(jwks)[out["kid"]]
        decoded = pyjwt.decode(token, key=pyjwk.key, algorithms=[alg], audience="sigil-tests")
        assert decoded["sub"] == "user-42" and decoded["scope"] == ["a", "b"] and decoded["n"] == 7
        assert before - 5 <= decoded["iat"] <= int(time.time()) + 5
        assert decoded["exp"] == decoded["iat"] + 600
        # joserfc, with only the JWKS document
        keyset = KeySet.import_key_set(jwks)
        jt = jose_jwt.decode(token, keyset, algorithms=[alg])
        assert jt.header["kid"] == out["kid"] and jt.claims["sub"] == "user-42"
        jose_jwt.JWTClaimsRegistry(exp={"essential": True}, aud={"value": "sigil-tests"}).validate(jt.claims)
    # the per-key JWKS lists both live versions; a tampered token fails both libraries
    per_key = anon.get(f"/v1/keys/{key_id}/jwks.json").json()
    assert {k["kid"] for k in per_key["keys"]} == {f"{key_id}:1", f"{key_id}:2"}
    head, _payload, sig = token.split(".")
    forged_payload = base64.urlsafe_b64encode(b'{"sub":"admin"}').rstrip(b"=").decode()
    forged = f"{head}.{forged_payload}.{sig}"
    pyjwk = pyjwt.PyJWKSet.from_dict(per_key)[out["kid"]]
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(forged, key=pyjwk.key, algorithms=[alg])
    with pytest.raises(BadSignatureError):
        jose_jwt.decode(forged, KeySet.import_key_set(per_key), algorithms=[alg])


def test_jwt_without_expiry_and_not_in_well_known(api: httpx.Client, anon: httpx.Client) -> None:
    key = create(api, "P-256")  # jwt: false
    out = api.post(f"/v1/keys/{key['key_id']}/jwt", json={"claims": {"sub": "s"}}).json()
    claims = pyjwt.decode(out["token"], options={"verify_signature": False})
    assert "exp" not in claims and "iat" in claims
    kids = {k.get("kid") for k in anon.get("/.well-known/jwks.json").json()["keys"]}
    assert out["kid"] not in kids
    # it is still in its own JWKS and verifies from it
    per_key = anon.get(f"/v1/keys/{key['key_id']}/jwks.json").json()
    pyjwk = pyjwt.PyJWKSet.from_dict(per_key)[out["kid"]]
    assert pyjwt.decode(out["token"], key=pyjwk.key, algorithms=["ES256"])["sub"] == "s"


def test_expired_jwt_is_rejected_by_pyjwt(api: httpx.Client, anon: httpx.Client) -> None:
    key = create(api, "P-256", jwt=True)
    out = api.post(f"/v1/keys/{key['key_id']}/jwt", json={"claims": {"sub": "s"}, "expires_in": 1}).json()
    claims = pyjwt.decode(out["token"], options={"verify_signature": False})
    assert claims["exp"] == claims["iat"] + 1
    pyjwk = pyjwt.PyJWKSet.from_dict(anon.get("/.well-known/jwks.json").json())[out["kid"]]
    assert pyjwt.decode(out["token"], key=pyjwk.key, algorithms=["ES256"], leeway=30)["sub"] == "s"
    time.sleep(2.1)
    with pytest.raises(pyjwt.ExpiredSignatureError):
        pyjwt.decode(out["token"], key=pyjwk.key, algorithms=["ES256"])


# --- low-S ------------------------------------------------------------------------------------------


def test_low_s_on_request(api: httpx.Client) -> None:
    key = create(api, "P-256")
    n = ORDER["P-256"]
    for i in range(12):
        raw = base64.b64decode(
            signed(api, key["key_id"], data=f"low {i}", encoding="raw", low_s=True)["signature"]
        )
        assert int.from_bytes(raw[32:], "big") <= n // 2
        assert verifies(
            key["public_key_pem"], raw, "raw", "P-256", hashlib.sha256(f"low {i}".encode()).digest()
        )


def test_high_s_rejected_for_rsv_accepted_for_der(api: httpx.Client, anon: httpx.Client) -> None:
    """Contract: secp256k1 DER/raw verification accepts high-S; `rsv` (and `low_s: true`) enforce low-S."""
    key = create(api, "secp256k1")
    n = ORDER["secp256k1"]
    sig = base64.b64decode(signed(api, key["key_id"], data="malleable", encoding="rsv")["signature"])
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    high = r + (n - s).to_bytes(32, "big")
    flipped_v = bytes([55 - v])  # 27 <-> 28: the mirror signature recovers to the same key
    res = verify(
        anon, key_id=key["key_id"], data="malleable", encoding="rsv", signature=base64.b64encode(sig).decode()
    )
    assert res.json()["valid"] is True
    res = verify(
        anon,
        key_id=key["key_id"],
        data="malleable",
        encoding="rsv",
        signature=base64.b64encode(high + flipped_v).decode(),
    )
    assert res.status_code == 200 and res.json()["valid"] is False
    high_b64 = base64.b64encode(high).decode()
    res = verify(anon, key_id=key["key_id"], data="malleable", encoding="raw", signature=high_b64)
    assert res.json()["valid"] is True
    res = verify(anon, key_id=key["key_id"], data="malleable", encoding="raw", low_s=True, signature=high_b64)
    assert res.json()["valid"] is False
    assert verifies(key["public_key_pem"], high, "raw", "secp256k1", hashlib.sha256(b"malleable").digest())
