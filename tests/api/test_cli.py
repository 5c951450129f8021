"""The ``sigil`` CLI end to end, as a subprocess, against a real server (the ``server`` fixture)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest

from sigil.client import ApiError, KeysClient
from support.cli import Run, run_cli


def sigil(
    server: Any, *args: str, token: str | None = None, stdin: bytes | None = None, cwd: Path | None = None
) -> Run:
    """Run the CLI with SIGIL_URL/SIGIL_TOKEN pointing at the test server."""
    return run_cli(list(args), url=server.url, token=token or "", stdin=stdin, cwd=cwd)


@pytest.fixture(scope="module")
def token(server: Any) -> str:
    name = f"cli-{uuid.uuid4().hex[:12]}"
    created = sigil(server, "token", "create", name, "--json", token=server.admin_token).json()
    assert created["name"] == name
    assert created["token"]
    return str(created["token"])


@pytest.fixture(scope="module")
def p256_key(server: Any, token: str) -> str:
    created = sigil(
        server, "keys", "create", "--curve", "P-256", "--label", "cli tests", "--json", token=token
    ).json()
    return str(created["key_id"])


def public_pem(server: Any, key_id: str, tmp_path: Path) -> Path:
    """`sigil keys public KEY > pub.pem` (no token needed)."""
    run = sigil(server, "keys", "public", key_id)
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    pem = tmp_path / f"{key_id}.pem"
    pem.write_text(run.stdout)
    return pem


def openssl_verify(
    digest: str, pem: Path, signature: Path, artifact: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "dgst", f"-{digest}", "-verify", str(pem), "-signature", str(signature), str(artifact)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- tokens -----------------------------------------------------------------------------------------


def test_token_create(server: Any) -> None:
    name = f"cli-scoped-{uuid.uuid4().hex[:8]}"
    created = sigil(
        server, "token", "create", name, "--scope", "keys", "--json", token=server.admin_token
    ).json()
    assert created["name"] == name
    assert created["token"].startswith("sgl_")
    assert created["scopes"] == ["keys"]

    human = sigil(server, "token", "create", f"{name}-2", token=server.admin_token)
    assert human.code == 0
    assert "sgl_" in human.stdout


def test_token_create_needs_admin(server: Any, token: str) -> None:
    run = sigil(server, "token", "create", f"nope-{uuid.uuid4().hex[:8]}", "--json", token=token)
    assert run.code == 1
    assert run.stdout == ""
    assert "forbidden" in run.stderr


def test_bad_token_is_explained(server: Any) -> None:
    run = sigil(server, "keys", "list", token="sgl_not_a_real_token")
    assert run.code == 1
    assert "token missing or invalid (set SIGIL_TOKEN)" in run.stderr
    assert "sgl_not_a_real_token" not in run.stderr


# --- keys ---------------------------------------------------------------------------------------------


def test_keys_create_list_show(server: Any, token: str) -> None:
    created = sigil(
        server, "keys", "create", "--curve", "secp256k1", "--label", "eth", "--json", token=token
    ).json()
    assert created["curve"] == "secp256k1"
    assert created["version"] == 1
    assert created["address"].startswith("0x")
    assert created["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    key_id = created["key_id"]

    listed = sigil(server, "keys", "list", "--json", token=token).json()
    assert key_id in {key["key_id"] for key in listed["keys"]}

    shown = sigil(server, "keys", "show", key_id, "--json", token=token).json()
    assert shown["key_id"] == key_id
    assert shown["label"] == "eth"
    assert [v["version"] for v in shown["versions"]] == [1]

    human = sigil(server, "keys", "show", key_id, token=token)
    assert human.code == 0
    assert key_id in human.stdout
    assert sigil(server, "keys", "list", token=token).code == 0
    assert "BEGIN PUBLIC KEY" in sigil(server, "keys", "create", "--curve", "P-384", token=token).stdout


def test_keys_public_formats(server: Any, p256_key: str) -> None:
    jwk = json.loads(sigil(server, "keys", "public", p256_key, "--format", "jwk").stdout)
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256"
    hex_key = sigil(server, "keys", "public", p256_key, "--format", "hex").stdout.strip()
    assert hex_key.startswith("04") and len(hex_key) == 130
    info = sigil(server, "keys", "public", p256_key, "--json").json()
    assert info["key_id"] == p256_key and info["versions"]


def test_keys_lifecycle(server: Any, token: str) -> None:
    key_id = sigil(server, "keys", "create", "--json", token=token).json()["key_id"]

    rotated = sigil(server, "keys", "rotate", key_id, "--json", token=token).json()
    assert rotated["latest_version"] == 2
    assert len(rotated["versions"]) == 2

    disabled = sigil(server, "keys", "disable", key_id, "--json", token=token).json()
    assert disabled["state"] == "disabled"
    refused = sigil(server, "sign", key_id, "hello", token=token)
    assert refused.code == 1
    assert "key_disabled" in refused.stderr

    assert sigil(server, "keys", "enable", key_id, "--json", token=token).json()["state"] == "enabled"

    one = sigil(server, "keys", "disable", key_id, "--version", "1", "--json", token=token).json()
    assert {v["version"]: v["state"] for v in one["versions"]}[1] == "disabled"
    assert sigil(server, "sign", key_id, "hello", "--version", "1", token=token).code == 1
    assert sigil(server, "sign", key_id, "hello", "--json", token=token).json()["version"] == 2
    assert sigil(server, "keys", "enable", key_id, "--version", "1", "--json", token=token).code == 0

    pending = sigil(server, "keys", "delete", key_id, "--pending-days", "7", "--json", token=token).json()
    assert pending["state"] == "pending_deletion"
    assert pending["deletion_date"]
    assert sigil(server, "sign", key_id, "hello", token=token).code == 1

    back = sigil(server, "keys", "cancel-deletion", key_id, "--json", token=token).json()
    assert back["state"] == "disabled"
    assert sigil(server, "keys", "enable", key_id, "--json", token=token).json()["state"] == "enabled"


def test_unknown_key_is_a_clear_404(server: Any, token: str) -> None:
    run = sigil(server, "keys", "show", "key_doesnotexist", "--json", token=token)
    assert run.code == 1
    assert run.stdout == ""
    assert "not_found" in run.stderr


# --- sign and verify ------------------------------------------------------------------------------------


def test_sign_text_verify_online_and_offline(server: Any, token: str, p256_key: str, tmp_path: Path) -> None:
    signed = sigil(server, "sign", p256_key, "hello sigil", "--json", token=token).json()
    assert signed["key_id"] == p256_key
    assert signed["encoding"] == "der"
    signature = signed["signature"]

    plain = sigil(server, "sign", p256_key, "hello sigil", token=token)
    assert plain.stdout.strip() == signature  # RFC 6979: deterministic

    ok = sigil(server, "verify", "--key", p256_key, "hello sigil", "--signature", signature, "--json")
    assert ok.json() == {"valid": True} or ok.json()["valid"] is True
    bad = sigil(server, "verify", "--key", p256_key, "hello sigil?", "--signature", signature)
    assert bad.code == 1 and bad.stdout.strip() == "invalid"

    pem = public_pem(server, p256_key, tmp_path)
    offline = sigil(server, "verify", "--public-key", str(pem), "hello sigil", "--signature", signature)
    assert offline.code == 0 and offline.stdout.strip() == "valid"
    assert sigil(server, "verify", "--public-key", str(pem), "hello", "--signature", signature).code == 1


def test_sign_stdin(server: Any, token: str, p256_key: str, tmp_path: Path) -> None:
    payload = os.urandom(4096)
    signed = sigil(server, "sign", p256_key, "--stdin", "--json", token=token, stdin=payload).json()
    sig_file = tmp_path / "stdin.sig.b64"
    sig_file.write_text(signed["signature"])
    online = sigil(
        server, "verify", "-k", p256_key, "--stdin", "--signature-file", str(sig_file), stdin=payload
    )
    assert online.code == 0, online.stderr
    pem = public_pem(server, p256_key, tmp_path)
    offline = sigil(
        server, "verify", "-p", str(pem), "--stdin", "--signature-file", str(sig_file), stdin=payload
    )
    assert offline.code == 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
@pytest.mark.parametrize(("curve", "digest"), [("P-256", "sha256"), ("P-384", "sha384")])
def test_sign_file_detached_signature_openssl(
    server: Any, token: str, tmp_path: Path, curve: str, digest: str
) -> None:
    key_id = sigil(server, "keys", "create", "--curve", curve, "--json", token=token).json()["key_id"]
    artifact = tmp_path / "release-1.0.tar.gz"
    with artifact.open("wb") as fh:
        for _ in range(12):
            fh.write(os.urandom(1 << 20))
    sig_path = tmp_path / "release-1.0.tar.gz.sig"

    signed = sigil(
        server, "sign", key_id, "--file", str(artifact), "--out", str(sig_path), "--json", token=token
    )
    result = signed.json()
    assert result["hash"] == digest.upper().replace("SHA", "SHA-")
    assert result["out"] == str(sig_path)
    assert sig_path.read_bytes()[0] == 0x30  # DER SEQUENCE, not base64 text
    assert base64.b64decode(result["signature"]) == sig_path.read_bytes()

    pem = public_pem(server, key_id, tmp_path)
    checked = openssl_verify(digest, pem, sig_path, artifact)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Verified OK" in checked.stdout

    offline = sigil(
        server, "verify", "-p", str(pem), "--file", str(artifact), "--signature-file", str(sig_path)
    )
    assert offline.code == 0 and offline.stdout.strip() == "valid"
    online = sigil(server, "verify", "-k", key_id, "--file", str(artifact), "--signature-file", str(sig_path))
    assert online.code == 0 and online.stdout.strip() == "valid"

    with artifact.open("ab") as fh:
        fh.write(b"tampered")
    assert openssl_verify(digest, pem, sig_path, artifact).returncode != 0
    assert (
        sigil(
            server, "verify", "-p", str(pem), "--file", str(artifact), "--signature-file", str(sig_path)
        ).code
        == 1
    )
    assert (
        sigil(server, "verify", "-k", key_id, "--file", str(artifact), "--signature-file", str(sig_path)).code
        == 1
    )


def test_sign_rsv_secp256k1(server: Any, token: str) -> None:
    key_id = sigil(server, "keys", "create", "--curve", "secp256k1", "--json", token=token).json()["key_id"]
    signed = sigil(
        server, "sign", key_id, "gm", "--encoding", "rsv", "--hash", "keccak-256", "--json", token=token
    )
    result = signed.json()
    assert result["encoding"] == "rsv"
    assert len(base64.b64decode(result["signature"])) == 65
    verified = sigil(
        server,
        "verify",
        "-k",
        key_id,
        "gm",
        "-s",
        result["signature"],
        "-e",
        "rsv",
        "--hash",
        "KECCAK-256",
        "--json",
    )
    assert verified.json()["valid"] is True


def test_sign_raw_encoding_offline(server: Any, token: str, p256_key: str, tmp_path: Path) -> None:
    signed = sigil(server, "sign", p256_key, "raw please", "-e", "raw", "--json", token=token).json()
    assert len(base64.b64decode(signed["signature"])) == 64
    pem = public_pem(server, p256_key, tmp_path)
    run = sigil(server, "verify", "-p", str(pem), "raw please", "-s", signed["signature"], "-e", "raw")
    assert run.code == 0


# --- JWT ---------------------------------------------------------------------------------------------------


def test_jwt(server: Any, token: str) -> None:
    key_id = sigil(server, "keys", "create", "--jwt", "--json", token=token).json()["key_id"]
    issued = sigil(
        server, "jwt", key_id, "--claims", '{"sub": "alice"}', "--expires-in", "600", "--json", token=token
    )
    result = issued.json()
    assert result["alg"] == "ES256"
    assert result["kid"] == f"{key_id}:1"

    plain = sigil(server, "jwt", key_id, "--claims", '{"sub": "bob"}', token=token).stdout.strip()
    jwk = json.loads(sigil(server, "keys", "public", key_id, "--format", "jwk").stdout)
    public_key = pyjwt.PyJWK(jwk, algorithm="ES256").key
    claims = pyjwt.decode(plain, public_key, algorithms=["ES256"])
    assert claims["sub"] == "bob"
    claims = pyjwt.decode(result["token"], public_key, algorithms=["ES256"])
    assert claims["sub"] == "alice" and claims["exp"] > claims["iat"]


# --- audit -------------------------------------------------------------------------------------------------


def test_audit_show_and_verify_over_api(server: Any, token: str, p256_key: str) -> None:
    sigil(server, "sign", p256_key, "audited", token=token)
    entries = sigil(server, "audit", "show", "--limit", "1000", "--json", token=server.admin_token).json()[
        "entries"
    ]
    assert entries
    assert {"seq", "action", "hash", "prev_hash"} <= set(entries[0])
    seqs = [entry["seq"] for entry in entries]
    assert seqs == sorted(seqs)
    later = sigil(server, "audit", "show", "--after", str(seqs[0]), "--json", token=server.admin_token).json()
    assert all(entry["seq"] > seqs[0] for entry in later["entries"])

    report = sigil(server, "audit", "verify", "--json", token=server.admin_token).json()
    assert report["ok"] is True
    assert report["entries"] >= len(entries)
    human = sigil(server, "audit", "verify", token=server.admin_token)
    assert human.code == 0 and "ok" in human.stdout
    assert sigil(server, "audit", "show", token=server.admin_token).code == 0

    forbidden = sigil(server, "audit", "show", token=token)
    assert forbidden.code == 1


def test_audit_direct_from_data_dir(server: Any, token: str, p256_key: str) -> None:
    data_dir = getattr(server, "data_dir", None)
    if data_dir is None or not (Path(data_dir) / "sigil.db").exists():
        pytest.skip("the server fixture does not expose a SQLite data dir")
    sigil(server, "sign", p256_key, "audited directly", token=token)
    entries = sigil(server, "audit", "show", "--data-dir", str(data_dir), "--limit", "1000", "--json").json()
    assert entries["entries"]
    report = sigil(server, "audit", "verify", "--data-dir", str(data_dir), "--json")
    assert report.code == 0, report.stderr
    assert report.json()["ok"] is True


def test_audit_verify_detects_an_edited_entry(server: Any, token: str, p256_key: str, tmp_path: Path) -> None:
    data_dir = getattr(server, "data_dir", None)
    if data_dir is None or not (Path(data_dir) / "sigil.db").exists():
        pytest.skip("the server fixture does not expose a SQLite data dir")
    sigil(server, "sign", p256_key, "to be tampered with", token=token)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy2(Path(data_dir) / "master.key", copy / "master.key")
    with sqlite3.connect(Path(data_dir) / "sigil.db") as live, sqlite3.connect(copy / "sigil.db") as snapshot:
        live.backup(snapshot)
    db_url = f"sqlite:///{copy / 'sigil.db'}"
    assert sigil(server, "audit", "verify", "--db", db_url, "--json").json()["ok"] is True

    with sqlite3.connect(copy / "sigil.db") as db:
        db.execute("UPDATE audit_log SET outcome = 'edited' WHERE seq = (SELECT MIN(seq) + 1 FROM audit_log)")
    broken = sigil(server, "audit", "verify", "--data-dir", str(copy), "--json")
    assert broken.code == 1
    report = json.loads(broken.stdout)
    assert report["ok"] is False
    assert report["first_bad_seq"] is not None
    human = sigil(server, "audit", "verify", "--data-dir", str(copy))
    assert human.code == 1 and "BROKEN" in human.stdout


# --- the SDK the CLI is built on ----------------------------------------------------------------------------


def test_sdk_roundtrip(server: Any, token: str) -> None:
    with KeysClient(url=server.url, token=token) as client:
        key = client.create_key("P-256", label="sdk", jwt=True)
        key_id = key["key_id"]
        single = client.sign(key_id, data_bytes=b"\x00\x01")
        assert client.verify(single.signature_bytes, key_id=key_id, data_bytes=b"\x00\x01")
        assert client.verify(single.signature, public_key=key["public_key_pem"], data_bytes=b"\x00\x01")
        assert not client.verify(single.signature, key_id=key_id, data="other")

        batch = client.sign_batch(key_id, ["a", b"b", "c"])
        assert len(batch.signatures) == 3
        assert client.verify(batch.signatures[1], public_key=key["public_key_jwk"], data_bytes=b"b")
        digests = [hashlib.sha256(m).digest() for m in (b"x", b"y")]
        prehashed = client.sign_batch(key_id, digests, prehashed=True)
        assert client.verify(prehashed.signatures[0], key_id=key_id, data="x")

        assert client.public_key(key_id)["versions"][0]["public_key_pem"] == key["public_key_pem"]
        assert any(jwk["kid"] == f"{key_id}:1" for jwk in client.jwks(key_id)["keys"])
        assert any(jwk["kid"] == f"{key_id}:1" for jwk in client.jwks()["keys"])
        assert client.issue_jwt(key_id, {"sub": "sdk"}).alg == "ES256"
        with pytest.raises(ApiError) as info:
            client.get_key("key_missing")
        assert (info.value.status, info.value.code) == (404, "not_found")
        with pytest.raises(ApiError) as info:
            client.audit()
        assert info.value.status == 403
    with KeysClient(url=server.url, token=server.admin_token) as admin:
        assert admin.audit(limit=5)
        assert admin.audit_verify()["ok"] is True
