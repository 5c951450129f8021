"""Crash safety (issue 2): SIGKILL the server during a burst of key creations and signatures,
restart it on the same data, and check that every acknowledged key exists, has the public key
the client was given, and signs; and that nothing half-written remains in the database.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigil.store.sealing import Sealer, key_version_aad
from support.postgres import fresh_schema
from support.server import ServerProcess

pytestmark = pytest.mark.slow

CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "secp256k1": ec.SECP256K1()}
THREADS = 12
ACKED_BEFORE_KILL = 60


@dataclass
class Burst:
    created: dict[str, tuple[str, str]] = field(default_factory=dict)  # key_id -> (curve, public hex)
    signatures: int = 0
    errors_after_kill: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)


def worker(url: str, token: str, burst: Burst, n: int) -> None:
    curves = list(CURVES)
    mine: list[str] = []
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=30) as c:
        i = 0
        while not burst.stop.is_set():
            i += 1
            try:
                if not mine or i % 2:
                    curve = curves[(n + i) % 3]
                    r = c.post("/v1/keys", json={"curve": curve, "label": f"burst {n}/{i}"})
                    if r.status_code == 201:
                        body = r.json()
                        with burst.lock:
                            burst.created[body["key_id"]] = (curve, body["public_key_hex"])
                        mine.append(body["key_id"])
                else:
                    key_id = mine[i % len(mine)]
                    items = [{"data": f"m{n}-{i}-{j}"} for j in range(20)] if i % 4 == 0 else None
                    r = c.post(
                        f"/v1/keys/{key_id}/sign",
                        json={"items": items} if items else {"data": f"m{n}-{i}"},
                    )
                    if r.status_code == 200:
                        with burst.lock:
                            burst.signatures += 1
            except httpx.HTTPError:
                with burst.lock:
                    burst.errors_after_kill += 1
                return


def verify_locally(curve: str, public_hex: str, message: bytes, der_b64: str) -> None:
    pub = ec.EllipticCurvePublicKey.from_encoded_point(
        CURVES[curve], bytes.fromhex(public_hex.removeprefix("0x"))
    )
    algo = hashes.SHA384() if curve == "P-384" else hashes.SHA256()
    pub.verify(base64.b64decode(der_b64), message, ec.ECDSA(algo))  # raises if invalid


def run_crash(data_dir: Path, db_url: str | None) -> None:
    first = ServerProcess(data_dir=data_dir, db_url=db_url, workers=2).start()
    burst = Burst()
    threads: list[threading.Thread] = []
    try:
        with first.client(first.admin_token) as admin:
            token = admin.post("/v1/tokens", json={"name": "crash-" + secrets.token_hex(4)}).json()["token"]
        threads = [threading.Thread(target=worker, args=(first.url, token, burst, n)) for n in range(THREADS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(burst.created) < ACKED_BEFORE_KILL and time.monotonic() < deadline:
            if not any(t.is_alive() for t in threads):
                break
            time.sleep(0.02)
        assert len(burst.created) >= ACKED_BEFORE_KILL, f"burst too slow: {len(burst.created)}\n{first.log()}"
        first.kill()  # SIGKILL of the whole process group, requests in flight
    finally:
        burst.stop.set()
        first.kill()
    for t in threads:
        t.join(60)
    assert burst.signatures > 0
    assert burst.errors_after_kill > 0, "no request was in flight when the server was killed"
    acked = dict(burst.created)

    second = ServerProcess(data_dir=data_dir, db_url=db_url).start()
    try:
        with second.client(token) as c:
            listed = {k["key_id"]: k for k in c.get("/v1/keys").json()["keys"]}
            missing = sorted(set(acked) - set(listed))
            assert not missing, f"{len(missing)} acknowledged keys lost: {missing[:5]}"
            for key_id, (curve, public_hex) in acked.items():
                meta = c.get(f"/v1/keys/{key_id}").json()
                assert meta["state"] == "enabled" and meta["curve"] == curve
                v1 = next(v for v in meta["versions"] if v["version"] == 1)
                assert v1["public_key_hex"] == public_hex, key_id
                msg = f"after the crash {key_id}".encode()
                r = c.post(f"/v1/keys/{key_id}/sign", json={"data_b64": base64.b64encode(msg).decode()})
                assert r.status_code == 200, r.text
                verify_locally(curve, public_hex, msg, r.json()["signature"])
            # keys created but not acknowledged (the kill came before the answer) must be whole too
            for key_id in set(listed) - set(acked):
                r = c.post(f"/v1/keys/{key_id}/sign", json={"data": "x"})
                assert r.status_code == 200, r.text
        with second.client(second.admin_token) as admin:
            report = admin.get("/v1/audit/verify").json()
        assert report["ok"] is True, report
        entries = []
        with second.client(second.admin_token) as admin:
            after = 0
            while True:
                page = admin.get("/v1/audit", params={"after": after, "limit": 1000}).json()["entries"]
                if not page:
                    break
                entries += page
                after = page[-1]["seq"]
        created_in_log = {e["key_id"] for e in entries if e["action"] == "key.create"}
        assert set(acked) <= created_in_log  # key creation is audited in the same transaction
    finally:
        second.stop()
    check_rows(data_dir, db_url or f"sqlite:///{data_dir / 'sigil.db'}")


def check_rows(data_dir: Path, url: str) -> None:
    """No half-written rows: every key has its versions, every sealed scalar opens and matches."""
    sealer = Sealer(base64.b64decode((data_dir / "master.key").read_text().strip()))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            keys = conn.execute(sa.text("SELECT id, curve, latest_version, state FROM keys")).all()
            versions = conn.execute(
                sa.text("SELECT key_id, version, public_key, sealed_private, state FROM key_versions")
            ).all()
            orphans = conn.execute(
                sa.text(
                    "SELECT count(*) FROM key_versions v LEFT JOIN keys k ON k.id = v.key_id "
                    "WHERE k.id IS NULL"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert orphans == 0
    by_key: dict[str, list[tuple[int, bytes, bytes | None]]] = {}
    for key_id, version, public, sealed, _state in versions:
        by_key.setdefault(key_id, []).append(
            (version, bytes(public), None if sealed is None else bytes(sealed))
        )
    for key_id, curve, latest, state in keys:
        rows = by_key.get(key_id)
        assert rows, f"{key_id} has no version row"
        assert max(v for v, _p, _s in rows) == latest, key_id
        assert sorted(v for v, _p, _s in rows) == list(range(1, latest + 1)), key_id
        for version, public, sealed in rows:
            assert sealed is not None and state != "destroyed", key_id
            scalar = sealer.open(sealed, aad=key_version_aad(key_id, version))
            priv = ec.derive_private_key(int.from_bytes(scalar, "big"), CURVES[curve])
            point = priv.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
            assert point == public, f"{key_id}:{version} sealed scalar does not match its public key"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_crash_during_burst_sqlite(data_dir: Path) -> None:
    run_crash(data_dir, None)


@pytest.mark.postgres
def test_crash_during_burst_postgres(data_dir: Path) -> None:
    with fresh_schema() as url:
        run_crash(data_dir, url)
