"""Serialise this node's auth write transactions on SQLite.

SQLite allows one writer at a time; a second one waits in SQLite's busy handler, which polls with
sleeps of 1, 2, 5, 10 ... 100 ms. Under concurrent logins (thread pool × worker processes) those
sleeps, not the work, set the pace. Taking a blocking lock first (a thread lock inside the
process, ``flock`` on a file beside the database across processes) makes writers queue and
wake as soon as the previous one commits. PostgreSQL needs none of this: row locks queue.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from sigil.keys.context import Context

_guard = threading.Lock()
_locks: dict[str, tuple[threading.Lock, int]] = {}


def _lock_for(url: str) -> tuple[threading.Lock, int]:
    with _guard:
        found = _locks.get(url)
        if found is None:
            path = url.removeprefix("sqlite:///") + ".auth-lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            found = (threading.Lock(), fd)
            _locks[url] = found
        return found


@contextmanager
def write_batch(ctx: Context) -> Iterator[Connection]:
    """``ctx.db.batch()`` (synchronous=NORMAL on SQLite), queued behind this node's other auth
    writers on SQLite."""
    if not ctx.db.sqlite or ctx.db.url in ("sqlite://", "sqlite:///:memory:"):
        with ctx.db.batch() as conn:
            yield conn
        return
    thread_lock, fd = _lock_for(ctx.db.url)
    with thread_lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            with ctx.db.batch() as conn:
                yield conn
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
