"""Storage security: private keys sealed at rest, tokens hashed, nothing secret in logs or
responses, secret files 0600, and a tamper-evident audit log (issue 2 "Storage", "Audit log").

The private scalars are recovered *by the test* from the sealed blobs with the data dir's
master key (``Sealer`` + ``key_version_aad``), checked against the public keys, and then searched
for in every form in the raw SQLite files and in a ``pg_dump``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigil.store.sealing import Sealer, key_version_aad
from support.postgres import dump_schema, fresh_schema
from support.server import ServerProcess

CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "secp256k1": ec.SECP256K1()}
SIGIL = Path(sys.executable).with_name("sigil")


def master_key(data_dir: Path) -> bytes:
    return base64.b64decode((data_dir / "master.key").read_text().strip())


def db_url(server: ServerProcess) -> str:
    return server.db_url or f"sqlite:///{server.data_dir / 'sigil.db'}"


def new_token(server: ServerProcess, name: str | None = None) -> tuple[str, str]:
    name = name or "s-" + secrets.token_hex(6)
    with server.client(server.admin_token) as admin:
        r = admin.post("/v1/tokens", json={"name": name})
        assert r.status_code == 201, r.text
        return str(r.json()["token"]), name


def forms(secret: bytes) -> dict[str, bytes]:
    """Every way a secret might be written down."""
    hx = secret.hex()
    return {
        "raw": secret,
        "hex": hx.encode(),
        "HEX": hx.upper().encode(),
        "base64": base64.b64encode(secret).rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(secret).rstrip(b"="),
        "decimal": str(int.from_bytes(secret, "big")).encode(),
        "utf16-hex": hx.encode("utf-16-le"),
    }


def find_leaks(haystack: bytes, secrets_: dict[str, bytes]) -> list[str]:
    return [
        f"{label}/{form}"
        for label, secret in secrets_.items()
        for form, needle in forms(secret).items()
        if needle in haystack
    ]


def sqlite_bytes(data_dir: Path) -> bytes:
    out = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = data_dir / f"sigil.db{suffix}"
        if p.exists():
            out += p.read_bytes()
    assert out, "no SQLite file found"
    return out


@dataclass
class Stored:
    server: ServerProcess
    token: str
    scalars: dict[str, bytes]  # "key_id:version" -> private scalar
    sealed: dict[str, bytes]
    responses: bytes


def populate(server: ServerProcess) -> Stored:
    """Keys on every curve (two with a second version), signatures, a JWT; then open every
    sealed blob with the master key and check the scalar against the published public key."""
    token, _name = new_token(server)
    responses = b""
    with server.client(token) as c:
        for curve in CURVES:
            for i in range(2):
                r = c.post("/v1/keys", json={"curve": curve, "jwt": True})
                assert r.status_code == 201, r.text
                key_id = r.json()["key_id"]
                responses += r.content
                if i == 0:
                    responses += c.post(f"/v1/keys/{key_id}/rotate").content
                for body in ({"data": "hi"}, {"items": [{"data": "a"}, {"data": "b"}]}):
                    r = c.post(f"/v1/keys/{key_id}/sign", json=body)
                    assert r.status_code == 200, r.text
                    responses += r.content
                responses += c.post(f"/v1/keys/{key_id}/jwt", json={"claims": {"sub": "x"}}).content
                responses += c.get(f"/v1/keys/{key_id}").content
                responses += c.get(f"/v1/keys/{key_id}/public").content
                responses += c.get(f"/v1/keys/{key_id}/jwks.json").content
        responses += c.get("/v1/keys").content
        responses += c.get("/.well-known/jwks.json").content
    with server.client(server.admin_token) as admin:
        responses += admin.get("/v1/audit", params={"limit": 1000}).content

    sealer = Sealer(master_key(server.data_dir))
    engine = sa.create_engine(db_url(server))
    scalars: dict[str, bytes] = {}
    sealed: dict[str, bytes] = {}
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT k.id, k.curve, v.version, v.public_key, v.sealed_private "
                    "FROM keys k JOIN key_versions v ON v.key_id = k.id"
                )
            ).all()
    finally:
        engine.dispose()
    assert len(rows) >= 9
    for key_id, curve, version, public, blob in rows:
        blob = bytes(blob)
        scalar = sealer.open(blob, aad=key_version_aad(key_id, version))
        # the blob is bound to its row: another identity does not open it
        with pytest.raises(Exception, match="authentication"):
            sealer.open(blob, aad=key_version_aad(key_id, version + 1))
        priv = ec.derive_private_key(int.from_bytes(scalar, "big"), CURVES[curve])
        point = priv.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        assert point == bytes(public), f"{key_id}:{version}: the opened scalar is not the key's"
        scalars[f"{key_id}:{version}"] = scalar
        sealed[f"{key_id}:{version}"] = blob
    return Stored(server, token, scalars, sealed, responses)


@pytest.fixture(scope="module")
def sqlite_stored() -> Iterator[Stored]:
    proc = ServerProcess().start()
    try:
        yield populate(proc)
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def pg_stored() -> Iterator[tuple[Stored, str]]:
    with fresh_schema() as url:
        proc = ServerProcess(db_url=url).start()
        try:
            yield populate(proc), url
        finally:
            proc.stop()


def test_sqlite_file_holds_no_private_scalar(sqlite_stored: Stored) -> None:
    raw = sqlite_bytes(sqlite_stored.server.data_dir)
    # positive controls: we are reading the right file, and it holds the sealed blobs
    assert all(blob in raw for blob in sqlite_stored.sealed.values())
    assert all(k.split(":")[0].encode() in raw for k in sqlite_stored.scalars)
    assert not find_leaks(raw, sqlite_stored.scalars)


@pytest.mark.slow
@pytest.mark.postgres
def test_pg_dump_holds_no_private_scalar(pg_stored: tuple[Stored, str]) -> None:
    stored, url = pg_stored
    dump = dump_schema(url)
    assert all(k.split(":")[0].encode() in dump for k in stored.scalars)  # control: the right schema
    # pg_dump writes bytea as \x<hex>: the sealed blobs appear as hex, the scalars in no form
    assert all(blob.hex().encode() in dump for blob in stored.sealed.values())
    assert not find_leaks(dump, stored.scalars)
    assert stored.token.encode() not in dump
    assert hashlib.sha256(stored.token.encode()).hexdigest().encode() in dump  # stored hashed


def test_tokens_stored_hashed(sqlite_stored: Stored) -> None:
    raw = sqlite_bytes(sqlite_stored.server.data_dir)
    for token in (sqlite_stored.token, sqlite_stored.server.admin_token):
        assert token.encode() not in raw
        assert token.removeprefix("sgl_").encode() not in raw
        assert hashlib.sha256(token.encode()).digest() in raw  # control: the hash is what is stored


def test_no_secret_in_api_responses(sqlite_stored: Stored) -> None:
    assert sqlite_stored.responses
    assert not find_leaks(sqlite_stored.responses, sqlite_stored.scalars)
    assert b'"d"' not in sqlite_stored.responses  # no private JWK member anywhere


def test_no_secret_in_server_log(sqlite_stored: Stored) -> None:
    log = sqlite_stored.server.log().encode()
    assert log, "the server log is empty: nothing to check"
    assert not find_leaks(log, sqlite_stored.scalars)
    assert sqlite_stored.token.encode() not in log
    assert sqlite_stored.server.admin_token.encode() not in log
    assert master_key(sqlite_stored.server.data_dir) not in log
    assert base64.b64encode(master_key(sqlite_stored.server.data_dir)) not in log


def test_generated_admin_token_and_master_key_files_are_0600() -> None:
    proc = ServerProcess(env={"SIGIL_ADMIN_TOKEN": ""})
    proc.start()
    try:
        data_dir = proc.data_dir
        for name in ("master.key", "admin.token"):
            mode = stat.S_IMODE((data_dir / name).stat().st_mode)
            assert mode == 0o600, f"{name} has mode {oct(mode)}"
        assert stat.S_IMODE(data_dir.stat().st_mode) & 0o077 == 0  # the data dir is private too
        admin_token = (data_dir / "admin.token").read_text().strip()
        assert len(master_key(data_dir)) == 32
        with proc.client(admin_token) as admin:
            r = admin.post("/v1/tokens", json={"name": "after-bootstrap"})
            assert r.status_code == 201, r.text
            issued = r.json()["token"]
        raw = sqlite_bytes(data_dir)
        assert admin_token.encode() not in raw and issued.encode() not in raw
        assert hashlib.sha256(admin_token.encode()).digest() in raw
        assert issued.encode() not in proc.log().encode()
    finally:
        proc.stop()
    # a restart neither rewrites nor re-prints the token, and keeps the modes
    proc2 = ServerProcess(data_dir=proc.data_dir, env={"SIGIL_ADMIN_TOKEN": ""})
    log_before = proc2.log()
    proc2.start()
    try:
        assert (proc.data_dir / "admin.token").read_text().strip() == admin_token
        assert admin_token not in proc2.log()[len(log_before) :]
        assert stat.S_IMODE((proc.data_dir / "master.key").stat().st_mode) == 0o600
    finally:
        proc2.stop()


# --- audit log ------------------------------------------------------------------------------------


def audit_entries(server: ServerProcess) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with server.client(server.admin_token) as admin:
        while True:
            r = admin.get("/v1/audit", params={"after": out[-1]["seq"] if out else 0, "limit": 1000})
            assert r.status_code == 200, r.text
            page = r.json()["entries"]
            if not page:
                return out
            out.extend(page)


def cli_verify(data_dir: Path) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k not in ("SIGIL_URL", "SIGIL_TOKEN", "SIGIL_MASTER_KEY")}
    p = subprocess.run(
        [str(SIGIL), "audit", "verify", "--data-dir", str(data_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    try:
        report = json.loads(p.stdout)
    except ValueError:
        raise AssertionError(f"sigil audit verify printed no JSON: {p.stdout!r} {p.stderr!r}") from None
    return p.returncode, report


@dataclass
class AuditWorld:
    data_dir: Path
    name: str
    key_id: str
    entries: list[dict[str, Any]]
    messages: list[bytes]


@pytest.fixture(scope="module")
def audited() -> AuditWorld:
    """A server that saw every kind of event, then stopped (so its files can be edited)."""
    proc = ServerProcess().start()
    try:
        token, name = new_token(proc)
        messages = [
            b"release-1.2.3.tar.gz",
            "ünïcode ✓".encode(),
            secrets.token_bytes(40),
            b"batch-a",
            b"batch-b",
        ]
        with proc.client(token) as c:
            key_id = c.post("/v1/keys", json={"curve": "P-256"}).json()["key_id"]
            c.post(f"/v1/keys/{key_id}/sign", json={"data": messages[0].decode()}).raise_for_status()
            c.post(f"/v1/keys/{key_id}/sign", json={"data": messages[1].decode()}).raise_for_status()
            c.post(
                f"/v1/keys/{key_id}/sign", json={"digest": hashlib.sha256(messages[2]).hexdigest()}
            ).raise_for_status()
            c.post(
                f"/v1/keys/{key_id}/sign",
                json={"items": [{"data_b64": base64.b64encode(m).decode()} for m in messages[3:]]},
            ).raise_for_status()
            c.post(f"/v1/keys/{key_id}/rotate").raise_for_status()
            c.post(f"/v1/keys/{key_id}/sign", json={"data": "v1 pinned", "version": 1}).raise_for_status()
            c.post(f"/v1/keys/{key_id}/disable", json={"version": 1}).raise_for_status()
            c.post(f"/v1/keys/{key_id}/enable", json={"version": 1}).raise_for_status()
            c.post(f"/v1/keys/{key_id}/disable", json={}).raise_for_status()
            assert c.post(f"/v1/keys/{key_id}/sign", json={"data": "refused"}).status_code == 409
            c.post(f"/v1/keys/{key_id}/enable", json={}).raise_for_status()
            c.post(f"/v1/keys/{key_id}/jwt", json={"claims": {"sub": "a"}}).raise_for_status()
            c.delete(f"/v1/keys/{key_id}", params={"pending_days": 7}).raise_for_status()
            c.post(f"/v1/keys/{key_id}/cancel-deletion").raise_for_status()
        with proc.client(proc.admin_token) as admin:
            r = admin.get("/v1/audit/verify")
            assert r.status_code == 200 and r.json()["ok"] is True, r.text
        entries = audit_entries(proc)
    finally:
        proc.stop()
    return AuditWorld(proc.data_dir, name, key_id, entries, messages)


def test_every_event_is_audited(audited: AuditWorld) -> None:
    mine = [e for e in audited.entries if e["key_id"] == audited.key_id]
    actions = [(e["action"], e["version"], e["outcome"]) for e in mine]
    assert all(e["principal"] == audited.name for e in mine), mine
    signs = [e for e in mine if e["action"] == "sign" and e["outcome"] == "ok"]
    sha = [hashlib.sha256(m).hexdigest() for m in audited.messages]
    singles = [e for e in signs if e.get("count", 1) == 1]
    assert [e["message_sha256"] for e in singles] == [*sha[:3], hashlib.sha256(b"v1 pinned").hexdigest()]
    # a batch request is one entry that lists every item's SHA-256 and commits to them
    (batch,) = [e for e in signs if e.get("count", 1) > 1]
    assert batch["count"] == 2 and batch["item_sha256"] == sha[3:]
    assert batch["message_sha256"] == hashlib.sha256(b"".join(bytes.fromhex(h) for h in sha[3:])).hexdigest()
    assert all(e["version"] == 1 for e in signs)
    expected_sequence = [
        ("key.create", 1, "ok"),
        *[("sign", 1, "ok")] * 4,
        ("key.rotate", 2, "ok"),
        ("sign", 1, "ok"),
        ("key.disable", 1, "ok"),
        ("key.enable", 1, "ok"),
        ("key.disable", None, "ok"),
        ("sign", None, "key_disabled"),
        ("key.enable", None, "ok"),
        ("jwt", 2, "ok"),
        ("key.schedule_deletion", None, "ok"),
        ("key.cancel_deletion", None, "ok"),
    ]
    # Sign and JWT events are queued and written in batches, so they may land after a later state change
    # (which is written inline): compare them as a multiset, and state changes in order.
    assert sorted(actions, key=repr) == sorted(expected_sequence, key=repr)
    queued = ("sign", "jwt")
    assert [a for a in actions if a[0] not in queued] == [a for a in expected_sequence if a[0] not in queued]
    token_events = [e for e in audited.entries if e["action"] == "token.create"]
    assert any(e["principal"] == "admin" and e["outcome"] == "ok" for e in token_events)
    for e in audited.entries:
        assert e["time"] > 0 and len(e["hash"]) == 64 and len(e["prev_hash"]) == 64
    seqs = [e["seq"] for e in audited.entries]
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(
        b["prev_hash"] == a["hash"] for a, b in zip(audited.entries, audited.entries[1:], strict=False)
    )


@pytest.fixture
def tampered_dir(audited: AuditWorld, tmp_path: Path) -> Path:
    """A copy of the stopped server's data dir (each tampering starts from the intact log)."""
    dst = tmp_path / "data"
    dst.mkdir()
    for p in audited.data_dir.iterdir():
        if p.name.startswith("sigil.db") or p.name == "master.key":
            shutil.copy2(p, dst / p.name)
    return dst


def _edit(data_dir: Path, sql: str, *args: Any) -> None:
    db = sqlite3.connect(data_dir / "sigil.db")
    try:
        cur = db.execute(sql, args)
        assert cur.rowcount == 1, cur.rowcount
        db.commit()
    finally:
        db.close()


def test_intact_chain_verifies_offline(tampered_dir: Path, audited: AuditWorld) -> None:
    rc, report = cli_verify(tampered_dir)
    assert rc == 0 and report["ok"] is True, report
    assert report["entries"] == len(audited.entries)


def _sign_seq(audited: AuditWorld) -> int:
    return next(e["seq"] for e in audited.entries if e["action"] == "sign" and e["key_id"] == audited.key_id)


@pytest.mark.parametrize(
    ("column", "value"),
    [("message_sha256", "0" * 64), ("outcome", "denied"), ("principal", "someone-else"), ("version", 2)],
)
def test_edited_entry_is_detected(tampered_dir: Path, audited: AuditWorld, column: str, value: Any) -> None:
    seq = _sign_seq(audited)
    _edit(tampered_dir, f"UPDATE audit_log SET {column} = ? WHERE seq = ?", value, seq)
    rc, report = cli_verify(tampered_dir)
    assert rc == 1 and report["ok"] is False, report
    assert report["first_bad_seq"] == seq, report
    assert report["reason"]


def test_edited_batch_digests_are_detected(tampered_dir: Path, audited: AuditWorld) -> None:
    seq = next(e["seq"] for e in audited.entries if e.get("count", 1) > 1)
    forged = hashlib.sha256(b"something else").digest() * 2
    _edit(tampered_dir, "UPDATE audit_log SET digests = ? WHERE seq = ?", forged, seq)
    rc, report = cli_verify(tampered_dir)
    assert rc == 1 and report["ok"] is False and report["first_bad_seq"] == seq, report


def test_deleted_entry_is_detected(tampered_dir: Path, audited: AuditWorld) -> None:
    seq = _sign_seq(audited)
    _edit(tampered_dir, "DELETE FROM audit_log WHERE seq = ?", seq)
    rc, report = cli_verify(tampered_dir)
    assert rc == 1 and report["ok"] is False and report["first_bad_seq"] == seq, report


def test_deleted_last_entry_is_detected(tampered_dir: Path, audited: AuditWorld) -> None:
    last = audited.entries[-1]["seq"]
    _edit(tampered_dir, "DELETE FROM audit_log WHERE seq = ?", last)
    rc, report = cli_verify(tampered_dir)
    assert rc == 1 and report["ok"] is False and report["first_bad_seq"] == last, report


def test_renumbered_entries_are_detected(tampered_dir: Path, audited: AuditWorld) -> None:
    """Remove an entry and close the gap by hand: the links no longer match."""
    seq = _sign_seq(audited)
    db = sqlite3.connect(tampered_dir / "sigil.db")
    try:
        db.execute("DELETE FROM audit_log WHERE seq = ?", (seq,))
        db.execute("UPDATE audit_log SET seq = -(seq - 1) WHERE seq > ?", (seq,))
        db.execute("UPDATE audit_log SET seq = -seq WHERE seq < 0")
        db.execute("UPDATE audit_head SET seq = seq - 1")
        db.commit()
    finally:
        db.close()
    rc, report = cli_verify(tampered_dir)
    assert rc == 1 and report["ok"] is False and report["first_bad_seq"] == seq, report


def test_tampering_is_seen_by_the_api(tampered_dir: Path, audited: AuditWorld) -> None:
    seq = _sign_seq(audited)
    _edit(tampered_dir, "UPDATE audit_log SET key_id = ? WHERE seq = ?", "key_other", seq)
    proc = ServerProcess(data_dir=tampered_dir).start()
    try:
        with proc.client(proc.admin_token) as admin:
            report = admin.get("/v1/audit/verify").json()
        assert report["ok"] is False and report["first_bad_seq"] == seq, report
    finally:
        proc.stop()
