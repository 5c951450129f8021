"""Pairing: the client's Paillier key, c_key = Enc(w1), and the proofs that make them safe to use.

Once per signing pair (client index 1 with the server, or the backup index 3 with the server), before any
signature: the client (P1, who will decrypt) sends N, c_key and three CGGMP21 proofs; the server checks
them against the W1 = w1·G it computes itself from the wallet's public shares, and stores what it needs.

- Π_mod (:mod:`.proofs.pimod`): N is a Paillier-Blum modulus (p ≡ q ≡ 3 mod 4, square-free).
- Π_fac (:mod:`.proofs.pifac`): N has no factor below 2^256, over the server's ring-Pedersen params.
- Π_log* (:mod:`.proofs.pilog`): c_key encrypts the discrete log of W1, and w1 ∈ ±2^(ℓ+ε), over the
  server's ring-Pedersen params.

The client first checks the server's parameters with Π_prm (:func:`.ringpedersen.verify_server_params`):
a range proof over parameters whose trapdoor the prover knows proves nothing, and one over parameters
that are not well formed could leak w1 — so the server makes them, proves them, and the client checks.

All three proofs share one Fiat-Shamir transcript prefix: the label, the wallet id, the pairing id, the
server-issued nonce (single-use, so a pairing request cannot be replayed into another pairing), both
parties' ids, the wallet public key, N, c_key and W1. Each proof then appends its own label and every
value of its statement (the ring-Pedersen parameters included) before it draws a challenge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Self

from sigil.mpc import arith
from sigil.mpc.encoding import (
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
from sigil.mpc.errors import InvalidMessage
from sigil.mpc.paillier import MAX_MODULUS_BITS, PaillierPublicKey, PaillierSecretKey, generate_paillier
from sigil.mpc.proofs._common import check_modulus, sample_unit
from sigil.mpc.proofs.pifac import FacProof, prove_fac, verify_fac
from sigil.mpc.proofs.pilog import LogStarProof, prove_log_star, verify_log_star
from sigil.mpc.proofs.pimod import ModProof, prove_mod, verify_mod
from sigil.mpc.ringpedersen import ServerParams, verify_server_params
from sigil.mpc.transcript import Transcript

__all__ = [
    "PAIRING_LABEL",
    "ClientPairing",
    "PairingContext",
    "PairingRequest",
    "ServerPairing",
    "client_pair",
    "server_verify_pairing",
]

PAIRING_LABEL: Final = "sigil/mpc/pairing/v1"
NONCE_SIZE: Final = 32  # bytes of the server-issued pairing nonce
CLIENT_INDICES: Final = (1, 3)  # the client share or the backup share; the server is index 2
SERVER_PARTY: Final = "server"


@dataclass(frozen=True)
class PairingContext:
    """What a pairing is bound to; both sides build it from their own records, never from the request."""

    wallet_id: str
    pairing_id: str
    nonce: bytes
    client_index: int
    public_key: arith.Point

    def __post_init__(self) -> None:
        if not isinstance(self.nonce, bytes) or len(self.nonce) != NONCE_SIZE:
            raise InvalidMessage(f"nonce must be {NONCE_SIZE} bytes")
        if type(self.client_index) is not int or self.client_index not in CLIENT_INDICES:
            raise InvalidMessage("client_index must be 1 or 3")

    def transcript(self) -> Transcript:
        """A transcript holding the label, the ids, the nonce, both parties and the wallet public key."""
        t = Transcript(PAIRING_LABEL)
        t.append("wallet_id", self.wallet_id)
        t.append("pairing_id", self.pairing_id)
        t.append("nonce", self.nonce)
        t.append("prover", f"client:{self.client_index}")
        t.append("verifier", SERVER_PARTY)
        t.append("public_key", self.public_key)
        return t

    def to_json(self) -> dict[str, Any]:
        return {
            "wallet_id": self.wallet_id,
            "pairing_id": self.pairing_id,
            "nonce": self.nonce.hex(),
            "client_index": self.client_index,
            "public_key": point_to_hex(self.public_key),
        }

    @classmethod
    def from_json(cls, data: Any) -> Self:
        obj = require_obj(data, "context")
        index = obj.get("client_index")
        if type(index) is not int:
            raise InvalidMessage("client_index must be 1 or 3")
        return cls(
            wallet_id=read_str(obj, "wallet_id"),
            pairing_id=read_str(obj, "pairing_id"),
            nonce=read_bytes(obj, "nonce", NONCE_SIZE),
            client_index=index,
            public_key=read_point(obj, "public_key"),
        )


@dataclass(frozen=True)
class PairingRequest:
    """Client → server: N, c_key = Enc_N(w1; ρ) and the three proofs."""

    paillier_n: int
    c_key: int
    pi_mod: ModProof
    pi_fac: FacProof
    pi_log: LogStarProof

    def to_json(self) -> dict[str, Any]:
        return {
            "paillier_n": int_to_hex(self.paillier_n),
            "c_key": int_to_hex(self.c_key),
            "pi_mod": self.pi_mod.to_json(),
            "pi_fac": self.pi_fac.to_json(),
            "pi_log": self.pi_log.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any) -> Self:
        obj = require_obj(data, "request")
        return cls(
            paillier_n=read_int(obj, "paillier_n", max_bits=MAX_MODULUS_BITS),
            c_key=read_int(obj, "c_key", max_bits=2 * MAX_MODULUS_BITS),
            pi_mod=ModProof.from_json(read_obj(obj, "pi_mod")),
            pi_fac=FacProof.from_json(read_obj(obj, "pi_fac")),
            pi_log=LogStarProof.from_json(read_obj(obj, "pi_log")),
        )


@dataclass(frozen=True)
class ClientPairing:
    """What the client keeps (secret): its Paillier key, its additive share w1 and c_key."""

    context: PairingContext
    paillier: PaillierSecretKey = field(repr=False)
    w1: int = field(repr=False)
    c_key: int

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "context": self.context.to_json(),
            "paillier": self.paillier.to_json(),
            "w1": int_to_hex(self.w1),
            "c_key": int_to_hex(self.c_key),
        }

    @classmethod
    def from_json(cls, data: Any) -> Self:
        obj = require_obj(data, "client pairing")
        if obj.get("version") != 1:
            raise InvalidMessage("unsupported client pairing version")
        paillier = PaillierSecretKey.from_json(read_obj(obj, "paillier"))
        c_key = read_int(obj, "c_key", max_bits=2 * MAX_MODULUS_BITS)
        _check_c_key(paillier.public.n, c_key)
        return cls(
            context=PairingContext.from_json(read_obj(obj, "context")),
            paillier=paillier,
            w1=read_scalar(obj, "w1"),
            c_key=c_key,
        )


@dataclass(frozen=True)
class ServerPairing:
    """What the server stores for an accepted pairing (all public)."""

    context: PairingContext
    paillier_n: int
    c_key: int
    w1_point: arith.Point

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "context": self.context.to_json(),
            "paillier_n": int_to_hex(self.paillier_n),
            "c_key": int_to_hex(self.c_key),
            "w1_point": point_to_hex(self.w1_point),
        }

    @classmethod
    def from_json(cls, data: Any) -> Self:
        obj = require_obj(data, "server pairing")
        if obj.get("version") != 1:
            raise InvalidMessage("unsupported server pairing version")
        n = read_int(obj, "paillier_n", max_bits=MAX_MODULUS_BITS)
        c_key = read_int(obj, "c_key", max_bits=2 * MAX_MODULUS_BITS)
        _check_c_key(n, c_key)
        return cls(
            context=PairingContext.from_json(read_obj(obj, "context")),
            paillier_n=n,
            c_key=c_key,
            w1_point=read_point(obj, "w1_point"),
        )


def _check_c_key(n: int, c_key: int) -> None:
    """c_key ∈ Z*_{N²}: 0 < c_key < N² and gcd(c_key, N) = 1 (a non-unit would reveal a factor of N)."""
    if not 0 < c_key < n * n or arith.gcd(c_key, n) != 1:
        raise InvalidMessage("c_key must be a unit mod N²")


def _statement_transcript(context: PairingContext, n: int, c_key: int, w1_point: arith.Point) -> Transcript:
    t = context.transcript()
    t.append("paillier_n", n)
    t.append("c_key", c_key)
    t.append("w1_point", w1_point)
    return t


def client_pair(
    context: PairingContext, w1: int, params: ServerParams, *, paillier_bits: int = 2048
) -> tuple[ClientPairing, PairingRequest]:
    """Check the server's parameters (Π_prm), make a Paillier key, encrypt w1, prove Π_mod, Π_fac, Π_log*."""
    arith.check_scalar(w1, "w1")
    verify_server_params(params)
    secret = generate_paillier(paillier_bits)
    public = secret.public
    n = public.n
    rho = sample_unit(n)
    c_key = public.encrypt(w1, rho)
    w1_point = arith.base_mul(w1)
    transcript = _statement_transcript(context, n, c_key, w1_point)
    rp = params.ring_pedersen
    request = PairingRequest(
        paillier_n=n,
        c_key=c_key,
        pi_mod=prove_mod(secret.p, secret.q, transcript),
        pi_fac=prove_fac(secret.p, secret.q, rp, transcript),
        pi_log=prove_log_star(w1, rho, n, c_key, w1_point, rp, transcript),
    )
    return ClientPairing(context=context, paillier=secret, w1=w1, c_key=c_key), request


def server_verify_pairing(
    context: PairingContext, request: PairingRequest, w1_point: arith.Point, params: ServerParams
) -> ServerPairing:
    """Check a pairing request against the W1 the server computed; raises InvalidMessage or InvalidProof.

    Order: the cheap shape checks on N and c_key, then Π_log* (which also pins c_key to W1), Π_fac,
    and Π_mod last (80 exponentiations by N).
    """
    n = request.paillier_n
    PaillierPublicKey(n).validate()  # size (2048..8192 bits), no factor below 2^14, not a square
    check_modulus(n, "Paillier modulus")  # odd, not prime: refused before any proof work
    _check_c_key(n, request.c_key)
    rp = params.ring_pedersen
    transcript = _statement_transcript(context, n, request.c_key, w1_point)
    verify_log_star(n, request.c_key, w1_point, rp, request.pi_log, transcript)
    verify_fac(n, rp, request.pi_fac, transcript)
    verify_mod(n, request.pi_mod, transcript)
    return ServerPairing(context=context, paillier_n=n, c_key=request.c_key, w1_point=w1_point)
