"""The audit entries of the MPC server side that wallet creation and pairing share (signing writes
its own, on a raw connection and with the message hash)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from sigil.errors import SigilError
from sigil.keys.context import Context
from sigil.keys.model import Principal
from sigil.store import audit
from sigil.store.audit import AuditEvent


def append_ok(ctx: Context, session: Session, principal: Principal, action: str, subject: str) -> None:
    """A state change's entry, in the transaction that makes the change."""
    event = AuditEvent(principal.name, action, outcome="ok", key_id=subject)
    audit.append(session, ctx.sealer.audit_key, [event])


def record_rejected(ctx: Context, principal: Principal, action: str, subject: str, exc: SigilError) -> None:
    """A protocol message that was refused: queued for the audit log (outcome = its code), for
    whoever watches for forged proofs. Stored state is untouched: the transaction that would have
    used the message rolls back."""
    ctx.audit.record(AuditEvent(principal.name, action, outcome=exc.code, key_id=subject[:40]))
