"""A node-local change counter shared by the worker processes of one server.

Every state change (rotate, disable, enable, deletion) bumps it; each worker compares the counter
it last saw with the current one on every cache lookup (one memory read through ``mmap``) and drops
its caches when they differ. Workers on one node therefore see a disabled key at once; other nodes
sharing a PostgreSQL database rely on the cache TTL (DESIGN.md, Scale-out).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_FORMAT = "<Q"
_SIZE = struct.calcsize(_FORMAT)


class Generation:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < _SIZE:
            os.pwrite(self._fd, b"\0" * _SIZE, 0)
        self._map = mmap.mmap(self._fd, _SIZE)

    def current(self) -> int:
        value: int = struct.unpack_from(_FORMAT, self._map, 0)[0]
        return value

    def bump(self) -> int:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            value = self.current() + 1
            struct.pack_into(_FORMAT, self._map, 0, value)
            return value
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class GenerationCache(Generic[K, V]):
    """Values one worker has read from the database (keys, principals, login devices), each valid
    while the node's change counter is the one read *before* the value was, and for at most
    ``ttl()`` seconds (other nodes' changes do not move this node's counter; the TTL bounds how
    long they go unseen).

    Use: ``gen = cache.current()``, then ``cache.get(key, gen)``; on a miss note
    ``time.monotonic()``, read the row, and ``cache.put(key, value, gen, read_at)``. A value read
    while a change was committing is not kept (the counter moved after ``gen`` was read), so no
    worker keeps a row from before a change past that change's bump. At ``limit`` entries every
    entry is dropped: simpler than an eviction order, and rare.
    """

    def __init__(self, generation: Generation, ttl: Callable[[], float], limit: int) -> None:
        self._generation = generation
        self._ttl = ttl
        self._limit = limit
        self._seen = generation.current()
        self._entries: dict[K, tuple[V, float]] = {}

    def current(self) -> int:
        """The change counter now, dropping every entry if it moved. Read it before the row."""
        gen = self._generation.current()
        if gen != self._seen:
            self._entries.clear()
            self._seen = gen
        return gen

    def get(self, key: K, gen: int) -> V | None:
        hit = self._entries.get(key)
        if hit is None or gen != self._seen or time.monotonic() - hit[1] >= self._ttl():
            return None
        return hit[0]

    def put(self, key: K, value: V, gen: int, read_at: float) -> None:
        """Keep ``value``, read at ``read_at`` (monotonic) under counter ``gen``, unless the
        counter has moved since (checked now: a miss costs a read anyway)."""
        if self.current() != gen:
            return
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[key] = (value, read_at)
