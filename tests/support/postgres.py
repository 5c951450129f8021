"""The local PostgreSQL server for tests: started if it is down, a fresh schema per use."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

PG_DSN = os.environ.get("SIGIL_TEST_PG", "postgresql://root@127.0.0.1:5432/test")


def _reachable() -> bool:
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def ensure_running() -> None:
    """Start the machine's PostgreSQL cluster when it is not answering (CI must not assume it is)."""
    if _reachable():
        return
    versions = sorted(os.listdir("/etc/postgresql")) if Path("/etc/postgresql").is_dir() else []
    if not versions or shutil.which("pg_ctlcluster") is None:
        raise RuntimeError("PostgreSQL is down and no local cluster can be started")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"], check=False, timeout=60
    )
    for _ in range(60):
        if _reachable():
            return
        time.sleep(0.5)
    raise RuntimeError("PostgreSQL did not come up")


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A new schema in database ``test``; yields a SQLAlchemy URL whose search_path is that schema."""
    ensure_running()
    schema = "sigil_t_" + secrets.token_hex(6)
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    base = PG_DSN.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def dump_schema(url: str) -> bytes:
    """``pg_dump`` of the schema in ``url`` (used to look for secrets in clear)."""
    schema = url.rsplit("%3D", 1)[1]
    out = subprocess.run(
        ["pg_dump", "--schema", schema, "--data-only", PG_DSN], check=True, capture_output=True, timeout=120
    )
    return out.stdout
