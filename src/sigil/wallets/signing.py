"""The two signing rounds on the server (Lindell 2017 §4 as in docs/mpc.md): the hot path.

Round 1 (``start``) stores a session row: the server's sealed nonce state (k2, R2, its proof and
opening) and the commitment it answers with. Round 2 (``respond``) consumes that row with one
``UPDATE ... WHERE consumed_at IS NULL AND expires_at > now RETURNING ...`` and computes c3 in the
same transaction: of any number of concurrent posts, on any worker or node, exactly one gets a row
back; if the client's message is then refused, the transaction rolls back and nothing changed.

Both rounds are plain SQL through the DB-API (``sigil.auth.sql``), one round trip per statement, no
ORM. Durability differs on purpose:

- round 1 commits without waiting for the disk (SQLite ``synchronous=NORMAL``, PostgreSQL
  ``synchronous_commit = off``): a session lost in a power cut only makes the client start again;
- round 2 keeps full durability. The consumption must be on disk before c3 leaves: if a power cut
  forgot it, the same k2 could answer a second R1, and two c3 under one k2 give the client the key.

What signing needs from an active pairing (its ``ServerPairing`` and w2 = λ·x2) never changes, so
each worker keeps it; the pairing's state, which can become ``locked`` at any moment on any node,
is read in every round-2 transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from sigil.auth import sql
from sigil.errors import NotFound, SessionExpired, SessionUsed, TamperedData
from sigil.keys.context import Context
from sigil.keys.model import Principal, iso_time
from sigil.mpc import arith, shares, sign
from sigil.mpc import errors as mpc_errors
from sigil.mpc.pairing import ServerPairing
from sigil.store import audit
from sigil.store.audit import AuditEvent, now_us
from sigil.wallets import records
from sigil.wallets.checks import mapped
from sigil.wallets.records import ACTIVE, LOCKED
from sigil.wallets.rnpool import RnPool

_CACHE_LIMIT = 10_000

_PAIRING = (
    "SELECT p.state, p.client_index, p.server_pairing, w.id, w.principal_id, w.sealed_share"
    " FROM mpc_pairings p JOIN mpc_wallets w ON w.id = p.wallet_id WHERE p.id = {m}"
)
_PAIRING_STATE = "SELECT state FROM mpc_pairings WHERE id = {m}"
_INSERT = (
    "INSERT INTO mpc_sign_sessions"
    " (id, pairing_id, principal_id, message_hash, sealed_state, commitment, expires_at, consumed_at,"
    " created_at)"
    " VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, NULL, {m})"
)
# The single-use guarantee (DESIGN.md, invariants): only one UPDATE can see consumed_at IS NULL.
_CONSUME = (
    "UPDATE mpc_sign_sessions SET consumed_at = {m}"
    " WHERE id = {m} AND principal_id = {m} AND consumed_at IS NULL AND expires_at > {m}"
    " RETURNING pairing_id, message_hash, sealed_state"
)
_SESSION = "SELECT principal_id, consumed_at, expires_at FROM mpc_sign_sessions WHERE id = {m}"
_PURGE = "DELETE FROM mpc_sign_sessions WHERE expires_at < {m}"
PURGE_EVERY = 1_000  # round-1 calls per worker between two purges of long-expired sessions
PURGE_AFTER_US = 3_600 * 1_000_000


@dataclass(frozen=True)
class PairingMaterial:
    server_pairing: ServerPairing
    w2: int  # λ·x2 for this pair
    n: int
    wallet_id: str
    principal_id: str


class Signing:
    def __init__(self, ctx: Context, session_ttl: int, pool: RnPool) -> None:
        self._ctx = ctx
        self._ttl_us = session_ttl * 1_000_000
        self.pool = pool
        self._material: dict[str, PairingMaterial] = {}
        self._starts = 0

    def forget(self, pairing_id: str) -> None:
        self._material.pop(pairing_id, None)

    # --- round 1 ---------------------------------------------------------------------------------

    def start(self, principal: Principal, pairing_id: str, message_hash: bytes) -> dict[str, Any]:
        session_id = sign_session_id()
        sid, now = session_id.hex(), now_us()
        expires = now + self._ttl_us
        with self._ctx.db.batch() as conn:
            _relaxed_durability(conn)
            material = self._active(conn, principal, pairing_id)
            ctx = sign.SignContext(
                session_id=session_id,
                pairing_id=pairing_id,
                wallet_id=material.wallet_id,
                message_hash=message_hash,
            )
            state, commitment = sign.server_sign_commit(ctx)
            commitment_json = commitment.to_json()
            sealed = self._ctx.sealer.seal(
                orjson.dumps(state.to_json()), aad=records.sign_state_aad(sid, pairing_id)
            )
            sql.count(
                conn,
                _INSERT,
                (sid, pairing_id, principal.id, message_hash, sealed, orjson.dumps(commitment_json).decode(),
                 expires, now),
            )  # fmt: skip
            self._audit(conn, principal, "mpc.sign_start", pairing_id, message_hash)
        if self.pool.size(pairing_id, material.n) == 0:
            self.pool.refill(pairing_id, material.n)
        self._starts += 1
        if self._starts % PURGE_EVERY == 0:
            self.purge()
        return {"session_id": sid, "commitment": commitment_json, "expires_at": iso_time(expires)}

    def _active(self, conn: Connection, principal: Principal, pairing_id: str) -> PairingMaterial:
        row = sql.first(conn, _PAIRING, (pairing_id,))
        if row is None or row[4] != principal.id:
            raise NotFound(f"no pairing {pairing_id!r}")
        check_active(row[0])
        return self._load_material(pairing_id, row)

    def _load_material(self, pairing_id: str, row: tuple[Any, ...]) -> PairingMaterial:
        found = self._material.get(pairing_id)
        if found is not None:
            return found
        _state, client_index, server_json, wallet_id, principal_id, sealed_share = row
        server_pairing = ServerPairing.from_json(orjson.loads(server_json))
        x2 = int.from_bytes(
            self._ctx.sealer.open(bytes(sealed_share), aad=records.share_aad(wallet_id)), "big"
        )
        w2 = shares.additive_share(records.SERVER_INDEX, x2, records.pair_of(client_index))
        if not _matches_wallet(server_pairing, w2):
            # W1 + w2·G must be the wallet key, or every signature would fail the client's check and
            # lock the user's pairing: a damaged row is the server's fault, said as such (500).
            raise TamperedData("the server's share does not match this pairing's public key")
        material = PairingMaterial(
            server_pairing=server_pairing,
            w2=w2,
            n=server_pairing.paillier_n,
            wallet_id=wallet_id,
            principal_id=principal_id,
        )
        if len(self._material) >= _CACHE_LIMIT:
            self._material.clear()
        self._material[pairing_id] = material
        return material

    def purge(self, *, now: int | None = None) -> int:
        """Delete signing sessions that expired over an hour ago (used or not: they can do nothing)."""
        with self._ctx.db.batch() as conn:
            return sql.count(conn, _PURGE, ((now_us() if now is None else now) - PURGE_AFTER_US,))

    # --- round 2 ---------------------------------------------------------------------------------

    def respond(self, principal: Principal, session_id: str, nonce: Any) -> tuple[str, dict[str, Any]]:
        """(pairing id, ``{reveal}``). ``nonce`` is an already parsed ``sign.ClientNonce``."""
        now = now_us()
        with self._ctx.db.write_engine.begin() as conn:
            # Consumed before c3 is computed; rolled back with everything else if the step fails.
            row = sql.first(conn, _CONSUME, (now, session_id, principal.id, now))
            if row is None:
                raise self._why_not(conn, principal, session_id, now)
            pairing_id, message_hash, sealed = row[0], bytes(row[1]), bytes(row[2])
            found = sql.first(conn, _PAIRING_STATE, (pairing_id,))
            check_active(found[0] if found else LOCKED)
            material = self._material.get(pairing_id) or self._load_material(
                pairing_id, sql.first(conn, _PAIRING, (pairing_id,)) or ()
            )
            raw = self._ctx.sealer.open(sealed, aad=records.sign_state_aad(session_id, pairing_id))
            state = sign.ServerSignState.from_json(orjson.loads(raw))
            rn = self.pool.take(pairing_id, material.n)
            with mapped():
                try:
                    reveal = sign.server_sign_respond(
                        state, nonce, material.server_pairing, material.w2, rn=rn
                    )
                except mpc_errors.InvalidShare:  # the server's own data, not the caller's message
                    raise TamperedData(
                        "the server's share does not match this pairing's public key"
                    ) from None
            self._audit(conn, principal, "mpc.sign", pairing_id, message_hash)
        self.pool.refill(pairing_id, material.n)
        return pairing_id, {"reveal": reveal.to_json()}

    @staticmethod
    def _why_not(conn: Connection, principal: Principal, session_id: str, now: int) -> Exception:
        row = sql.first(conn, _SESSION, (session_id,))
        if row is None or row[0] != principal.id:
            return NotFound(f"no signing session {session_id!r}")
        if row[1] is not None:
            return SessionUsed("the signing session has already been used")
        if int(row[2]) <= now:
            return SessionExpired("the signing session has expired")
        return SessionUsed("the signing session has already been used")

    def _audit(
        self, conn: Connection, principal: Principal, action: str, pairing_id: str, message_hash: bytes
    ) -> None:
        event = AuditEvent(principal.name, action, key_id=pairing_id, message_sha256=message_hash.hex())
        audit.append_on(conn, self._ctx.sealer.audit_key, [event])


def _matches_wallet(server_pairing: ServerPairing, w2: int) -> bool:
    try:
        return server_pairing.w1_point + arith.base_mul(w2) == server_pairing.context.public_key
    except mpc_errors.MpcError:  # w2 = 0, or a sum at infinity: not the wallet key either
        return False


def sign_session_id() -> bytes:
    import secrets

    return secrets.token_bytes(records.SESSION_ID_BYTES)


def check_active(state: str) -> None:
    from sigil.errors import PairingLocked, PairingNotActive

    if state == LOCKED:
        raise PairingLocked(
            "the pairing is locked (a signature failed to verify); pair again, or sign with the backup share"
        )
    if state != ACTIVE:
        raise PairingNotActive("the pairing has not been completed")


def _relaxed_durability(conn: Connection) -> None:
    """Round 1 only: commit without waiting for the disk (see the module docstring). SQLite's batch
    engine already runs with synchronous=NORMAL; PostgreSQL is told for this transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
