"""`sigil serve` makes the MPC server parameters in a background process at start-up.

Other test servers switch this off (``SIGIL_MPC_PREPARE=0``, tests/support/server.py) and import a
cached file; this one leaves it on and checks that the parameters appear without any request, are
made once, and are what /v1/mpc/params then serves.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from support.mpc_api import db_url
from support.server import ServerProcess

pytestmark = pytest.mark.slow

# Two 1024-bit safe primes at nice 19 on a shared 2-core machine: usually 10-60 s.
WAIT_SECONDS = 600


def _params_rows(server: ServerProcess) -> int:
    engine = sa.create_engine(db_url(server))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM mpc_params")).scalar_one())
    finally:
        engine.dispose()


def test_parameters_are_prepared_in_the_background() -> None:
    server = ServerProcess(workers=2, env={"SIGIL_MPC_PREPARE": "1"}).start()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while _params_rows(server) == 0:
            assert time.monotonic() < deadline, f"no parameters after {WAIT_SECONDS} s:\n{server.log()}"
            assert server.proc is not None and server.proc.poll() is None, server.log()
            time.sleep(2)
        assert _params_rows(server) == 1
        with server.client(server.admin_token) as admin:
            served = admin.get("/v1/mpc/params")
            assert served.status_code == 200, served.text
            assert admin.get("/v1/audit/verify").json()["ok"] is True
            entries = admin.get("/v1/audit", params={"limit": 1000}).json()["entries"]
        made = [e for e in entries if e["action"] == "mpc.params_create"]
        assert len(made) == 1, made
        assert made[0]["principal"] == "system"
    finally:
        server.stop()
