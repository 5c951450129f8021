"""Engines, sessions and migrations for SQLite (embedded default, WAL) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

DB_FILE = "sigil.db"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def default_db_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / DB_FILE).resolve()}"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class Database:
    """Two session factories over one database: ``read()`` for plain reads and ``write()`` for
    transactions that modify state. On SQLite a write begins with ``BEGIN IMMEDIATE`` so that a
    transaction that reads and then writes never fails to upgrade its lock under concurrency."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        if self.sqlite:
            self.read_engine = _sqlite_engine(url, begin="BEGIN")
            self.write_engine = _sqlite_engine(url, begin="BEGIN IMMEDIATE")
            # Batched sign events: synchronous=NORMAL, which in WAL mode survives a process crash
            # (SIGKILL) and loses at most the last commits on power loss. State changes keep FULL.
            self.batch_engine = _sqlite_engine(url, begin="BEGIN IMMEDIATE", synchronous="NORMAL")
        else:
            self.read_engine = self.write_engine = self.batch_engine = create_engine(
                url, pool_pre_ping=True, pool_size=5, max_overflow=10
            )
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction committed on normal exit, rolled back on any exception."""
        with self._write() as session, session.begin():
            yield session

    @contextmanager
    def batch(self) -> Iterator[Connection]:
        """A Core transaction for batched appends (no ORM session)."""
        with self.batch_engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        for engine in {self.read_engine, self.write_engine, self.batch_engine}:
            engine.dispose()


def _sqlite_engine(url: str, *, begin: str, synchronous: str = "FULL") -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN (the pysqlite recipe in SQLAlchemy's docs).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a transaction acknowledged to a client survives power loss, not only a crash.
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


def migrate(url: str) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")
