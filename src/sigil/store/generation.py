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
from pathlib import Path

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
