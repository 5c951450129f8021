"""One audit writer per node: worker processes send queued events to it over a Unix socket.

Why a process of its own: appending to the chain from every worker put each worker's audit
thread in contention with its event loop for the GIL, and the workers with each other for the
database's write lock; measured, that cost ~15% of single-sign throughput. A worker now only
serialises its batch and writes it to a socket; the relay appends everything to the chain in
one place. If the relay cannot be reached, a worker appends the batch to the database itself, so
events are never dropped for want of a relay.

Wire format: frames of a 4-byte big-endian length and an orjson array of events, each event an
array in ``_FIELDS`` order (batch digests as hex).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import struct
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import orjson

from sigil.store.audit import AuditEvent

log = logging.getLogger("sigil.audit")

_LEN = struct.Struct(">I")
_MAX_FRAME = 64 * 1024 * 1024
ACK = b"\x01"
FLUSH_SECONDS = 0.1
DRAIN_SECONDS = 10.0  # how long a stopping relay waits for connected workers to finish sending


def encode(events: Sequence[AuditEvent]) -> bytes:
    body = orjson.dumps(
        [
            [e.principal, e.action, e.outcome, e.key_id, e.version, e.message_sha256, e.time, e.count,
             e.digests.hex() if e.digests is not None else None]
            for e in events
        ]
    )  # fmt: skip
    return _LEN.pack(len(body)) + body


def decode(body: bytes) -> list[AuditEvent]:
    out = []
    for p, a, o, k, v, m, t, c, d in orjson.loads(body):
        out.append(AuditEvent(p, a, o, k, v, m, t, c, bytes.fromhex(d) if d is not None else None))
    return out


class RelayClient:
    """Worker side: ``send`` a batch to the relay; falls back to ``direct`` when it is unreachable."""

    def __init__(self, path: str, direct: Callable[[Sequence[AuditEvent]], None]) -> None:
        self._path = path
        self._direct = direct
        self._sock: socket.socket | None = None

    def send(self, events: Sequence[AuditEvent]) -> None:
        frame = encode(events)
        for _attempt in range(2):
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self._sock.connect(self._path)
                self._sock.sendall(frame)
                return
            except OSError:
                self.close()
        log.warning("audit relay unreachable; appending %d events directly", len(events))
        self._direct(events)

    def barrier(self) -> None:
        """Wait until the relay has written everything this client sent (an empty frame asks;
        one byte answers). Without a relay, batches were written directly: nothing to wait for."""
        if self._sock is None:
            return
        try:
            self._sock.sendall(_LEN.pack(0))
            self._sock.settimeout(30)
            if self._sock.recv(1) != ACK:
                raise OSError("no acknowledgement")
        except OSError:
            self.close()
            log.warning("audit relay did not confirm a flush")
        finally:
            if self._sock is not None:
                self._sock.settimeout(None)

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


def run_relay(
    path: Path, write_batch: Callable[[Sequence[AuditEvent]], None], should_stop: Callable[[], bool]
) -> None:
    """Relay main loop: accept workers, collect their events, append them every ``FLUSH_SECONDS``.
    Once ``should_stop()`` says so, it keeps reading until the workers have disconnected (or
    ``DRAIN_SECONDS`` pass), writes what it has, and returns."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o600)
    server.listen(64)
    server.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ, None)
    buffers: dict[socket.socket, bytearray] = {}
    pending: list[AuditEvent] = []
    last_flush = time.monotonic()
    stopping_since: float | None = None
    while True:
        for key, _mask in sel.select(timeout=FLUSH_SECONDS):
            if key.fileobj is server:
                client, _ = server.accept()
                client.setblocking(False)
                sel.register(client, selectors.EVENT_READ, None)
                buffers[client] = bytearray()
            else:
                worker = cast(socket.socket, key.fileobj)
                if _read(worker, sel, buffers, pending):  # a worker waits for its events to land
                    _write(write_batch, pending)
                    pending = []
                    last_flush = time.monotonic()
                    with contextlib.suppress(OSError):
                        worker.sendall(ACK)
        now = time.monotonic()
        if stopping_since is None and should_stop():
            stopping_since = now  # keep reading until the workers have sent their last events
        if pending and (stopping_since is not None or now - last_flush >= FLUSH_SECONDS):
            _write(write_batch, pending)
            pending = []
            last_flush = time.monotonic()
        if stopping_since is not None and (not buffers or now - stopping_since > DRAIN_SECONDS):
            break
    if pending:
        _write(write_batch, pending)
    sel.close()
    server.close()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def stop_signal_or_orphan(parent_pid: int) -> Callable[[], bool]:
    """For the relay process: stop on SIGTERM/SIGINT, or when the server process that started it
    is gone (its workers die with it)."""
    requested = False

    def on_signal(_sig: int, _frame: Any) -> None:
        nonlocal requested
        requested = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return lambda: requested or os.getppid() != parent_pid


def _read(
    conn: socket.socket, sel: selectors.BaseSelector, buffers: dict[socket.socket, bytearray],
    pending: list[AuditEvent],
) -> bool:  # fmt: skip
    """Read what ``conn`` sent; True when it asked for a flush acknowledgement."""
    buf = buffers[conn]
    wants_ack = False
    try:
        data = conn.recv(1 << 20)
    except BlockingIOError:
        return False
    except OSError:
        data = b""
    if not data:
        sel.unregister(conn)
        conn.close()
        del buffers[conn]
        return False
    buf += data
    while len(buf) >= 4:
        (size,) = _LEN.unpack_from(buf)
        if size > _MAX_FRAME:
            log.error("audit relay: oversized frame from a worker; dropping its connection")
            sel.unregister(conn)
            conn.close()
            del buffers[conn]
            return False
        if len(buf) < 4 + size:
            break
        if size == 0:
            wants_ack = True
        else:
            pending.extend(decode(bytes(buf[4 : 4 + size])))
        del buf[: 4 + size]
    return wants_ack


def _write(write_batch: Callable[[Sequence[AuditEvent]], None], events: list[AuditEvent]) -> None:
    for attempt in range(10):
        try:
            write_batch(events)
            return
        except Exception:
            log.exception("audit relay: batch write failed (attempt %d)", attempt + 1)
            time.sleep(0.2 * (attempt + 1))
    log.error("audit relay: gave up on %d events", len(events))
