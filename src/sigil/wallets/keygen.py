"""Wallet creation on the server: distributed keygen (two steps over a single-use session) or a
wallet dealt by the client (one step).

Keygen round 1 (``start``) stores the server's sealed DKG state in a session row; round 2
(``finish``) consumes that row with one conditional ``UPDATE`` and finishes the DKG in the same
transaction, so a refused message rolls the consumption back. Both modes store the server's share
sealed to its wallet id, with the wallet's audit entry in the same transaction.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from sigil.errors import BadRequest, NotFound, SessionExpired, SessionUsed
from sigil.keys.context import Context
from sigil.keys.model import Principal, iso_time
from sigil.mpc import keygen, shares
from sigil.store.audit import now_us
from sigil.store.models import MpcKeygenSession, MpcWallet
from sigil.wallets import records
from sigil.wallets.checks import REJECTED, mapped, parse
from sigil.wallets.events import append_ok, record_rejected
from sigil.wallets.params import ParamsStore
from sigil.wallets.signing import PURGE_AFTER_US, PURGE_EVERY


class Keygen:
    def __init__(self, ctx: Context, session_ttl: int, params: ParamsStore) -> None:
        self._ctx = ctx
        self._ttl_us = session_ttl * 1_000_000
        self._params = params
        self._starts = 0

    # --- distributed keygen ----------------------------------------------------------------------

    def start(self, principal: Principal) -> dict[str, Any]:
        session_id = secrets.token_bytes(records.SESSION_ID_BYTES)
        state, commitment = keygen.server_dkg_start(session_id)
        keygen_id, now = records.new_keygen_id(), now_us()
        expires = now + self._ttl_us
        sealed = self._ctx.sealer.seal(
            orjson.dumps(state.to_json()), aad=records.keygen_state_aad(keygen_id, principal.id)
        )
        with self._ctx.db.write() as session:
            session.add(
                MpcKeygenSession(
                    id=keygen_id,
                    principal_id=principal.id,
                    session_id=session_id,
                    sealed_state=sealed,
                    expires_at=expires,
                    consumed_at=None,
                    created_at=now,
                )
            )
            append_ok(self._ctx, session, principal, "mpc.keygen_start", keygen_id)
        self._starts += 1
        if self._starts % PURGE_EVERY == 0:
            self.purge()
        return {
            "keygen_id": keygen_id,
            "session_id": session_id.hex(),
            "commitment": commitment.to_json(),
            "expires_at": iso_time(expires),
        }

    def purge(self, *, now: int | None = None) -> int:
        """Delete keygen sessions that expired over an hour ago (used or not, they can do nothing:
        the wallet a finished one made is its own row). Signing sessions: ``Signing.purge``."""
        cutoff = (now_us() if now is None else now) - PURGE_AFTER_US
        with self._ctx.db.write() as session:
            gone = session.execute(delete(MpcKeygenSession).where(MpcKeygenSession.expires_at < cutoff))
            return int(gone.rowcount)  # type: ignore[attr-defined]

    def finish(self, principal: Principal, keygen_id: str, message: Any, label: str | None) -> dict[str, Any]:
        records.checked_id(keygen_id, "kg_", "keygen session")
        msg = parse(keygen.DkgClientMessage.from_json, message, "message")
        _check_label(label)
        now = now_us()
        with self._ctx.db.write() as session:
            row = session.get(MpcKeygenSession, keygen_id)
            if row is None or row.principal_id != principal.id:
                raise NotFound(f"no keygen session {keygen_id!r}")
            _consume(session, MpcKeygenSession, row.id, row.consumed_at, row.expires_at, now)
            raw = self._ctx.sealer.open(row.sealed_state, aad=records.keygen_state_aad(row.id, principal.id))
            state = keygen.ServerDkgState.from_json(orjson.loads(raw))
            try:
                with mapped():
                    public, x2, reply = keygen.server_dkg_finish(state, msg)
            except REJECTED as exc:
                record_rejected(self._ctx, principal, "mpc.wallet_create", keygen_id, exc)
                raise
            wallet = self._add_wallet(session, principal, public, x2, records.MODE_DKG, label, now)
            append_ok(self._ctx, session, principal, "mpc.wallet_create", wallet.id)
            out = records.wallet_fields(wallet)
        return {**out, "message": reply.to_json()}

    # --- dealer mode -----------------------------------------------------------------------------

    def create_dealt(
        self, principal: Principal, feldman: Any, encrypted_share: Any, label: str | None
    ) -> dict[str, Any]:
        commitments = parse(shares.Feldman.from_json, feldman, "feldman")
        if not isinstance(encrypted_share, dict):
            raise BadRequest("encrypted_share must be a JSON object", code="mpc_invalid_message")
        _check_label(label)
        from sigil.mpc import transport  # CPython only (``cryptography``)

        loaded = self._params.get()
        private = loaded.transport_private_key(self._ctx.sealer)
        with mapped():
            share2 = transport.open_share(private, encrypted_share, keygen.dealer_aad(commitments))
            public, x2 = keygen.server_accept_dealt(commitments, share2)
        now = now_us()
        with self._ctx.db.write() as session:
            wallet = self._add_wallet(session, principal, public, x2, records.MODE_DEALER, label, now)
            append_ok(self._ctx, session, principal, "mpc.wallet_create", wallet.id)
            return records.wallet_fields(wallet)

    # --- helpers ---------------------------------------------------------------------------------

    def _add_wallet(
        self,
        session: Session,
        principal: Principal,
        public: Any,
        x2: int,
        mode: str,
        label: str | None,
        now: int,
    ) -> MpcWallet:
        wallet_id = records.new_wallet_id()
        wallet = MpcWallet(
            id=wallet_id,
            principal_id=principal.id,
            mode=mode,
            public_key=public.public_key.to_bytes(),
            public_shares=records.shares_json(public.public_shares),
            sealed_share=self._ctx.sealer.seal(records.scalar_bytes(x2), aad=records.share_aad(wallet_id)),
            label=label,
            created_at=now,
        )
        session.add(wallet)
        session.flush()
        return wallet


# --- checks (each raises the matching error) ---------------------------------------------------------


def _check_label(label: str | None) -> None:
    if label is not None and len(label) > records.MAX_LABEL:
        raise BadRequest(f"label is longer than {records.MAX_LABEL} characters", code="validation_error")


def _consume(
    session: Session, model: Any, row_id: str, consumed_at: int | None, expires_at: int, now: int
) -> None:
    """Mark a keygen session used: one conditional UPDATE that only one caller can win."""
    if consumed_at is not None:
        raise SessionUsed("the session has already been used")
    if expires_at <= now:
        raise SessionExpired("the session has expired")
    result = session.execute(
        update(model)
        .where(model.id == row_id, model.consumed_at.is_(None), model.expires_at > now)
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise SessionUsed("the session has already been used")
