"""API tests run against a real server process, on SQLite and (marked slow) on PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from support.postgres import fresh_schema
from support.server import ServerProcess


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """A SQLite-backed server shared by the session (fast suites)."""
    proc = ServerProcess().start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ServerProcess]:
    with fresh_schema() as url:
        proc = ServerProcess(db_url=url).start()
        yield proc
        proc.stop()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.slow, pytest.mark.postgres])],
)
def any_server(request: pytest.FixtureRequest) -> ServerProcess:
    """The same API tests on both databases."""
    name = "server" if request.param == "sqlite" else "pg_server"
    proc: ServerProcess = request.getfixturevalue(name)
    return proc


def new_principal(server: ServerProcess) -> str:
    """A fresh principal's token (each test gets its own, so keys never collide)."""
    with server.client(server.admin_token) as admin:
        r = admin.post("/v1/tokens", json={"name": "t-" + secrets.token_hex(6)})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


@pytest.fixture
def api(any_server: ServerProcess) -> Iterator[httpx.Client]:
    """An httpx client for a new principal on the parametrised server."""
    with any_server.client(new_principal(any_server)) as client:
        yield client


@pytest.fixture
def anon(any_server: ServerProcess) -> Iterator[httpx.Client]:
    with any_server.client() as client:
        yield client
