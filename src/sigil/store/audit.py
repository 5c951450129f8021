"""The hash-chained audit log.

Each entry's ``hash`` is HMAC-SHA-256 under a subkey of the master key over the previous hash and
the entry's canonical encoding. Keyed rather than plain SHA-256: someone who can write the database
but does not hold the master key cannot recompute the chain after editing it. The tip lives in
``audit_head``; every append locks that row, which serialises appenders across processes and
nodes, and verification compares the last entry with it, so a removed tail is noticed too.

Events on the sign path are queued and written in batches by ``AuditWriter`` (one transaction
per batch); events that change state (tokens, keys, deletion) are appended inside the same
transaction as the change, so the two are committed together or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from sigil.store.models import AuditEntry, AuditHead

log = logging.getLogger("sigil.audit")

GENESIS_HASH = "0" * 64
ENTRY_FIELDS = (
    "seq",
    "time",
    "principal",
    "action",
    "key_id",
    "version",
    "message_sha256",
    "count",
    "outcome",
)
COLUMNS = (*ENTRY_FIELDS, "digests", "prev_hash", "hash")


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~3 µs more to build, on the sign path
class AuditEvent:
    principal: str
    action: str
    outcome: str = "ok"
    key_id: str | None = None
    version: int | None = None
    message_sha256: str | None = None
    # Microseconds since the epoch when the event happened (not when a queued event is written).
    time: int = field(default_factory=_now_us)
    # A batch request is one event: ``digests`` holds each item's SHA-256 (32 bytes each, in item
    # order), ``count`` how many, and ``message_sha256`` is SHA-256 over ``digests``, which binds
    # them into the chain.
    count: int = 1
    digests: bytes | None = None


def batch_event(principal: str, action: str, item_sha256: list[bytes], **fields: Any) -> AuditEvent:
    digests = b"".join(item_sha256)
    return AuditEvent(
        principal,
        action,
        message_sha256=hashlib.sha256(digests).hexdigest(),
        count=len(item_sha256),
        digests=digests,
        **fields,
    )


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None


now_us = _now_us


def entry_hash(audit_key: bytes, prev_hash: str, fields: dict[str, Any]) -> str:
    return _chain_hash(audit_key, prev_hash, tuple(fields[name] for name in ENTRY_FIELDS))


def append(session: Session, audit_key: bytes, events: Sequence[AuditEvent]) -> None:
    """Append ``events`` in order inside the caller's ORM transaction (state changes)."""
    append_on(session.connection(), audit_key, events)


def append_on(conn: Connection, audit_key: bytes, events: Sequence[AuditEvent]) -> None:
    """Append ``events`` in order inside the caller's transaction.

    Plain DB-API ``executemany`` rather than the ORM: this runs for every signature batch and
    must cost little. The head row is locked first (``FOR UPDATE`` on PostgreSQL; on SQLite the
    write transaction's ``BEGIN IMMEDIATE`` already holds the database's write lock).
    """
    if not events:
        return
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    lock = "" if sqlite else " FOR UPDATE"
    # The SQL below is built only from constants (no caller data): S608 does not apply.
    seq, prev = conn.exec_driver_sql(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}").one()  # noqa: S608
    rows: list[tuple[Any, ...]] = []
    for event in events:
        seq += 1
        fields = (
            seq,
            event.time,
            event.principal,
            event.action,
            event.key_id,
            event.version,
            event.message_sha256,
            event.count,
            event.outcome,
        )
        digest = _chain_hash(audit_key, prev, fields)
        rows.append((*fields, event.digests, prev, digest))
        prev = digest
    columns = ", ".join(COLUMNS)
    marks = ", ".join([mark] * len(COLUMNS))
    insert = f"INSERT INTO audit_log ({columns}) VALUES ({marks})"  # noqa: S608
    conn.exec_driver_sql(insert, rows)
    conn.exec_driver_sql(f"UPDATE audit_head SET seq = {mark}, hash = {mark} WHERE id = 1", (seq, prev))  # noqa: S608


def _chain_hash(audit_key: bytes, prev_hash: str, fields: tuple[Any, ...]) -> str:
    return hmac.digest(audit_key, prev_hash.encode() + b"|" + orjson.dumps(fields), "sha256").hex()


def verify_entries(audit_key: bytes, entries: Iterable[AuditEntry], head: AuditHead) -> ChainReport:
    prev, expected_seq, count = GENESIS_HASH, 1, 0
    for entry in entries:
        fields = {name: getattr(entry, name) for name in ENTRY_FIELDS}
        if entry.seq != expected_seq:
            return ChainReport(False, count, expected_seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != prev:
            return ChainReport(False, count, entry.seq, "prev_hash does not match the previous entry")
        if not hmac.compare_digest(entry_hash(audit_key, prev, fields), entry.hash):
            return ChainReport(False, count, entry.seq, "entry was modified (hash mismatch)")
        if entry.digests is not None and not _digests_match(entry):
            return ChainReport(False, count, entry.seq, "batch digests were modified")
        prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    if head.seq != count or head.hash != prev:
        return ChainReport(False, count, count + 1, "entries after the last one were removed")
    return ChainReport(True, count)


def _digests_match(entry: AuditEntry) -> bool:
    digests = entry.digests or b""
    return len(digests) == 32 * entry.count and hashlib.sha256(digests).hexdigest() == entry.message_sha256


def verify_chain_in(session: Session, audit_key: bytes) -> ChainReport:
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    entries = session.execute(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=2000))
    return verify_entries(audit_key, entries.scalars(), head)


def read_entries_in(session: Session, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.execute(
        select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
    ).scalars()
    return [entry_to_dict(row) for row in rows]


def entry_to_dict(entry: AuditEntry) -> dict[str, Any]:
    out = {name: getattr(entry, name) for name in ENTRY_FIELDS}
    out["prev_hash"], out["hash"] = entry.prev_hash, entry.hash
    if entry.digests is not None:
        d = entry.digests
        out["item_sha256"] = [d[i : i + 32].hex() for i in range(0, len(d), 32)]
    return out


# --- offline access for `sigil audit show|verify --data-dir/--db` ---------------------------------


def _open_offline(db_url: str) -> tuple[Any, bytes]:
    from pathlib import Path

    from sigil.store.db import Database
    from sigil.store.masterkey import load_master_key
    from sigil.store.sealing import Sealer

    data_dir = Path(db_url.removeprefix("sqlite:///")).parent if db_url.startswith("sqlite") else Path(".")
    sealer = Sealer(load_master_key(data_dir, create=False))
    return Database(db_url), sealer.audit_key


def read_entries(db_url: str, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    from sigil.store.db import Database

    db = Database(db_url)
    try:
        with db.read() as session:
            return read_entries_in(session, after=after, limit=limit)
    finally:
        db.dispose()


def verify_chain(db_url: str) -> ChainReport:
    """Verify the chain straight from the database. Needs the master key (SIGIL_MASTER_KEY, or the
    data dir's master.key beside a SQLite file)."""
    db, audit_key = _open_offline(db_url)
    try:
        with db.read() as session:
            return verify_chain_in(session, audit_key)
    finally:
        db.dispose()


class AuditWriter:
    """Queues events from the request path and writes them in batches from one thread.

    ``record`` is a list append under a lock: the sign path never waits for the database. The
    thread flushes every ``interval`` seconds or as soon as ``batch`` events are waiting. If the
    process is killed hard, at most the last ``interval`` (0.2 s) of sign events can be lost; state
    changes never go through here (they are written with the change itself).
    """

    def __init__(
        self,
        write_batch: Callable[[Sequence[AuditEvent]], None],
        *,
        barrier: Callable[[], None] | None = None,
        interval: float = 0.2,
        batch: int = 2000,
    ) -> None:
        self._write_batch = write_batch
        self._barrier = barrier
        self._flush_lock = threading.Lock()  # one batch in flight at a time, in order
        self._interval = interval
        self._batch = batch
        self._pending: list[AuditEvent] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sigil-audit", daemon=True)
            self._thread.start()

    def record(self, event: AuditEvent) -> None:
        with self._lock:
            self._pending.append(event)
            if len(self._pending) >= self._batch:
                self._wake.set()

    def sync(self) -> None:
        """Flush, and return once everything queued so far is in the database (read-your-writes
        for the audit endpoints, even when a relay process does the writing)."""
        with self._flush_lock:
            self._flush_locked()
            if self._barrier is not None:
                self._barrier()

    def flush(self) -> None:
        with self._flush_lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        if not events:
            return
        for attempt in range(5):
            try:
                self._write_batch(events)
                self.written += len(events)
                return
            except Exception:  # a locked or restarting database: retry, then keep the events
                log.exception("audit batch write failed (attempt %d)", attempt + 1)
                time.sleep(0.2 * (attempt + 1))
        with self._lock:
            self._pending[:0] = events

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()
