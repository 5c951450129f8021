"""Two-party ECDSA signing, Lindell 2017 (CRYPTO 2017, ePrint 2017/552, Protocol 3.2), in two round trips.

P1 = the client: it holds the Paillier key and w1; P2 = the server: it holds w2 and c_key = Enc(w1) from the
pairing. w1 + w2 = x, the private key (additive shares of the signing pair, :func:`shares.additive_share`),
so P2's ciphertext is the additive-share form of Lindell's step 4:

    c3 = Enc(ρ·q + k2⁻¹·(m + r·w2) mod q) ⊕ c_key ⊙ (k2⁻¹·r mod q)   →   Dec(c3) ≡ k2⁻¹·(m + r·x) (mod q)

Messages (the server commits first, so both HTTP calls are client → server):

1. server → client ``SignCommitment``: H(session, pairing, wallet, message hash, R2, Schnorr proof of k2).
2. client → server ``ClientNonce``: R1 = k1·G and a Schnorr proof of k1 bound to the commitment.
3. server → client ``ServerReveal``: R2, its proof, the opening, and c3.

The client then checks the opening and the proof, computes R = k1·R2, s = k1⁻¹·Dec(c3) mod q, takes low-S,
derives the recovery id, and verifies (r, s) under the wallet public key before releasing anything. A
signature that does not verify raises :class:`SignatureFailed`, and the caller must lock the pairing for
good: a malicious server can shape c3 so that success or failure reveals a bit of w1 (CVE-2023-33242,
Makriyannis–Yomtov, "Practical key-extraction attacks in leading MPC wallets", 2023).

Every proof and the commitment bind the session id, the pairing id, the wallet id and the message hash, so no
message of one session or message is accepted in another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sigil.mpc import arith
from sigil.mpc.arith import Point, Q
from sigil.mpc.commit import OPENING_BYTES, check_opening, commit
from sigil.mpc.encoding import (
    bytes_to_hex,
    int_to_hex,
    point_to_hex,
    read_bytes,
    read_int,
    read_obj,
    read_point,
    read_scalar,
    read_str,
    require_obj,
)
from sigil.mpc.errors import InvalidMessage, InvalidShare, SignatureFailed
from sigil.mpc.paillier import MAX_MODULUS_BITS, PaillierPublicKey
from sigil.mpc.proofs._common import ELL, EPSILON
from sigil.mpc.proofs.schnorr import SchnorrProof, prove_dlog, verify_dlog
from sigil.mpc.transcript import Transcript

# Statistical hiding of c3's plaintext: u·x̃ < 2^ℓ · 2^(ℓ+ε); ρ·q (q ≈ 2^ℓ) must exceed it by 2^κ, κ = 128,
# so ρ < 2^(ℓ+ε+κ+1) = 2^897 and the whole plaintext stays below 2^1153, far under N ≥ 2^2047: no wrap.
STATISTICAL_KAPPA = 128
RHO_BITS = ELL + EPSILON + STATISTICAL_KAPPA + 1

if TYPE_CHECKING:
    from sigil.mpc.pairing import ClientPairing, ServerPairing

__all__ = [
    "ClientNonce",
    "ClientSignState",
    "RecoverableSignature",
    "ServerReveal",
    "ServerSignState",
    "SignCommitment",
    "SignContext",
    "client_sign_finish",
    "client_sign_nonce",
    "server_sign_commit",
    "server_sign_respond",
    "verify_signature",
]

_PROTOCOL = "sigil/mpc/sign/v1"
_COMMIT_LABEL = "sigil/mpc/sign/r2/v1"
_HALF_Q = Q >> 1


# --- context and messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SignContext:
    """What both parties agree on before signing; everything here is bound into every proof and commitment."""

    session_id: bytes
    pairing_id: str
    wallet_id: str
    message_hash: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.session_id, bytes) or not 16 <= len(self.session_id) <= 64:
            raise InvalidMessage("session_id must be 16 to 64 bytes")
        if not isinstance(self.message_hash, bytes) or len(self.message_hash) != 32:
            raise InvalidMessage("message_hash must be 32 bytes")
        for name in ("pairing_id", "wallet_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or len(value) > 200:
                raise InvalidMessage(f"{name} must be a non-empty string")

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": bytes_to_hex(self.session_id),
            "pairing_id": self.pairing_id,
            "wallet_id": self.wallet_id,
            "message_hash": bytes_to_hex(self.message_hash),
        }

    @classmethod
    def from_json(cls, d: Any) -> SignContext:
        obj = require_obj(d, "context")
        return cls(
            read_bytes(obj, "session_id"),
            read_str(obj, "pairing_id"),
            read_str(obj, "wallet_id"),
            read_bytes(obj, "message_hash", 32),
        )

    def transcript(self, party: str) -> Transcript:
        t = Transcript(_PROTOCOL)
        t.append("session_id", self.session_id)
        t.append("pairing_id", self.pairing_id)
        t.append("wallet_id", self.wallet_id)
        t.append("message_hash", self.message_hash)
        t.append("party", party)
        return t

    def commit_parts(self, r2: Point, proof: SchnorrProof) -> tuple[bytes, ...]:
        return (
            self.pairing_id.encode(),
            self.wallet_id.encode(),
            self.message_hash,
            r2.to_bytes(),
            proof.to_bytes(),
        )


@dataclass(frozen=True)
class SignCommitment:
    """Server → client, message 1: the commitment to R2 and its proof."""

    commitment: bytes

    def to_json(self) -> dict[str, Any]:
        return {"commitment": bytes_to_hex(self.commitment)}

    @classmethod
    def from_json(cls, d: Any) -> SignCommitment:
        return cls(read_bytes(require_obj(d, "commitment"), "commitment", 32))


@dataclass(frozen=True)
class ClientNonce:
    """Client → server, message 2: R1 = k1·G and a proof of k1."""

    r1: Point
    proof: SchnorrProof

    def to_json(self) -> dict[str, Any]:
        return {"r1": point_to_hex(self.r1), "proof": self.proof.to_json()}

    @classmethod
    def from_json(cls, d: Any) -> ClientNonce:
        obj = require_obj(d, "nonce")
        return cls(read_point(obj, "r1"), SchnorrProof.from_json(read_obj(obj, "proof")))


@dataclass(frozen=True)
class ServerReveal:
    """Server → client, message 3: R2, its proof, the opening, and c3."""

    r2: Point
    proof: SchnorrProof
    opening: bytes
    c3: int

    def to_json(self) -> dict[str, Any]:
        return {
            "r2": point_to_hex(self.r2),
            "proof": self.proof.to_json(),
            "opening": bytes_to_hex(self.opening),
            "c3": int_to_hex(self.c3),
        }

    @classmethod
    def from_json(cls, d: Any) -> ServerReveal:
        obj = require_obj(d, "reveal")
        return cls(
            read_point(obj, "r2"),
            SchnorrProof.from_json(read_obj(obj, "proof")),
            read_bytes(obj, "opening", OPENING_BYTES),
            read_int(obj, "c3", max_bits=2 * MAX_MODULUS_BITS),
        )


@dataclass(frozen=True)
class RecoverableSignature:
    """(r, s) in low-S form and the recovery id (bit 0: R.y odd; bit 1: R.x ≥ q)."""

    r: int
    s: int
    recovery_id: int

    def to_rsv(self) -> bytes:
        """r ‖ s ‖ v, 65 bytes, v = recovery id in {0, 1} (add 27 for Ethereum's legacy v)."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes((self.recovery_id,))

    def to_json(self) -> dict[str, Any]:
        return {"r": int_to_hex(self.r), "s": int_to_hex(self.s), "recovery_id": self.recovery_id}

    @classmethod
    def from_json(cls, d: Any) -> RecoverableSignature:
        obj = require_obj(d, "signature")
        v = obj.get("recovery_id")
        if type(v) is not int or v not in (0, 1, 2, 3):
            raise InvalidMessage("recovery_id must be 0..3")
        return cls(read_scalar(obj, "r"), read_scalar(obj, "s"), v)


# --- states ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSignState:
    """What the server keeps (sealed, single-use) between messages 1 and 3; k2 and the opening are secret."""

    ctx: SignContext
    k2: int = field(repr=False)
    r2: Point
    proof: SchnorrProof
    commitment: bytes
    opening: bytes = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "ctx": self.ctx.to_json(),
            "k2": int_to_hex(self.k2),
            "r2": point_to_hex(self.r2),
            "proof": self.proof.to_json(),
            "commitment": bytes_to_hex(self.commitment),
            "opening": bytes_to_hex(self.opening),
        }

    @classmethod
    def from_json(cls, d: Any) -> ServerSignState:
        obj = _versioned(d, "server sign state")
        return cls(
            SignContext.from_json(read_obj(obj, "ctx")),
            read_scalar(obj, "k2"),
            read_point(obj, "r2"),
            SchnorrProof.from_json(read_obj(obj, "proof")),
            read_bytes(obj, "commitment", 32),
            read_bytes(obj, "opening", OPENING_BYTES),
        )


@dataclass(frozen=True)
class ClientSignState:
    """What the client keeps between messages 2 and 3; k1 is secret."""

    ctx: SignContext
    commitment: bytes
    k1: int = field(repr=False)
    r1: Point

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "ctx": self.ctx.to_json(),
            "commitment": bytes_to_hex(self.commitment),
            "k1": int_to_hex(self.k1),
            "r1": point_to_hex(self.r1),
        }

    @classmethod
    def from_json(cls, d: Any) -> ClientSignState:
        obj = _versioned(d, "client sign state")
        return cls(
            SignContext.from_json(read_obj(obj, "ctx")),
            read_bytes(obj, "commitment", 32),
            read_scalar(obj, "k1"),
            read_point(obj, "r1"),
        )


def _versioned(d: Any, what: str) -> dict[str, Any]:
    obj = require_obj(d, what)
    if obj.get("version") != 1:
        raise InvalidMessage(f"{what}: unknown version")
    return obj


def _client_transcript(ctx: SignContext, commitment: bytes) -> Transcript:
    t = ctx.transcript("client")
    t.append("server_commitment", commitment)
    return t


def _check_pairing(ctx: SignContext, pairing: ClientPairing | ServerPairing) -> None:
    if pairing.context.pairing_id != ctx.pairing_id or pairing.context.wallet_id != ctx.wallet_id:
        raise InvalidMessage("the signing session belongs to another pairing")


# --- steps ----------------------------------------------------------------------------------------


def server_sign_commit(ctx: SignContext) -> tuple[ServerSignState, SignCommitment]:
    """Message 1 (server): k2, R2 = k2·G, a proof of k2, and a commitment to both (Lindell step 2, with
    the commitment that the paper puts on P1's side in step 1)."""
    k2 = arith.random_scalar()
    r2 = arith.base_mul(k2)
    proof = prove_dlog(k2, r2, ctx.transcript("server"))
    commitment, opening = commit(ctx.session_id, _COMMIT_LABEL, *ctx.commit_parts(r2, proof))
    return ServerSignState(ctx, k2, r2, proof, commitment, opening), SignCommitment(commitment)


def client_sign_nonce(ctx: SignContext, commitment: SignCommitment) -> tuple[ClientSignState, ClientNonce]:
    """Message 2 (client): k1, R1 = k1·G, a proof of k1 bound to the server's commitment (Lindell steps
    1 and 3, in the clear: the server is already bound to R2)."""
    k1 = arith.random_scalar()
    r1 = arith.base_mul(k1)
    proof = prove_dlog(k1, r1, _client_transcript(ctx, commitment.commitment))
    return ClientSignState(ctx, commitment.commitment, k1, r1), ClientNonce(r1, proof)


def server_sign_respond(
    state: ServerSignState, nonce: ClientNonce, pairing: ServerPairing, w2: int, *, rn: int | None = None
) -> ServerReveal:
    """Message 3 (server): check R1's proof, then c3 (Lindell step 4, additive shares).

    ``w2`` is the server's additive share for this pair; ``rn`` an unused r^N mod N² from a pool, when the
    caller keeps one (it saves the one full-size exponentiation of this step).
    """
    ctx = state.ctx
    _check_pairing(ctx, pairing)
    arith.check_scalar(w2, "w2")
    # W1 + w2·G must be the wallet key: a wrong w2 (a bug, a damaged row) would make the client's check fail
    # and lock the user's pairing for nothing, so refuse here first. Costs one base multiplication.
    if pairing.w1_point + arith.base_mul(w2) != pairing.context.public_key:
        raise InvalidShare("the server's share does not match this pairing's public key")
    verify_dlog(nonce.r1, nonce.proof, _client_transcript(ctx, state.commitment))
    r = arith.point_mul(nonce.r1, state.k2).x % Q
    if r == 0:
        raise InvalidMessage("r = 0; start a new signing session")
    m = int.from_bytes(ctx.message_hash, "big") % Q
    k2_inv = arith.invert(state.k2, Q)
    pk = PaillierPublicKey(pairing.paillier_n)
    # ρ·q masks the integer value of the plaintext statistically. Lindell's ρ ← Z_{q²} assumes c_key holds
    # w1 < q, but Π_log* only proves |plaintext| < 2^(ℓ+ε): a client could pass it with w1 + K·q, and
    # then u·plaintext (u = k2⁻¹·r < q) would not be drowned by ρ·q < q³. So ρ is drawn κ bits above
    # the largest u·plaintext the proof admits.
    rho = arith.random_below(1 << RHO_BITS)
    c1 = pk.encrypt_with_rn(rho * Q + k2_inv * (m + r * w2) % Q, pk.random_rn() if rn is None else rn)
    c3 = pk.add(c1, pk.mul(pairing.c_key, k2_inv * r % Q))
    return ServerReveal(state.r2, state.proof, state.opening, c3)


def client_sign_finish(
    state: ClientSignState, reveal: ServerReveal, pairing: ClientPairing, public_key: Point
) -> RecoverableSignature:
    """Check the opening and R2's proof, decrypt, and verify before release (Lindell step 5).

    InvalidProof / InvalidMessage: the server's message is bad before c3 is used — nothing about w1 was
    exercised, so no lock is needed. SignatureFailed: the decrypted result does not give a valid signature —
    the caller MUST lock this pairing.
    """
    ctx = state.ctx
    _check_pairing(ctx, pairing)
    if pairing.context.public_key != public_key:
        raise InvalidMessage("the pairing belongs to another public key")
    check_opening(
        state.commitment,
        reveal.opening,
        ctx.session_id,
        _COMMIT_LABEL,
        *ctx.commit_parts(reveal.r2, reveal.proof),
    )
    verify_dlog(reveal.r2, reveal.proof, ctx.transcript("server"))
    paillier = pairing.paillier
    paillier.public.check_ciphertext(reveal.c3)
    big_r = arith.point_mul(reveal.r2, state.k1)
    r = big_r.x % Q
    # From here on, every failure is the one SignatureFailed below (r = 0 and s = 0 included, which
    # verify_signature refuses): which step failed must not be observable, not even in the lock reason.
    s = arith.invert(state.k1, Q) * paillier.decrypt(reveal.c3) % Q
    recovery_id = (big_r.y & 1) | (2 if big_r.x >= Q else 0)
    if s > _HALF_Q:  # low-S (BIP-62 / BIP-146): negating s flips R's y parity
        s = Q - s
        recovery_id ^= 1
    if not verify_signature(public_key, ctx.message_hash, r, s):
        raise SignatureFailed("the two-party signature does not verify; lock this pairing")
    return RecoverableSignature(r, s, recovery_id)


def verify_signature(public_key: Point, message_hash: bytes, r: int, s: int) -> bool:
    """Plain ECDSA verification (SEC 1 §4.1.4) with the arithmetic backend; accepts high-S."""
    if not (0 < r < Q and 0 < s < Q) or len(message_hash) != 32:
        return False
    e = int.from_bytes(message_hash, "big") % Q
    w = arith.invert(s, Q)
    u1, u2 = e * w % Q, r * w % Q
    try:
        point = arith.point_mul(public_key, u2)
        if u1:
            point = point + arith.base_mul(u1)
    except InvalidMessage:  # the sum is the point at infinity
        return False
    return point.x % Q == r
