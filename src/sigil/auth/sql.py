"""Plain SQL on the hot login path, through the DB-API cursor of a SQLAlchemy connection.

The statements are constants written once for SQLite and PostgreSQL alike, with ``{m}`` where a
parameter goes (``?`` or ``%s``). They run inside the caller's SQLAlchemy transaction, on the same
database connection, without SQLAlchemy's per-statement machinery (events, result objects):
on a login that is most of the cost of a statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

_formatted: dict[tuple[str, bool], str] = {}


def connection(conn: Connection | Session) -> Connection:
    return conn.connection() if isinstance(conn, Session) else conn


def _text(conn: Connection, sql: str) -> str:
    sqlite = conn.dialect.name == "sqlite"
    found = _formatted.get((sql, sqlite))
    if found is None:
        found = _formatted[(sql, sqlite)] = sql.replace("{m}", "?" if sqlite else "%s")
    return found


def rows(conn: Connection | Session, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run one statement; its result rows (empty for statements without a result)."""
    c = connection(conn)
    cursor = c.connection.cursor()
    try:
        cursor.execute(_text(c, sql), tuple(params))
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []
    finally:
        cursor.close()


def first(conn: Connection | Session, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    found = rows(conn, sql, params)
    return found[0] if found else None


def count(conn: Connection | Session, sql: str, params: Sequence[Any]) -> int:
    """Run one statement; the number of rows it changed."""
    c = connection(conn)
    cursor = c.connection.cursor()
    try:
        cursor.execute(_text(c, sql), tuple(params))
        return int(cursor.rowcount)
    finally:
        cursor.close()
