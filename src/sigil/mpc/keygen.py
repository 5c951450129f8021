"""Two ways to a 2-of-3 wallet: a client-side dealer, or a two-party distributed key generation (DKG).

Dealer (the seed design): the client runs :func:`sigil.mpc.shares.deal`, keeps shares 1 and 3, and sends the
server its Feldman commitments and share 2 sealed to the server's transport key, with :func:`dealer_aad` as
the associated data (so a sealed share only opens for the wallet it was dealt for). The server checks it with
:func:`server_accept_dealt`. The full key exists on the client for the duration of the deal.

DKG (the full key never exists on any machine): each side picks its own degree-1 polynomial, f_s for the
server and f_c for the client, and the wallet's polynomial is f = f_c + f_s (Pedersen, "A threshold
cryptosystem without a trusted party", EUROCRYPT 1991, with Feldman commitments). Two round trips, in the
order that prevents either side from choosing its polynomial after seeing the other's:

1. server → client  ``DkgCommitment``: a hash commitment to (Feldman_s, Schnorr proof of s0).
2. client → server  ``DkgClientMessage``: Feldman_c, Schnorr proof of c0 (bound to the server's commitment),
   f_c(2) (the server's part of its share).
3. server → client  ``DkgServerMessage``: the opening, Feldman_s, the proof, f_s(1) and f_s(3).

The server checks the client's proof and f_c(2) against Feldman_c before it opens anything; the client checks
the opening, the server's proof, and f_s(1), f_s(3) against Feldman_s. Committing first is what Gennaro,
Jarecki, Krawczyk and Rabin (EUROCRYPT 1999, "Secure distributed key generation for discrete-log based
cryptosystems") show plain Pedersen DKG lacks: without it the last party to speak can bias the public key.
The proofs of knowledge of the constant terms stop a rogue-key choice C_c0 = X − C_s0.

Shares: x1 = f_c(1) + f_s(1) (client), x2 = f_c(2) + f_s(2) (server), x3 = f_c(3) + f_s(3) (backup, which the
client exports sealed under a passphrase and is expected to move off the device).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sigil.mpc import arith
from sigil.mpc.arith import Q
from sigil.mpc.commit import OPENING_BYTES, check_opening, commit
from sigil.mpc.encoding import (
    bytes_to_hex,
    int_to_hex,
    read_bytes,
    read_obj,
    read_scalar,
    require_obj,
)
from sigil.mpc.errors import InvalidMessage, InvalidShare
from sigil.mpc.proofs.schnorr import SchnorrProof, prove_dlog, verify_dlog
from sigil.mpc.shares import BACKUP, CLIENT, SERVER, Feldman, WalletPublic, verify_share
from sigil.mpc.transcript import Transcript

__all__ = [
    "ClientDkgState",
    "DealerShare",
    "DkgClientMessage",
    "DkgCommitment",
    "DkgServerMessage",
    "ServerDkgState",
    "client_dkg_finish",
    "client_dkg_round",
    "dealer_aad",
    "server_accept_dealt",
    "server_dkg_finish",
    "server_dkg_start",
]

_PROTOCOL = "sigil/mpc/dkg/v1"
_COMMIT_LABEL = "sigil/mpc/dkg/server/v1"
_MAX_SESSION_ID = 64


# --- dealer -----------------------------------------------------------------------------------------


def dealer_aad(commitments: Feldman) -> bytes:
    """Associated data for sealing share 2: the wallet's Feldman commitments (its identity before an id)."""
    return b"sigil/mpc/dealer-share/v1" + commitments.c0.to_bytes() + commitments.c1.to_bytes()


@dataclass(frozen=True)
class DealerShare:
    """Client → server in dealer mode: the commitments and share 2 sealed by ``transport.seal_share``."""

    feldman: Feldman
    encrypted_share: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"feldman": self.feldman.to_json(), "encrypted_share": self.encrypted_share}

    @classmethod
    def from_json(cls, d: Any) -> DealerShare:
        obj = require_obj(d, "dealer share")
        return cls(Feldman.from_json(read_obj(obj, "feldman")), read_obj(obj, "encrypted_share"))


def server_accept_dealt(feldman: Feldman, share2: int) -> tuple[WalletPublic, int]:
    """Feldman's check of the server's share; (wallet public data, x2). InvalidShare if it does not match."""
    verify_share(SERVER, share2, feldman)
    return WalletPublic.from_feldman(feldman), share2


# --- messages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DkgCommitment:
    """Server → client, round 1: H(session, Feldman_s, proof_s, opening)."""

    commitment: bytes

    def to_json(self) -> dict[str, Any]:
        return {"commitment": bytes_to_hex(self.commitment)}

    @classmethod
    def from_json(cls, d: Any) -> DkgCommitment:
        return cls(read_bytes(require_obj(d, "commitment"), "commitment", 32))


@dataclass(frozen=True)
class DkgClientMessage:
    """Client → server, round 2: the client's Feldman commitments, its proof of c0, and f_c(2)."""

    feldman: Feldman
    proof: SchnorrProof
    share_for_server: int

    def to_json(self) -> dict[str, Any]:
        return {
            "feldman": self.feldman.to_json(),
            "proof": self.proof.to_json(),
            "share_for_server": int_to_hex(self.share_for_server),
        }

    @classmethod
    def from_json(cls, d: Any) -> DkgClientMessage:
        obj = require_obj(d, "message")
        return cls(
            Feldman.from_json(read_obj(obj, "feldman")),
            SchnorrProof.from_json(read_obj(obj, "proof")),
            read_scalar(obj, "share_for_server"),
        )


@dataclass(frozen=True)
class DkgServerMessage:
    """Server → client, round 3: the opening of the round-1 commitment, and f_s(1), f_s(3)."""

    opening: bytes
    feldman: Feldman
    proof: SchnorrProof
    share_for_client: int
    share_for_backup: int

    def to_json(self) -> dict[str, Any]:
        return {
            "opening": bytes_to_hex(self.opening),
            "feldman": self.feldman.to_json(),
            "proof": self.proof.to_json(),
            "share_for_client": int_to_hex(self.share_for_client),
            "share_for_backup": int_to_hex(self.share_for_backup),
        }

    @classmethod
    def from_json(cls, d: Any) -> DkgServerMessage:
        obj = require_obj(d, "message")
        return cls(
            read_bytes(obj, "opening", OPENING_BYTES),
            Feldman.from_json(read_obj(obj, "feldman")),
            SchnorrProof.from_json(read_obj(obj, "proof")),
            read_scalar(obj, "share_for_client"),
            read_scalar(obj, "share_for_backup"),
        )


# --- states ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerDkgState:
    """What the server keeps (sealed) between rounds 1 and 3; the coefficients and the opening are secret."""

    session_id: bytes
    coefficients: tuple[int, int] = field(repr=False)  # (s0, s1)
    feldman: Feldman
    proof: SchnorrProof
    commitment: bytes
    opening: bytes = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "session_id": bytes_to_hex(self.session_id),
            "s0": int_to_hex(self.coefficients[0]),
            "s1": int_to_hex(self.coefficients[1]),
            "feldman": self.feldman.to_json(),
            "proof": self.proof.to_json(),
            "commitment": bytes_to_hex(self.commitment),
            "opening": bytes_to_hex(self.opening),
        }

    @classmethod
    def from_json(cls, d: Any) -> ServerDkgState:
        obj = _versioned(d, "server DKG state")
        return cls(
            _session_id(obj),
            (read_scalar(obj, "s0"), read_scalar(obj, "s1")),
            Feldman.from_json(read_obj(obj, "feldman")),
            SchnorrProof.from_json(read_obj(obj, "proof")),
            read_bytes(obj, "commitment", 32),
            read_bytes(obj, "opening", OPENING_BYTES),
        )


@dataclass(frozen=True)
class ClientDkgState:
    """What the client keeps between rounds 2 and 3; its coefficients are secret."""

    session_id: bytes
    server_commitment: bytes
    coefficients: tuple[int, int] = field(repr=False)  # (c0, c1)
    feldman: Feldman

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "session_id": bytes_to_hex(self.session_id),
            "server_commitment": bytes_to_hex(self.server_commitment),
            "c0": int_to_hex(self.coefficients[0]),
            "c1": int_to_hex(self.coefficients[1]),
            "feldman": self.feldman.to_json(),
        }

    @classmethod
    def from_json(cls, d: Any) -> ClientDkgState:
        obj = _versioned(d, "client DKG state")
        return cls(
            _session_id(obj),
            read_bytes(obj, "server_commitment", 32),
            (read_scalar(obj, "c0"), read_scalar(obj, "c1")),
            Feldman.from_json(read_obj(obj, "feldman")),
        )


def _versioned(d: Any, what: str) -> dict[str, Any]:
    obj = require_obj(d, what)
    if obj.get("version") != 1:
        raise InvalidMessage(f"{what}: unknown version")
    return obj


def _session_id(obj: dict[str, Any]) -> bytes:
    sid = read_bytes(obj, "session_id")
    _check_session_id(sid)
    return sid


def _check_session_id(session_id: bytes) -> None:
    if not isinstance(session_id, bytes) or not 16 <= len(session_id) <= _MAX_SESSION_ID:
        raise InvalidMessage(f"session_id must be 16 to {_MAX_SESSION_ID} bytes")


# --- DKG steps --------------------------------------------------------------------------------------


def _transcript(session_id: bytes, party: str, feldman: Feldman) -> Transcript:
    t = Transcript(_PROTOCOL)
    t.append("session_id", session_id)
    t.append("party", party)
    t.append("c0", feldman.c0)
    t.append("c1", feldman.c1)
    return t


def _commit_parts(feldman: Feldman, proof: SchnorrProof) -> tuple[bytes, ...]:
    return (feldman.c0.to_bytes(), feldman.c1.to_bytes(), proof.to_bytes())


def _eval(coefficients: tuple[int, int], x: int) -> int:
    return (coefficients[0] + coefficients[1] * x) % Q


def _polynomial() -> tuple[tuple[int, int], Feldman]:
    """A random f(x) = a0 + a1·x whose values at 1, 2, 3 are non-zero, and its Feldman commitments."""
    while True:
        a0, a1 = arith.random_scalar(), arith.random_scalar()
        if all(_eval((a0, a1), i) for i in (CLIENT, SERVER, BACKUP)):
            return (a0, a1), Feldman(arith.base_mul(a0), arith.base_mul(a1))


def server_dkg_start(session_id: bytes) -> tuple[ServerDkgState, DkgCommitment]:
    """Round 1 (server): pick f_s, prove s0, commit to both."""
    _check_session_id(session_id)
    coefficients, feldman = _polynomial()
    proof = prove_dlog(coefficients[0], feldman.c0, _transcript(session_id, "server", feldman))
    commitment, opening = commit(session_id, _COMMIT_LABEL, *_commit_parts(feldman, proof))
    state = ServerDkgState(session_id, coefficients, feldman, proof, commitment, opening)
    return state, DkgCommitment(commitment)


def _client_transcript(session_id: bytes, server_commitment: bytes, feldman: Feldman) -> Transcript:
    t = _transcript(session_id, "client", feldman)
    t.append("server_commitment", server_commitment)
    return t


def client_dkg_round(session_id: bytes, commitment: DkgCommitment) -> tuple[ClientDkgState, DkgClientMessage]:
    """Round 2 (client): pick f_c after the server is committed, prove c0, send f_c(2)."""
    _check_session_id(session_id)
    coefficients, feldman = _polynomial()
    transcript = _client_transcript(session_id, commitment.commitment, feldman)
    proof = prove_dlog(coefficients[0], feldman.c0, transcript)
    state = ClientDkgState(session_id, commitment.commitment, coefficients, feldman)
    return state, DkgClientMessage(feldman, proof, _eval(coefficients, SERVER))


def _combine(a: Feldman, b: Feldman) -> WalletPublic:
    return WalletPublic.from_feldman(Feldman(a.c0 + b.c0, a.c1 + b.c1))


def server_dkg_finish(
    state: ServerDkgState, msg: DkgClientMessage
) -> tuple[WalletPublic, int, DkgServerMessage]:
    """Round 3 (server): check the client's proof and f_c(2), then open; (wallet public, x2, reply)."""
    transcript = _client_transcript(state.session_id, state.commitment, msg.feldman)
    verify_dlog(msg.feldman.c0, msg.proof, transcript)
    verify_share(SERVER, msg.share_for_server, msg.feldman)
    x2 = (msg.share_for_server + _eval(state.coefficients, SERVER)) % Q
    if x2 == 0:  # probability 1/q; no public point for it
        raise InvalidShare("the combined server share is zero; start a new keygen")
    public = _combine(msg.feldman, state.feldman)
    reply = DkgServerMessage(
        state.opening,
        state.feldman,
        state.proof,
        _eval(state.coefficients, CLIENT),
        _eval(state.coefficients, BACKUP),
    )
    return public, x2, reply


def client_dkg_finish(state: ClientDkgState, msg: DkgServerMessage) -> tuple[WalletPublic, int, int]:
    """Round 3 (client): check the opening, the server's proof and f_s(1), f_s(3); (wallet public, x1, x3)."""
    check_opening(
        state.server_commitment,
        msg.opening,
        state.session_id,
        _COMMIT_LABEL,
        *_commit_parts(msg.feldman, msg.proof),
    )
    verify_dlog(msg.feldman.c0, msg.proof, _transcript(state.session_id, "server", msg.feldman))
    verify_share(CLIENT, msg.share_for_client, msg.feldman)
    verify_share(BACKUP, msg.share_for_backup, msg.feldman)
    x1 = (_eval(state.coefficients, CLIENT) + msg.share_for_client) % Q
    x3 = (_eval(state.coefficients, BACKUP) + msg.share_for_backup) % Q
    if x1 == 0 or x3 == 0:
        raise InvalidShare("a combined share is zero; start a new keygen")
    public = _combine(state.feldman, msg.feldman)
    # Both shares lie on the combined polynomial (true by construction; cheap, and catches bugs).
    if (
        arith.base_mul(x1) != public.public_shares[CLIENT]
        or arith.base_mul(x3) != public.public_shares[BACKUP]
    ):
        raise InvalidShare("the combined shares do not match the combined commitments")
    return public, x1, x3
