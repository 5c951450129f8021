"""Audit through the node's relay process, with several workers: nothing queued is lost on a
clean stop, and the chain verifies."""

from __future__ import annotations

import hashlib

import pytest

from sigil.store.audit import read_entries, verify_chain
from support.server import ServerProcess


@pytest.mark.slow
def test_queued_sign_events_survive_a_clean_stop() -> None:
    server = ServerProcess(workers=2).start()
    try:
        with server.client(server.admin_token) as admin:
            key_id = admin.post("/v1/keys", json={"curve": "P-256"}).json()["key_id"]
            messages = [f"message {i}" for i in range(200)]
            for m in messages:
                assert admin.post(f"/v1/keys/{key_id}/sign", json={"data": m}).status_code == 200
    finally:
        server.stop()  # SIGTERM: workers flush into the relay, the relay drains and writes
    db_url = f"sqlite:///{server.data_dir / 'sigil.db'}"
    report = verify_chain(db_url)
    assert report.ok, report
    signed = [e for e in read_entries(db_url, 0, 10_000) if e["action"] == "sign" and e["key_id"] == key_id]
    assert sorted(e["message_sha256"] for e in signed) == sorted(
        hashlib.sha256(m.encode()).hexdigest() for m in messages
    )
    assert not (server.data_dir / "audit.sock").exists()
