"""``sigil objects sign|verify`` as a subprocess: against a real server, and offline on the PAF vectors."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from support.cli import Run, run_cli
from support.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]
VECTORS = Path(os.environ.get("SIGIL_VECTORS_DIR", REPO.parent / "shared" / "vectors")) / "paf"
PARTIALS = VECTORS / "spec-partials"
OPERATOR_PEM = VECTORS / "keys" / "crto-poc-1-operator-public-key.pem"
CMP_PEM = VECTORS / "keys" / "pafpublisher-client-public-key.pem"
SEP = "\u2063"

vectors_present = pytest.mark.skipif(not PARTIALS.is_dir(), reason=f"PAF vectors not found at {VECTORS}")


def sigil(
    *args: str | Path, server: ServerProcess | None = None, token: str = "", stdin: str | None = None
) -> Run:
    """Run the CLI; without ``server`` SIGIL_URL points at a closed port (offline must not need it)."""
    url = server.url if server else "http://127.0.0.1:9"
    return run_cli(
        [str(a) for a in args], url=url, token=token, stdin=stdin.encode() if stdin is not None else None
    )


def write(tmp_path: Path, name: str, value: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(value))
    return path


@pytest.fixture(scope="module")
def token(server: ServerProcess) -> str:
    name = f"objects-cli-{uuid.uuid4().hex[:12]}"
    return str(
        sigil("token", "create", name, "--json", server=server, token=server.admin_token).json()["token"]
    )


@pytest.fixture(scope="module")
def key(server: ServerProcess, token: str) -> dict[str, Any]:
    return dict(sigil("keys", "create", "--curve", "P-256", "--json", server=server, token=token).json())


IDENTIFIER = {"version": "0.1", "type": "paf_browser_id", "value": "5d8e4b7a-1111-4c2d-9e3f-123456789abc"}


# --- against the server -------------------------------------------------------------------------


def test_sign_prints_the_signed_object_and_verify_accepts_it(
    server: ServerProcess, token: str, key: dict[str, Any], tmp_path: Path
) -> None:
    unsigned = write(tmp_path, "id.json", IDENTIFIER)
    out = sigil(
        "objects",
        "sign",
        unsigned,
        "--type",
        "identifier",
        "--key",
        key["key_id"],
        "--domain",
        "op.example",
        server=server,
        token=token,
    )
    signed = out.json()  # without --json: the signed object itself
    assert signed["source"]["domain"] == "op.example"
    assert len(base64.b64decode(signed["source"]["signature"])) == 64
    signed_file = write(tmp_path, "signed.json", signed)

    remote = sigil(
        "objects", "verify", signed_file, "-t", "identifier", "--key", key["key_id"], server=server
    )
    assert (remote.code, remote.stdout.strip()) == (0, "valid")
    pem = tmp_path / "pub.pem"
    pem.write_text(key["public_key_pem"])
    offline = sigil("objects", "verify", signed_file, "-t", "identifier", "--public-key", pem, "--json")
    assert offline.json()["valid"] is True

    tampered = write(tmp_path, "tampered.json", {**signed, "value": "someone-else"})
    bad = sigil("objects", "verify", tampered, "-t", "identifier", "--key", key["key_id"], server=server)
    assert (bad.code, bad.stdout.strip()) == (1, "invalid")
    assert sigil("objects", "verify", tampered, "-t", "identifier", "--public-key", pem).code == 1


def test_sign_json_with_context_and_profile(
    server: ServerProcess, token: str, key: dict[str, Any], tmp_path: Path
) -> None:
    request = write(tmp_path, "req.json", {"sender": "cmp.example", "receiver": "op.example"})
    context = write(tmp_path, "ctx.json", {"origin": "https://cmp.example"})
    out = sigil(
        "objects",
        "sign",
        request,
        "-t",
        "get_new_id_request",
        "-k",
        key["key_id"],
        "--context",
        context,
        "--json",
        server=server,
        token=token,
    ).json()
    assert out["key_id"] == key["key_id"] and out["version"] == 1
    assert out["signature_input"].split(SEP)[-1] == "https://cmp.example"
    signed = write(tmp_path, "signed.json", out["object"])
    ok = sigil(
        "objects",
        "verify",
        signed,
        "-t",
        "get_new_id_request",
        "-k",
        key["key_id"],
        "-c",
        context,
        "--json",
        server=server,
    ).json()
    assert ok["valid"] is True and ok["signature_input"] == out["signature_input"]
    # the legacy rule does not cover the origin: same object, different input, invalid
    legacy = sigil(
        "objects",
        "verify",
        signed,
        "-t",
        "get_new_id_request",
        "-k",
        key["key_id"],
        "--profile",
        "legacy",
        server=server,
    )
    assert legacy.code == 1


def test_sign_reads_stdin(server: ServerProcess, token: str, key: dict[str, Any]) -> None:
    out = sigil(
        "objects",
        "sign",
        "-",
        "-t",
        "identifier",
        "-k",
        key["key_id"],
        "--json",
        server=server,
        token=token,
        stdin=json.dumps({**IDENTIFIER, "source": {"domain": "op.example"}}),
    ).json()
    assert out["object"]["source"]["signature"] == out["signature"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-t", "nope"], "unknown_object_type"),
        (["-t", "identifier", "--profile", "nope"], "unknown_profile"),
        (["-t", "preferences"], "missing_field"),
    ],
)
def test_sign_errors_are_one_clear_line(
    server: ServerProcess, token: str, key: dict[str, Any], tmp_path: Path, args: list[str], needle: str
) -> None:
    obj = write(tmp_path, "o.json", {**IDENTIFIER, "source": {"domain": "op.example"}})
    out = sigil("objects", "sign", obj, *args, "-k", key["key_id"], server=server, token=token)
    assert out.code == 1 and out.stdout == ""
    assert needle in out.stderr and "HTTP 422" in out.stderr


def test_sign_without_token_or_with_unknown_key(server: ServerProcess, token: str, tmp_path: Path) -> None:
    obj = write(tmp_path, "o.json", IDENTIFIER)
    no_token = sigil("objects", "sign", obj, "-t", "identifier", "-k", "key_abc", server=server)
    assert no_token.code == 1 and "SIGIL_TOKEN" in no_token.stderr
    unknown = sigil("objects", "sign", obj, "-t", "identifier", "-k", "key_abc", server=server, token=token)
    assert unknown.code == 1 and "not_found" in unknown.stderr


def test_usage_errors(tmp_path: Path) -> None:
    obj = write(tmp_path, "o.json", IDENTIFIER)
    neither = sigil("objects", "verify", obj, "-t", "identifier")
    assert neither.code == 1 and "exactly one of --key" in neither.stderr
    not_json = tmp_path / "bad.json"
    not_json.write_text("{nope")
    bad = sigil("objects", "verify", not_json, "-t", "identifier", "--public-key", OPERATOR_PEM)
    assert bad.code == 1 and "not valid JSON" in bad.stderr
    missing = sigil("objects", "verify", tmp_path / "absent.json", "-t", "identifier", "-p", OPERATOR_PEM)
    assert missing.code == 1 and "cannot read" in missing.stderr
    unreachable = sigil("objects", "verify", obj, "-t", "identifier", "--key", "key_abc")
    assert unreachable.code == 1 and "cannot reach Sigil" in unreachable.stderr


# --- offline, on the published vectors ------------------------------------------------------------

REST = {"origin": "https://cmp.com"}
# (file, type, profile, key pem, context, expected valid) — the outcomes vectors/paf/README.md states
OFFLINE = [
    ("id.json", "identifier", None, OPERATOR_PEM, None, True),
    ("id.json", "identifier", None, CMP_PEM, None, False),
    ("ids_cookie.txt", "identifier", "spec", OPERATOR_PEM, None, True),
    ("ids_cookie-pretty.json", "identifier", "legacy", OPERATOR_PEM, None, True),
    ("unpersistedId.json", "identifier", None, OPERATOR_PEM, None, True),
    ("preferences.json", "preferences", "prebinding", CMP_PEM, None, True),
    ("preferences_cookie.txt", "preferences", "prebinding", CMP_PEM, None, True),
    ("preferences.json", "preferences", None, CMP_PEM, "ids", False),
    ("getNewIdResponse.json", "get_new_id_response", None, OPERATOR_PEM, None, True),
    ("getNewIdResponse.json", "get_new_id_response", "spec", OPERATOR_PEM, None, False),
    ("getIdsPrefsResponse_known.json", "get_ids_prefs_response", None, CMP_PEM, None, True),
    ("getIdsPrefsResponse_known.json", "get_ids_prefs_response", None, OPERATOR_PEM, None, False),
    ("getIdsPrefsResponse_unknown.json", "get_ids_prefs_response", None, CMP_PEM, None, True),
    ("postIdsPrefsResponse.json", "post_ids_prefs_response", "legacy", CMP_PEM, None, True),
    ("deleteIdsPrefsResponse.json", "delete_ids_prefs_response", None, CMP_PEM, None, True),
    ("deleteIdsPrefsResponse.json", "delete_ids_prefs_response", None, OPERATOR_PEM, None, False),
    ("getIdsPrefsRequest.json", "get_ids_prefs_request", "legacy", CMP_PEM, None, True),
    ("getIdsPrefsRequest.json", "get_ids_prefs_request", None, CMP_PEM, "rest", False),
    ("getNewIdRequest.json", "get_new_id_request", "legacy", CMP_PEM, None, True),
    ("redirectGetIdsPrefsRequest.json", "get_ids_prefs_request", "legacy", CMP_PEM, None, True),
    ("postIdsPrefsRequest.json", "post_ids_prefs_request", "legacy", CMP_PEM, None, True),
    ("redirectPostIdsPrefsRequest.json", "post_ids_prefs_request", "legacy", CMP_PEM, None, True),
    ("redirectPostIdsPrefsRequest.json", "post_ids_prefs_request", "legacy", OPERATOR_PEM, None, False),
    ("deleteIdsPrefsRequest.json", "delete_ids_prefs_request", "legacy", CMP_PEM, None, False),
    ("deleteIdsPrefsRequest.json", "delete_ids_prefs_request", None, CMP_PEM, "delete", True),
]


def delete_request_origin() -> str:
    """The origin deleteIdsPrefsRequest.json was signed with (see tests/unit/test_paf_vectors.py)."""
    response = json.loads((PARTIALS / "postIdsPrefsResponse.json").read_text())
    paf = base64.b64encode(
        json.dumps({"code": 200, "response": response}, separators=(",", ":")).encode()
    ).decode()
    base = "https://advertiser.com/news/2022/02/07/something-crazy-happened"
    return f"{base}?{urlencode({'utm_content': 'campaign content', 'paf': paf})}"


@vectors_present
@pytest.mark.parametrize(
    ("file", "type_name", "profile", "pem", "context", "valid"),
    OFFLINE,
    ids=[f"{f}-{t}-{p or 'default'}-{k.stem[:8]}" for f, t, p, k, _, _ in OFFLINE],
)
def test_offline_verify_of_vector_files(
    tmp_path: Path,
    file: str,
    type_name: str,
    profile: str | None,
    pem: Path,
    context: str | None,
    valid: bool,
) -> None:
    args: list[str | Path] = [
        "objects",
        "verify",
        PARTIALS / file,
        "--type",
        type_name,
        "--public-key",
        pem,
        "--json",
    ]
    if profile is not None:
        args += ["--profile", profile]
    if context == "ids":
        args += [
            "--context",
            write(tmp_path, "ctx.json", {"identifiers": [json.loads((PARTIALS / "id.json").read_text())]}),
        ]
    elif context == "delete":
        args += ["--context", write(tmp_path, "ctx.json", {"origin": delete_request_origin()})]
    elif context == "rest":
        args += ["--context", write(tmp_path, "ctx.json", REST)]
    out = sigil(*args)  # SIGIL_URL points at a closed port: this is offline
    assert out.code == (0 if valid else 1), out.stderr
    assert json.loads(out.stdout)["valid"] is valid


@vectors_present
def test_offline_verify_rejects_a_non_p256_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = tmp_path / "p384.pem"
    pem.write_bytes(
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    out = sigil("objects", "verify", PARTIALS / "id.json", "-t", "identifier", "-p", pem)
    assert out.code == 1 and "invalid_public_key" in out.stderr and out.stdout == ""
