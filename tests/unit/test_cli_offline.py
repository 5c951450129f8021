"""CLI and SDK paths that need no Sigil server: offline verify, help, and clear errors."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from typer.testing import CliRunner

from sigil.cli.main import app
from sigil.client import ApiError, KeysClient, ServerUnreachable

runner = CliRunner()
SECRET_TOKEN = "sgl_do_not_leak_me_0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def p256(tmp_path: Path) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "pub.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, pem


def invoke(*args: str, input: bytes | None = None, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), input=input, env=env)


# --- help -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [[], ["keys"], ["token"], ["audit"], ["sign"], ["verify"], ["jwt"], ["serve"], ["keys", "create"]],
)
def test_help(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sigil.cli.main", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    for name in ("serve", "keys", "sign", "verify", "jwt", "token", "audit"):
        assert name in proc.stdout


# --- offline verify -------------------------------------------------------------------------------


def test_verify_offline_text_base64(p256: tuple[ec.EllipticCurvePrivateKey, Path]) -> None:
    key, pem = p256
    sig = key.sign(b"hello world", ec.ECDSA(hashes.SHA256()))
    result = invoke(
        "verify", "--public-key", str(pem), "hello world", "--signature", base64.b64encode(sig).decode()
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "valid"

    bad = invoke(
        "verify", "--public-key", str(pem), "hello world!", "--signature", base64.b64encode(sig).decode()
    )
    assert bad.exit_code == 1
    assert bad.stdout.strip() == "invalid"


def test_verify_offline_json(p256: tuple[ec.EllipticCurvePrivateKey, Path]) -> None:
    key, pem = p256
    sig = base64.urlsafe_b64encode(key.sign(b"x", ec.ECDSA(hashes.SHA256()))).decode().rstrip("=")
    result = invoke("verify", "-p", str(pem), "x", "-s", sig, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"valid": True}
    result = invoke("verify", "-p", str(pem), "y", "-s", sig, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"valid": False}


def test_verify_offline_file_with_raw_der_signature_file(
    tmp_path: Path, p256: tuple[ec.EllipticCurvePrivateKey, Path]
) -> None:
    key, pem = p256
    artifact = tmp_path / "release.tar"
    artifact.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    sig_file = tmp_path / "release.sig"
    sig_file.write_bytes(key.sign(artifact.read_bytes(), ec.ECDSA(hashes.SHA256())))
    result = invoke("verify", "-p", str(pem), "--file", str(artifact), "--signature-file", str(sig_file))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "valid"

    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    result = invoke("verify", "-p", str(pem), "--file", str(artifact), "--signature-file", str(sig_file))
    assert result.exit_code == 1
    assert result.stdout.strip() == "invalid"


def test_verify_offline_base64_signature_file_and_stdin(
    tmp_path: Path, p256: tuple[ec.EllipticCurvePrivateKey, Path]
) -> None:
    key, pem = p256
    payload = bytes(range(256)) * 10
    sig_file = tmp_path / "sig.b64"
    sig_file.write_text(base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode() + "\n")
    result = invoke("verify", "-p", str(pem), "--stdin", "--signature-file", str(sig_file), input=payload)
    assert result.exit_code == 0, result.output


def test_verify_offline_raw_encoding_p384_default_hash(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    pem = tmp_path / "p384.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    digest = hashlib.sha384(b"msg").digest()
    r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA384()))))
    raw = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    result = invoke(
        "verify", "-p", str(pem), "msg", "-s", base64.b64encode(raw).decode(), "--encoding", "raw"
    )
    assert result.exit_code == 0, result.output
    wrong_hash = invoke(
        "verify", "-p", str(pem), "msg", "-s", base64.b64encode(raw).decode(), "-e", "raw", "--hash", "sha256"
    )
    assert wrong_hash.exit_code == 1


def test_verify_offline_jwk_file(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()

    def b64u(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).decode().rstrip("=")

    jwk = tmp_path / "pub.jwk"
    jwk.write_text(json.dumps({"kty": "EC", "crv": "P-256", "x": b64u(numbers.x), "y": b64u(numbers.y)}))
    sig = base64.b64encode(key.sign(b"jwk", ec.ECDSA(hashes.SHA256()))).decode()
    assert invoke("verify", "-p", str(jwk), "jwk", "-s", sig).exit_code == 0


# --- clear errors, never a traceback ----------------------------------------------------------------


def assert_clean_failure(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_verify_usage_errors(tmp_path: Path, p256: tuple[ec.EllipticCurvePrivateKey, Path]) -> None:
    _, pem = p256
    assert_clean_failure(invoke("verify", "hello", "-s", "AAAA"), "--key KEY_ID or --public-key")
    assert_clean_failure(
        invoke("verify", "-k", "key_x", "-p", str(pem), "hello", "-s", "AAAA"), "exactly one"
    )
    assert_clean_failure(invoke("verify", "-p", str(pem), "-s", "AAAA"), "TEXT, --file PATH or --stdin")
    assert_clean_failure(invoke("verify", "-p", str(pem), "hi", "-s", "***"), "not valid base64")
    assert_clean_failure(invoke("verify", "-p", str(pem), "hi"), "--signature")
    assert_clean_failure(
        invoke("verify", "-p", str(tmp_path / "nope.pem"), "hi", "-s", "AAAA"), "cannot read"
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert_clean_failure(invoke("verify", "-p", str(garbage), "hi", "-s", "AAAA"), "not a usable public key")
    assert_clean_failure(
        invoke("verify", "-p", str(pem), "hi", "-s", "AAAA", "--hash", "md5"), "unknown hash"
    )


def test_sign_and_jwt_usage_errors() -> None:
    assert_clean_failure(invoke("sign", "key_x"), "TEXT, --file PATH or --stdin")
    assert_clean_failure(invoke("sign", "key_x", "text", "--stdin"), "exactly one")
    assert_clean_failure(invoke("jwt", "key_x", "--claims", "{not json"), "not valid JSON")
    assert_clean_failure(invoke("jwt", "key_x", "--claims", "[1, 2]"), "JSON object")


def test_audit_missing_data_dir(tmp_path: Path) -> None:
    assert_clean_failure(invoke("audit", "verify", "--data-dir", str(tmp_path)), "no Sigil database")


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "list"],
        ["keys", "create", "--curve", "P-256"],
        ["token", "create", "ci"],
        ["sign", "key_x", "hello"],
        ["verify", "--key", "key_x", "hello", "-s", "AAAA"],
        ["jwt", "key_x", "--claims", "{}"],
        ["audit", "show"],
    ],
)
def test_unreachable_server_is_a_clear_error(command: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = invoke(*command, env={"SIGIL_URL": url, "SIGIL_TOKEN": SECRET_TOKEN})
    assert_clean_failure(result, f"cannot reach Sigil at {url}", "sigil serve")
    assert SECRET_TOKEN not in result.output


def test_unreachable_server_subprocess_has_no_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "SIGIL_URL": url, "SIGIL_TOKEN": SECRET_TOKEN}
    proc = subprocess.run(
        [sys.executable, "-m", "sigil.cli.main", "keys", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert f"cannot reach Sigil at {url}" in proc.stderr
    assert SECRET_TOKEN not in proc.stderr


# --- a fake server for HTTP error mapping ------------------------------------------------------------


class ProblemHandler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {SECRET_TOKEN}":
            status, body = (
                401,
                {"title": "Missing or invalid credentials", "status": 401, "code": "unauthorized"},
            )
        else:
            status, body = (
                422,
                {
                    "title": "Unknown curve",
                    "status": 422,
                    "code": "unknown_curve",
                    "detail": "curve must be one of P-256, P-384, secp256k1",
                },
            )
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def problem_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), ProblemHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_401_is_explained(problem_server: str) -> None:
    result = invoke("keys", "list", env={"SIGIL_URL": problem_server, "SIGIL_TOKEN": "wrong"})
    assert_clean_failure(result, "token missing or invalid (set SIGIL_TOKEN)")


def test_problem_title_and_detail_shown(problem_server: str) -> None:
    result = invoke("keys", "list", "--json", env={"SIGIL_URL": problem_server, "SIGIL_TOKEN": SECRET_TOKEN})
    assert_clean_failure(result, "Unknown curve", "curve must be one of", "unknown_curve")
    assert result.stdout == ""
    assert SECRET_TOKEN not in result.output


# --- SDK: configuration, errors, the token never leaks ------------------------------------------------


def test_client_config_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGIL_URL", "http://sigil.example:9000/")
    monkeypatch.setenv("SIGIL_TOKEN", SECRET_TOKEN)
    seen: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"] = str(request.url)
        seen["auth"] = request.headers.get("authorization", "")
        return httpx.Response(200, json={"keys": []})

    with KeysClient(transport=httpx.MockTransport(handler)) as client:
        assert client.url == "http://sigil.example:9000"
        assert client.list_keys() == []
        assert SECRET_TOKEN not in repr(client)
    assert seen == {"url": "http://sigil.example:9000/v1/keys", "auth": f"Bearer {SECRET_TOKEN}"}


def test_client_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGIL_URL", raising=False)
    monkeypatch.delenv("SIGIL_TOKEN", raising=False)
    with KeysClient() as client:
        assert client.url == "http://127.0.0.1:8700"
        assert not client.has_token


def test_client_problem_json_and_no_token_in_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            409,
            json={
                "title": "Key disabled",
                "status": 409,
                "code": "key_disabled",
                "detail": "key_1 is disabled",
            },
            headers={"content-type": "application/problem+json"},
        )

    client = KeysClient(token=SECRET_TOKEN, transport=httpx.MockTransport(handler))
    with client, pytest.raises(ApiError) as info:
        client.sign("key_1", data="x")
    err = info.value
    assert (err.status, err.code, err.title, err.detail) == (
        409,
        "key_disabled",
        "Key disabled",
        "key_1 is disabled",
    )
    assert SECRET_TOKEN not in str(err) and SECRET_TOKEN not in repr(err)


def test_client_non_json_error_body() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="<html>bad gateway</html>"))
    with KeysClient(token=SECRET_TOKEN, transport=transport) as client, pytest.raises(ApiError) as info:
        client.get_key("key_1")
    assert info.value.status == 502
    assert info.value.code == "http_error"


def test_client_unreachable() -> None:
    client = KeysClient(url=f"http://127.0.0.1:{free_port()}", token=SECRET_TOKEN)
    with client, pytest.raises(ServerUnreachable) as info:
        client.list_keys()
    assert SECRET_TOKEN not in str(info.value)


def test_client_sign_and_verify_bodies() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if request.url.path == "/v1/verify":
            return httpx.Response(200, json={"valid": True})
        sig = {"signatures": ["AA==", "AQ=="]} if "items" in body else {"signature": "AA=="}
        return httpx.Response(
            200, json={"key_id": "key_1", "version": 2, "encoding": "der", "hash": "SHA-256", **sig}
        )

    with KeysClient(token="t", transport=httpx.MockTransport(handler)) as client:
        result = client.sign("key_1", digest=b"\x01" * 32, hash="SHA-256", low_s=True, version=2)
        assert result.signature_bytes == b"\x00"
        batch = client.sign_batch("key_1", ["text", b"\xff"])
        assert batch.signatures == ("AA==", "AQ==")
        assert client.verify(b"\x30\x00", key_id="key_1", data_bytes=b"\x00")
        with pytest.raises(ValueError):
            client.sign("key_1", data="a", digest=b"b")
    assert bodies[0] == {
        "digest": "01" * 32,
        "hash": "SHA-256",
        "encoding": "der",
        "low_s": True,
        "version": 2,
    }
    assert bodies[1]["items"] == [{"data": "text"}, {"data_b64": "/w=="}]
    assert bodies[2] == {"data_b64": "AA==", "key_id": "key_1", "signature": "MAA=", "encoding": "der"}
