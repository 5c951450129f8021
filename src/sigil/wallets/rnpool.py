"""Precomputed Paillier randomness for the server's c3 (the signing hot path).

c3 needs one Paillier encryption under the client's N, and its cost is r^N mod N² (~11 ms at a
2048-bit N, most of a signature). The randomness does not depend on the message, so each worker
keeps a few r^N per pairing, made by one background thread after a pairing is activated and after
each signature is answered (between a client's signatures, not during one). A value is handed out
once and forgotten; when the pool is empty (first signature on this worker, or a burst) the
caller computes one inline.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict

from sigil.mpc.paillier import PaillierPublicKey

log = logging.getLogger("sigil.mpc")

MAX_PAIRINGS = 512  # per worker; the least recently used pairing's pool is dropped beyond it


class RnPool:
    def __init__(self, size: int) -> None:
        self._size = max(0, size)
        self._pools: OrderedDict[tuple[str, int], list[int]] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
        self._pending: set[tuple[str, int]] = set()
        self._thread: threading.Thread | None = None

    def take(self, pairing_id: str, n: int) -> int | None:
        """One precomputed r^N mod N² for this pairing's N, or None when there is none."""
        with self._lock:
            pool = self._pools.get((pairing_id, n))
            if pool:
                self._pools.move_to_end((pairing_id, n))
                return pool.pop()
        return None

    def refill(self, pairing_id: str, n: int) -> None:
        """Ask the background thread to top this pairing's pool up (returns at once)."""
        if self._size == 0:
            return
        key = (pairing_id, n)
        with self._lock:
            if key in self._pending or len(self._pools.get(key, ())) >= self._size:
                return
            self._pending.add(key)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sigil-mpc-rn", daemon=True)
                self._thread.start()
        self._queue.put(key)

    def size(self, pairing_id: str, n: int) -> int:
        with self._lock:
            return len(self._pools.get((pairing_id, n), ()))

    def _run(self) -> None:
        _release_gil_in_this_thread()
        while True:
            key = self._queue.get()
            try:
                self._fill(key)
            except Exception:
                log.exception("precomputing Paillier randomness failed")
            finally:
                with self._lock:
                    self._pending.discard(key)

    def _fill(self, key: tuple[str, int]) -> None:
        public = PaillierPublicKey(key[1])
        while True:
            with self._lock:
                pool = self._pools.setdefault(key, [])
                self._pools.move_to_end(key)
                while len(self._pools) > MAX_PAIRINGS:
                    self._pools.popitem(last=False)
                if len(pool) >= self._size:
                    return
            value = public.random_rn()  # outside the lock: the slow part
            with self._lock:
                self._pools.setdefault(key, []).append(value)


def _release_gil_in_this_thread() -> None:
    """Let gmpy2 drop the GIL during this thread's exponentiations, so that refilling runs on
    another core beside the request threads instead of pausing them (gmpy2 contexts are per
    thread: nothing else changes)."""
    try:
        import gmpy2

        gmpy2.get_context().allow_release_gil = True
    except (ImportError, AttributeError):
        pass
