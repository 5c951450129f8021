"""What the domain services share inside one worker process: the database, the sealer, the audit
writer, the change counter and the settings that shape behaviour."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sigil.store import audit
from sigil.store.audit import AuditEvent, AuditWriter
from sigil.store.audit_relay import RelayClient
from sigil.store.db import Database
from sigil.store.generation import Generation
from sigil.store.sealing import Sealer


@dataclass
class Limits:
    deletion_day_seconds: int = 86_400
    cache_ttl_seconds: float = 5.0
    max_batch_items: int = 1_000


class Context:
    def __init__(
        self,
        db: Database,
        sealer: Sealer,
        generation: Generation,
        limits: Limits,
        audit_relay: str | None = None,
    ) -> None:
        self.db = db
        self.sealer = sealer
        self.generation = generation
        self.limits = limits
        # With a relay (``sigil serve``), queued events go to the node's audit writer process;
        # without one (a single in-process app), this process appends them itself.
        self._relay = RelayClient(audit_relay, self.write_audit_batch) if audit_relay else None
        if self._relay is not None:
            self.audit = AuditWriter(self._relay.send, barrier=self._relay.barrier)
        else:
            self.audit = AuditWriter(self.write_audit_batch)

    def write_audit_batch(self, events: Sequence[AuditEvent]) -> None:
        with self.db.batch() as conn:
            audit.append_on(conn, self.sealer.audit_key, events)

    def close(self) -> None:
        self.audit.stop()
        if self._relay is not None:
            self._relay.close()
        self.db.dispose()
        self.generation.close()
