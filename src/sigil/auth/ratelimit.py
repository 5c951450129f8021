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

from sqlalchemy import Connection, case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sigil.errors import TooManyRequests
from sigil.keys.context import Context
from sigil.store.models import AuthRate

MAX_KEY_LEN = 200


def _bump(conn: Connection | Session, key: str, window: int) -> int:
    dialect = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    stmt = insert(AuthRate).values(key=key[:MAX_KEY_LEN], window=window, count=1)
    same_window = AuthRate.__table__.c.window == stmt.excluded.window
    upsert = stmt.on_conflict_do_update(
        index_elements=[AuthRate.__table__.c.key],
        set_={
            "count": case((same_window, AuthRate.__table__.c.count + 1), else_=1),
            "window": stmt.excluded.window,
        },
    ).returning(AuthRate.__table__.c.count)
    return int(conn.execute(upsert).scalar_one())


def hit_all(
    conn: Connection | Session, limits: Sequence[tuple[str, int, int]], *, now: float | None = None
) -> None:
    """Count one hit on each ``(key, limit, window_s)`` inside the caller's transaction; raise
    TooManyRequests if any is over its limit (the caller's rollback then drops the increments)."""
    t = time.time() if now is None else now
    for key, limit, window_s in limits:
        window = int(t // window_s)
        if _bump(conn, key, window) > limit:
            retry = max(1, math.ceil((window + 1) * window_s - t))
            raise TooManyRequests(f"too many requests; retry in {retry} s")


def hit(ctx: Context, key: str, limit: int, window_s: int) -> None:
    """One hit on ``key``, allowed ``limit`` times per ``window_s`` seconds (its own transaction)."""
    with ctx.db.batch() as conn:
        hit_all(conn, [(key, limit, window_s)])
