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

from sigil.auth import sql
from sigil.errors import TooManyRequests
from sigil.keys.context import Context

MAX_KEY_LEN = 200
# One statement for all of a step's counters ("window" is a reserved word in PostgreSQL).
_UPSERT = (
    'INSERT INTO auth_rate ("key", "window", "count") VALUES {values} '
    'ON CONFLICT ("key") DO UPDATE SET "count" = CASE WHEN auth_rate."window" = excluded."window" '
    'THEN auth_rate."count" + 1 ELSE 1 END, "window" = excluded."window" RETURNING "key", "count"'
)
_READ = 'SELECT "key", "window", "count" FROM auth_rate WHERE "key" IN ({keys})'


def _refuse(window: int, window_s: int, t: float) -> TooManyRequests:
    retry = max(1, math.ceil((window + 1) * window_s - t))
    return TooManyRequests(f"too many requests; retry in {retry} s")


def hit_all(
    conn: Connection | Session, limits: Sequence[tuple[str, int, int]], *, now: float | None = None
) -> None:
    """Count one hit on each ``(key, limit, window_s)`` inside the caller's transaction, in one
    statement; raise TooManyRequests if any is over its limit."""
    if not limits:
        return
    t = time.time() if now is None else now
    windows = {key[:MAX_KEY_LEN]: (int(t // window_s), limit, window_s) for key, limit, window_s in limits}
    params: list[object] = []
    for key, (window, _limit, _w) in windows.items():
        params += [key, window]
    values = ", ".join(["({m}, {m}, 1)"] * len(windows))
    for key, counted in sql.rows(conn, _UPSERT.format(values=values), params):
        window, limit, window_s = windows[key]
        if int(counted) > limit:
            raise _refuse(window, window_s, t)


def check_all(
    conn: Connection | Session, limits: Sequence[tuple[str, int, int]], *, now: float | None = None
) -> None:
    """Raise TooManyRequests if any key has already used up its limit, without counting a hit
    (a read: lets a caller refuse early and count later, in the transaction that acts)."""
    if not limits:
        return
    t = time.time() if now is None else now
    windows = {key[:MAX_KEY_LEN]: (int(t // window_s), limit, window_s) for key, limit, window_s in limits}
    found = sql.rows(conn, _READ.format(keys=", ".join(["{m}"] * len(windows))), list(windows))
    for key, stored_window, counted in found:
        window, limit, window_s = windows[key]
        if int(stored_window) == window and int(counted) >= limit:
            raise _refuse(window, window_s, t)


def hit(ctx: Context, key: str, limit: int, window_s: int) -> None:
    """One hit on ``key``, allowed ``limit`` times per ``window_s`` seconds (its own transaction)."""
    with ctx.db.batch() as conn:
        hit_all(conn, [(key, limit, window_s)])
