"""Fixed-window rate limits kept in the database (``auth_rate``), so every worker and every node
counts together.

One counter row per key: ``INSERT ... ON CONFLICT DO UPDATE`` either starts a new window at 1 or
adds 1 to the current one, and returns the count, in one statement (SQLite ≥ 3.35 and
PostgreSQL both support it), so concurrent hits never lose an increment.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from sigil.errors import TooManyRequests
from sigil.keys.context import Context

MAX_KEY_LEN = 200
# Plain SQL, the same on SQLite and PostgreSQL ("window" is a reserved word in PostgreSQL); run
# through the DB-API directly because this is on every login step.
_UPSERT = (
    'INSERT INTO auth_rate ("key", "window", "count") VALUES ({m}, {m}, 1) '
    'ON CONFLICT ("key") DO UPDATE SET "count" = CASE WHEN auth_rate."window" = excluded."window" '
    'THEN auth_rate."count" + 1 ELSE 1 END, "window" = excluded."window" RETURNING "count"'
)
_READ = 'SELECT "count" FROM auth_rate WHERE "key" = {m} AND "window" = {m}'


def _connection(conn: Connection | Session) -> Connection:
    return conn.connection() if isinstance(conn, Session) else conn


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def _refuse(window: int, window_s: int, t: float) -> TooManyRequests:
    retry = max(1, math.ceil((window + 1) * window_s - t))
    return TooManyRequests(f"too many requests; retry in {retry} s")


def hit_all(
    conn: Connection | Session, limits: Sequence[tuple[str, int, int]], *, now: float | None = None
) -> None:
    """Count one hit on each ``(key, limit, window_s)`` inside the caller's transaction; raise
    TooManyRequests if any is over its limit (the caller's rollback then drops the increments)."""
    c = _connection(conn)
    sql = _UPSERT.format(m=_mark(c))
    t = time.time() if now is None else now
    for key, limit, window_s in limits:
        window = int(t // window_s)
        if int(c.exec_driver_sql(sql, (key[:MAX_KEY_LEN], window)).scalar_one()) > limit:
            raise _refuse(window, window_s, t)


def check_all(
    conn: Connection | Session, limits: Sequence[tuple[str, int, int]], *, now: float | None = None
) -> None:
    """Raise TooManyRequests if any key has already used up its limit, without counting a hit
    (a read: lets a caller refuse early and count later, in the transaction that acts)."""
    c = _connection(conn)
    sql = _READ.format(m=_mark(c))
    t = time.time() if now is None else now
    for key, limit, window_s in limits:
        window = int(t // window_s)
        count = c.exec_driver_sql(sql, (key[:MAX_KEY_LEN], window)).scalar_one_or_none()
        if count is not None and int(count) >= limit:
            raise _refuse(window, window_s, t)


def hit(ctx: Context, key: str, limit: int, window_s: int) -> None:
    """One hit on ``key``, allowed ``limit`` times per ``window_s`` seconds (its own transaction)."""
    with ctx.db.batch() as conn:
        hit_all(conn, [(key, limit, window_s)])
