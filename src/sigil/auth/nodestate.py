"""What one server node keeps for device-key logins without writing the database: a nonce drawn at
each start (from which the challenge MAC key is derived), the ledger of consumed challenges, and
the rate-limit counters — in a small shared-memory file that every worker process of the node maps.

``sigil serve`` creates the file afresh at each start (``create``: a new nonce, empty tables) and
points its workers at it (``SIGIL_LOGIN_NODE``). A process that was not started that way (an
in-process app, a test) keeps the same structure in anonymous memory of its own.

Both tables are bucketed hash tables of fixed size: an entry's bucket is picked by a keyed hash, and
an operation reads and writes only that bucket, under an exclusive ``flock`` on the file (released
by the kernel if a process dies holding it) plus a thread lock inside the process. No operation
touches the database or another process; each costs a few microseconds.

- Ledger: 16-byte challenge id → its expiry. ``consume`` answers True exactly once per id while the
  challenge is unexpired; an entry's slot is reused once the challenge has been expired for
  ``GRACE_US`` (a margin against the clock stepping back). A bucket full of live entries refuses
  (fail closed: ``NodeFull``), which needs ~16× the average load in one bucket.
- Counters: 16-byte keyed hash of (key, window length) → (end of the current window, count),
  fixed windows; a slot whose window has ended is reused.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import secrets
import struct
import threading
from collections.abc import Sequence
from pathlib import Path

from sigil.errors import SigilError, TooManyRequests

MAGIC = b"SGLNODE1"
HEADER = 64  # magic (8) | nonce (32) | reserved
LEDGER_BUCKETS, LEDGER_SLOTS = 1 << 16, 16
COUNTER_BUCKETS, COUNTER_SLOTS = 1 << 13, 8
_ENTRY = struct.Struct("<16sQ")  # ledger slot: id, expires_at (µs); all zero = never used
_COUNTER = struct.Struct("<16sQI4x")  # counter slot: key hash, window end (unix s), count
_LEDGER_EXPIRIES = struct.Struct("<" + "16xQ" * LEDGER_SLOTS)
_COUNTER_WINDOWS = struct.Struct("<" + "16xQ8x" * COUNTER_SLOTS)
LEDGER_BUCKET_SIZE = _ENTRY.size * LEDGER_SLOTS
COUNTER_BUCKET_SIZE = _COUNTER.size * COUNTER_SLOTS
LEDGER_AT = HEADER
COUNTERS_AT = LEDGER_AT + LEDGER_BUCKETS * LEDGER_BUCKET_SIZE
SIZE = COUNTERS_AT + COUNTER_BUCKETS * COUNTER_BUCKET_SIZE
GRACE_US = 30_000_000
ID_LEN = 16


class NodeFull(SigilError):
    """A ledger or counter bucket has no free slot: refused rather than forgetting a live entry."""

    code = "login_busy"
    status = 503
    title = "Login temporarily unavailable"


def create(path: Path) -> None:
    """A fresh node file at ``path``: a new random nonce, empty tables (``sigil serve`` at start).
    Written beside and renamed over, so no process ever maps a half-made file."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, SIZE)  # sparse: pages are allocated as buckets are used
        os.pwrite(fd, MAGIC + secrets.token_bytes(32), 0)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class NodeState:
    """The node's shared login state (see the module docstring). ``path=None``: anonymous memory,
    for a single process."""

    def __init__(self, path: Path | None = None) -> None:
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        if path is None:
            self._map = mmap.mmap(-1, SIZE)
            self._map[:40] = MAGIC + secrets.token_bytes(32)
        else:
            self._fd = os.open(path, os.O_RDWR)
            if os.fstat(self._fd).st_size != SIZE:
                os.close(self._fd)
                raise ValueError(f"{path} is not a login node file of this version")
            self._map = mmap.mmap(self._fd, SIZE)
            if self._map[:8] != MAGIC:
                raise ValueError(f"{path} is not a login node file")
        self.nonce = bytes(self._map[8:40])
        self._hash_key = hashlib.sha256(b"sigil node bucket v1" + self.nonce).digest()
        self._keyed = hashlib.blake2b(digest_size=16, key=self._hash_key)

    def _acquire(self) -> None:
        """Take the node's lock: the thread lock, then the file's (``_release`` undoes both). Plain
        calls rather than a context manager: they run three times per login."""
        self._thread_lock.acquire()
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._thread_lock.release()
                raise

    def _release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    # --- ledger -----------------------------------------------------------------------------------

    def consume(self, challenge_id: bytes, expires_at: int, now: int) -> bool:
        """True for the first call with ``challenge_id`` while ``now < expires_at``; False for a
        used or expired one. Raises NodeFull if the bucket is full of live entries."""
        if len(challenge_id) != ID_LEN:
            raise ValueError("challenge ids in the ledger are 16 bytes")
        if now >= expires_at:
            return False
        base = LEDGER_AT + (int.from_bytes(challenge_id[:4], "little") % LEDGER_BUCKETS) * LEDGER_BUCKET_SIZE
        m = self._map
        self._acquire()
        try:
            bucket = m[base : base + LEDGER_BUCKET_SIZE]
            expiries = _LEDGER_EXPIRIES.unpack(bucket)
            free = -1
            for i, stored_exp in enumerate(expiries):
                if stored_exp + GRACE_US < now:  # never used (0) or long expired: reusable
                    if free < 0:
                        free = i
                elif bucket[i * _ENTRY.size : i * _ENTRY.size + ID_LEN] == challenge_id:
                    return False
            if free < 0:
                raise NodeFull("too many login challenges in flight; retry with a new challenge")
            _ENTRY.pack_into(m, base + free * _ENTRY.size, challenge_id, expires_at)
            return True
        finally:
            self._release()

    # --- rate counters ----------------------------------------------------------------------------

    def hit(self, limits: Sequence[tuple[str, int, int]], now: float) -> None:
        """Count one hit on each ``(key, limit, window_s)``; raise TooManyRequests if any is over
        its limit (every counter is incremented either way, as the database counters were)."""
        refused: TooManyRequests | None = None
        self._acquire()
        try:
            for key, limit, window_s in limits:
                ends = (int(now // window_s) + 1) * window_s
                if self._bump(f"{window_s}:{key}", ends, int(now)) > limit and refused is None:
                    retry = max(1, math.ceil(ends - now))
                    refused = TooManyRequests(f"too many requests; retry in {retry} s")
        finally:
            self._release()
        if refused is not None:
            raise refused

    def _bump(self, key: str, ends: int, now: int) -> int:
        h = self._keyed.copy()  # the keyed BLAKE2b state, set up once (~4 µs less per counter)
        h.update(key.encode())
        digest = h.digest()
        m = self._map
        base = COUNTERS_AT + (int.from_bytes(digest[:4], "little") % COUNTER_BUCKETS) * COUNTER_BUCKET_SIZE
        bucket = m[base : base + COUNTER_BUCKET_SIZE]
        free = -1
        for i, stored_ends in enumerate(_COUNTER_WINDOWS.unpack(bucket)):
            at = i * _COUNTER.size
            if stored_ends > now and bucket[at : at + 16] == digest:
                _d, stored_ends, count = _COUNTER.unpack_from(bucket, at)
                count = count + 1 if stored_ends == ends else 1
                _COUNTER.pack_into(m, base + at, digest, ends, count)
                return int(count)
            if stored_ends <= now and free < 0:  # never used (0) or its window has ended
                free = i
        if free < 0:
            raise NodeFull("too many rate-limit counters in use; retry shortly")
        _COUNTER.pack_into(m, base + free * _COUNTER.size, digest, ends, 1)
        return 1

    def close(self) -> None:
        self._map.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
