"""The MPC service of one worker process: wallets (DKG or dealt), pairings, signing sessions, locks.

Every step is one public method (STYLE.md §4). The shape of each:

1. parse what the caller sent into ``sigil.mpc`` messages (422 before anything is touched);
2. load the rows, check ownership (404 for another principal's), state, expiry and single use;
3. run the protocol step, with ``sigil.mpc`` checking every point, scalar and proof;
4. write the change and its audit entry in one transaction.

Sessions (keygen, pairing nonce, signing) are single-use: a keygen or signing session is consumed by
one conditional ``UPDATE ... WHERE consumed_at IS NULL AND expires_at > now`` in the transaction
that then computes the answer; if the step then fails (a forged proof, say), the transaction rolls
back, so a rejected message changes nothing stored and nothing secret has left the server. A
pairing is activated by one conditional ``UPDATE ... WHERE state = 'pending'`` after its proofs
check. Of any number of concurrent callers, on any worker or node, exactly one gets through.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sigil.errors import (
    BadRequest,
    NotFound,
    PairingLocked,
    SessionExpired,
    SessionUsed,
)
from sigil.keys.context import Context
from sigil.keys.model import Principal, iso_time
from sigil.mpc import shares, sign
from sigil.mpc.arith import Point, point_mul
from sigil.mpc.pairing import PairingContext, PairingRequest, ServerPairing, server_verify_pairing
from sigil.store.audit import now_us
from sigil.store.models import MpcPairing, MpcWallet
from sigil.wallets import records
from sigil.wallets.checks import REJECTED, mapped, parse
from sigil.wallets.config import MpcConfig
from sigil.wallets.events import append_ok, record_rejected
from sigil.wallets.keygen import Keygen
from sigil.wallets.params import LoadedParams, ParamsStore
from sigil.wallets.records import ACTIVE, LOCKED, PENDING
from sigil.wallets.rnpool import RnPool
from sigil.wallets.signing import Signing


class MpcService:
    def __init__(self, ctx: Context, config: MpcConfig | None = None, data_dir: Path | None = None) -> None:
        self.ctx = ctx
        self.config = config or MpcConfig.from_env()
        self.params = ParamsStore(ctx, self.config, data_dir)
        self.pool = RnPool(self.config.rn_pool_size)
        self.signing = Signing(ctx, self.config.session_ttl, self.pool)
        self.keygen = Keygen(ctx, self.config.session_ttl, self.params)
        self._params_body: bytes | None = None

    # --- parameters ------------------------------------------------------------------------------

    def public_params(self) -> bytes:
        """The ``GET /v1/mpc/params`` body, serialised once (it never changes; ~84 kB, mostly Π_prm)."""
        body = self._params_body
        if body is None:
            loaded = self.params.get()
            body = self._params_body = orjson.dumps(
                {
                    "curve": "secp256k1",
                    "server_params": loaded.public_json,
                    "transport_key_pem": loaded.transport_public_pem,
                }
            )
        return body

    # --- wallet creation: distributed keygen or dealer mode (``sigil.wallets.keygen``) -------------

    def start_keygen(self, principal: Principal) -> dict[str, Any]:
        return self.keygen.start(principal)

    def purge_keygen_sessions(self, *, now: int | None = None) -> int:
        """Delete keygen sessions that expired over an hour ago: ``Keygen.purge``."""
        return self.keygen.purge(now=now)

    def finish_keygen(
        self, principal: Principal, keygen_id: str, message: Any, label: str | None
    ) -> dict[str, Any]:
        return self.keygen.finish(principal, keygen_id, message, label)

    def create_dealt(
        self, principal: Principal, feldman: Any, encrypted_share: Any, label: str | None
    ) -> dict[str, Any]:
        return self.keygen.create_dealt(principal, feldman, encrypted_share, label)

    # --- reads -----------------------------------------------------------------------------------

    def list_wallets(self, principal: Principal) -> list[dict[str, Any]]:
        with self.ctx.db.read() as session:
            wallets = list(
                session.execute(
                    select(MpcWallet)
                    .where(MpcWallet.principal_id == principal.id)
                    .order_by(MpcWallet.created_at, MpcWallet.id)
                ).scalars()
            )
            pairings = self._pairings_of(session, [w.id for w in wallets])
        return [{**records.wallet_fields(w), "pairings": pairings.get(w.id, [])} for w in wallets]

    def get_wallet(self, principal: Principal, wallet_id: str) -> dict[str, Any]:
        records.checked_id(wallet_id, "wal_", "wallet")
        with self.ctx.db.read() as session:
            wallet = _owned_wallet(session.get(MpcWallet, wallet_id), principal, wallet_id)
            pairings = self._pairings_of(session, [wallet.id])
        return {**records.wallet_fields(wallet), "pairings": pairings.get(wallet.id, [])}

    @staticmethod
    def _pairings_of(session: Session, wallet_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        if wallet_ids:
            rows = session.execute(
                select(MpcPairing)
                .where(MpcPairing.wallet_id.in_(wallet_ids))
                .order_by(MpcPairing.created_at, MpcPairing.id)
            ).scalars()
            now = now_us()
            for p in rows:
                out.setdefault(p.wallet_id, []).append(records.pairing_fields(p, now))
        return out

    # --- pairing ---------------------------------------------------------------------------------

    def start_pairing(self, principal: Principal, wallet_id: str, client_index: int) -> dict[str, Any]:
        records.checked_id(wallet_id, "wal_", "wallet")
        if client_index not in records.CLIENT_INDEXES:
            raise BadRequest("client_index must be 1 (client) or 3 (backup)", code="validation_error")
        pairing_id, nonce, now = records.new_pairing_id(), secrets.token_bytes(32), now_us()
        expires = now + self.config.pairing_ttl * 1_000_000
        with self.ctx.db.write() as session:
            _owned_wallet(session.get(MpcWallet, wallet_id), principal, wallet_id)
            session.add(
                MpcPairing(
                    id=pairing_id,
                    wallet_id=wallet_id,
                    client_index=client_index,
                    nonce=nonce,
                    state=PENDING,
                    server_pairing=None,
                    nonce_expires_at=expires,
                    created_at=now,
                )
            )
            append_ok(self.ctx, session, principal, "mpc.pairing_start", pairing_id)
        return {"pairing_id": pairing_id, "nonce": nonce.hex(), "expires_at": iso_time(expires)}

    def finish_pairing(self, principal: Principal, pairing_id: str, request: Any) -> dict[str, Any]:
        records.checked_id(pairing_id, "pair_", "pairing")
        req = parse(PairingRequest.from_json, request, "request")
        with self.ctx.db.read() as session:
            pairing, wallet = self._owned_pairing(session, principal, pairing_id)
        _check_pending(pairing, now_us())
        params = self.params.get()
        # The proofs take a while (Π_mod, Π_fac, Π_log*): checked outside any transaction, and the
        # result stored only if the pairing is still pending and unexpired when we get back.
        try:
            server_pairing = self._verify_pairing(pairing, wallet, req, params)
        except REJECTED as exc:
            record_rejected(self.ctx, principal, "mpc.pairing_activate", pairing_id, exc)
            raise
        now = now_us()
        with self.ctx.db.write() as session:
            changed = session.execute(
                update(MpcPairing)
                .where(
                    MpcPairing.id == pairing_id,
                    MpcPairing.state == PENDING,
                    MpcPairing.nonce_expires_at > now,
                )
                .values(
                    state=ACTIVE,
                    server_pairing=orjson.dumps(server_pairing.to_json()).decode(),
                    activated_at=now,
                )
            ).rowcount  # type: ignore[attr-defined]
            if changed != 1:
                fresh = session.get(MpcPairing, pairing_id, populate_existing=True)
                assert fresh is not None
                _check_pending(fresh, now)
                raise SessionUsed("the pairing was completed by another request")
            append_ok(self.ctx, session, principal, "mpc.pairing_activate", pairing_id)
        self.pool.refill(pairing_id, req.paillier_n)
        return {"pairing_id": pairing_id, "state": ACTIVE, "wallet_id": wallet.id}

    def _verify_pairing(
        self, pairing: MpcPairing, wallet: MpcWallet, req: PairingRequest, params: LoadedParams
    ) -> ServerPairing:
        index = pairing.client_index
        pair = records.pair_of(index)
        with mapped():
            # W1 = λ_c · X_c: the client's additive share's public point, from public data only.
            w1_point = point_mul(records.public_share(wallet, index), shares.lagrange_at_zero(index, pair))
            context = PairingContext(
                wallet_id=wallet.id,
                pairing_id=pairing.id,
                nonce=pairing.nonce,
                client_index=index,
                public_key=Point.from_bytes(wallet.public_key),
            )
            return server_verify_pairing(context, req, w1_point, params.server_params)

    def lock_pairing(self, principal: Principal, pairing_id: str, reason: str | None) -> dict[str, Any]:
        records.checked_id(pairing_id, "pair_", "pairing")
        reason = (reason or "client reported a signature that does not verify")[: records.MAX_LABEL]
        with self.ctx.db.write() as session:
            pairing, _wallet = self._owned_pairing(session, principal, pairing_id)
            if pairing.state != LOCKED:
                pairing.state, pairing.locked_at, pairing.lock_reason = LOCKED, now_us(), reason
                append_ok(self.ctx, session, principal, "mpc.pairing_lock", pairing_id)
        self.signing.forget(pairing_id)
        return {"pairing_id": pairing_id, "state": LOCKED}

    # --- signing ---------------------------------------------------------------------------------

    def start_sign(self, principal: Principal, pairing_id: str, message_hash: bytes) -> dict[str, Any]:
        records.checked_id(pairing_id, "pair_", "pairing")
        if len(message_hash) != 32:
            raise BadRequest("message_hash must be 32 bytes (64 hex characters)", code="validation_error")
        return self.signing.start(principal, pairing_id, message_hash)

    def respond(self, principal: Principal, session_id: str, nonce: Any) -> dict[str, Any]:
        records.checked_session_id(session_id)
        msg = parse(sign.ClientNonce.from_json, nonce, "nonce")
        try:
            _pairing_id, out = self.signing.respond(principal, session_id, msg)
        except REJECTED as exc:
            record_rejected(self.ctx, principal, "mpc.sign", session_id, exc)
            raise
        return out

    # --- helpers ---------------------------------------------------------------------------------

    def _owned_pairing(
        self, session: Session, principal: Principal, pairing_id: str
    ) -> tuple[MpcPairing, MpcWallet]:
        pairing = session.get(MpcPairing, pairing_id)
        wallet = session.get(MpcWallet, pairing.wallet_id) if pairing is not None else None
        if pairing is None or wallet is None or wallet.principal_id != principal.id:
            raise NotFound(f"no pairing {pairing_id!r}")
        return pairing, wallet


# --- checks (each raises the matching error) ---------------------------------------------------------


def _owned_wallet(wallet: MpcWallet | None, principal: Principal, wallet_id: str) -> MpcWallet:
    if wallet is None or wallet.principal_id != principal.id:
        raise NotFound(f"no wallet {wallet_id!r}")
    return wallet


def _check_pending(pairing: MpcPairing, now: int) -> None:
    if pairing.state == LOCKED:
        raise PairingLocked("the pairing is locked")
    if pairing.state != PENDING:
        raise SessionUsed("the pairing is already complete")
    if pairing.nonce_expires_at <= now:
        raise SessionExpired("the pairing nonce has expired; start a new pairing")
