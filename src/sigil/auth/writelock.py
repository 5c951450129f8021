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
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection

from sigil.auth import sql
from sigil.keys.context import Context

T = TypeVar("T")
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


class _RollBack(Exception):
    """Roll the transaction back (a lone operation failed); its error is answered as is."""


class _GroupWriter:
    """One writer thread per process for SQLite: it takes every queued operation, runs them in one
    write transaction (each inside its own SAVEPOINT, so one failing operation is rolled back
    alone), commits once, then answers each caller. Under load that turns N lock handoffs and N
    commits into one; a caller hears its result only after the commit."""

    MAX_BATCH = 128

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._queue: queue.SimpleQueue[tuple[Callable[[Connection], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sigil-auth-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[Connection], T]) -> T:
        future: Future[T] = Future()
        self._queue.put((fn, future))
        return future.result()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
            try:
                with write_batch(self._ctx) as conn:
                    for fn, future in batch:
                        if len(batch) == 1:  # alone: the transaction itself is the savepoint
                            outcomes.append(_call(fn, future, conn))
                            if outcomes[0][2] is not None:
                                raise _RollBack
                            continue
                        sql.rows(conn, "SAVEPOINT auth_op", ())
                        outcome = _call(fn, future, conn)
                        if outcome[2] is not None:
                            sql.rows(conn, "ROLLBACK TO SAVEPOINT auth_op", ())
                        sql.rows(conn, "RELEASE SAVEPOINT auth_op", ())
                        outcomes.append(outcome)
            except _RollBack:
                pass
            except BaseException as exc:  # the transaction failed: nobody's change happened
                for _fn, future in batch:
                    future.set_exception(exc)
                continue
            for future, result, error in outcomes:
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)


def _call(
    fn: Callable[[Connection], Any], future: Future[Any], conn: Connection
) -> tuple[Future[Any], Any, BaseException | None]:
    try:
        return future, fn(conn), None
    except BaseException as exc:
        return future, None, exc


_writers: weakref.WeakKeyDictionary[Context, _GroupWriter] = weakref.WeakKeyDictionary()


def run_write(ctx: Context, fn: Callable[[Connection], T]) -> T:
    """Run ``fn(conn)`` in a write transaction and return its result once committed.

    SQLite: grouped with this process's other auth writes (``_GroupWriter``). PostgreSQL: its own
    transaction (grouping there could deadlock two nodes' batches on each other's rows)."""
    if not ctx.db.sqlite:
        with ctx.db.batch() as conn:
            return fn(conn)
    writer = _writers.get(ctx)
    if writer is None:
        with _guard:
            writer = _writers.get(ctx)
            if writer is None:
                writer = _writers[ctx] = _GroupWriter(ctx)
    return writer.submit(fn)
