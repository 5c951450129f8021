"""Ring-Pedersen parameters (N̂, s, t): the commitment scheme the range proofs are made over.

CGGMP21 §2 ("Ring-Pedersen commitments") and §6.4: N̂ = p̂·q̂ with p̂, q̂ safe primes; t = τ² mod N̂ for
a random unit τ (so t lies in the group of quadratic residues, of order p̂'q̂' with two large prime
factors); s = t^λ mod N̂ for a random λ ∈ Z_φ(N̂). A commitment to x with randomness μ is s^x·t^μ mod N̂.

Who makes them matters (the design's point, and CGGMP21's): the party that *verifies* a range proof
generates the parameters, since whoever knows φ(N̂) or log_t(s) can open a commitment both ways and so
fake a range proof. Here the server generates them once, keeps p̂, q̂, λ, and proves with Π_prm
(:mod:`sigil.mpc.proofs.piprm`) that s ∈ ⟨t⟩, which is what makes the client's commitments hiding; the
client checks that proof (:func:`verify_server_params`) before it commits to anything.

The safe primes come from :func:`sigil.mpc.arith.random_safe_prime` (a sieve on p' and 2p'+1 together,
then Fermat and Miller-Rabin on the survivors): about 0.35 s per 1024-bit prime here with gmpy2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Self

from sigil.mpc import arith
from sigil.mpc.encoding import int_to_hex, read_int, read_obj, require_obj
from sigil.mpc.errors import InvalidMessage
from sigil.mpc.proofs._common import MIN_MODULUS_BITS, MOD_BITS, check_modulus, sample_unit
from sigil.mpc.proofs.piprm import PrmProof, prove_prm, verify_prm
from sigil.mpc.transcript import Transcript

__all__ = [
    "PARAMS_LABEL",
    "RingPedersenParams",
    "RingPedersenSecret",
    "ServerParams",
    "generate_ring_pedersen",
    "make_server_params",
    "verify_server_params",
]

PARAMS_LABEL: Final = "sigil/mpc/server-params/v1"  # domain of the Π_prm transcript of the server's params


@dataclass(frozen=True)
class RingPedersenParams:
    """Public ring-Pedersen parameters (N̂, s, t)."""

    n: int
    s: int
    t: int

    def validate(self) -> None:
        """Shape checks before any use: N̂ ≥ 2048 bits, odd, not square, not prime; s, t units ≠ 1, s ≠ t.

        s = 1 or t = 1 (or s = t) would make commitments s^x·t^μ carry no hiding or no binding at all;
        a non-unit would reveal a factor. That s is in ⟨t⟩ is what Π_prm proves on top of this.
        """
        check_modulus(self.n, "ring-Pedersen modulus")
        for name, value in (("s", self.s), ("t", self.t)):
            if not 1 < value < self.n or arith.gcd(value, self.n) != 1:
                raise InvalidMessage(f"ring-Pedersen {name} must be a unit other than 1")
        if self.s == self.t:
            raise InvalidMessage("ring-Pedersen s and t must differ")

    def commit(self, x: int, r: int) -> int:
        """s^x · t^r mod N̂ (x, r may be negative)."""
        return arith.powmod(self.s, x, self.n) * arith.powmod(self.t, r, self.n) % self.n

    def to_json(self) -> dict[str, Any]:
        return {"n": int_to_hex(self.n), "s": int_to_hex(self.s), "t": int_to_hex(self.t)}

    @classmethod
    def from_json(cls, data: Any) -> Self:
        obj = require_obj(data, "ring_pedersen")
        params = cls(
            n=read_int(obj, "n", max_bits=MOD_BITS),
            s=read_int(obj, "s", max_bits=MOD_BITS),
            t=read_int(obj, "t", max_bits=MOD_BITS),
        )
        params.validate()
        return params


@dataclass(frozen=True)
class RingPedersenSecret:
    """The trapdoor: N̂'s safe primes and λ = log_t(s). Server only; never in a message or a repr."""

    p: int = field(repr=False)
    q: int = field(repr=False)
    lam: int = field(repr=False)

    @property
    def phi(self) -> int:
        """φ(N̂) = (p̂-1)(q̂-1)."""
        return (self.p - 1) * (self.q - 1)

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "p": int_to_hex(self.p), "q": int_to_hex(self.q), "lam": int_to_hex(self.lam)}

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """Structural checks only (the server's own storage): p ≠ q, both ≡ 3 (mod 4), 0 ≤ λ < φ(N̂)."""
        obj = require_obj(data, "ring-Pedersen secret")
        if obj.get("version") != 1:
            raise InvalidMessage("unsupported ring-Pedersen secret version")
        secret = cls(
            p=read_int(obj, "p", max_bits=MOD_BITS // 2),
            q=read_int(obj, "q", max_bits=MOD_BITS // 2),
            lam=read_int(obj, "lam", max_bits=MOD_BITS),
        )
        if secret.p == secret.q or secret.p % 4 != 3 or secret.q % 4 != 3 or not 0 <= secret.lam < secret.phi:
            raise InvalidMessage("ring-Pedersen secret is malformed")
        return secret


def generate_ring_pedersen(bits: int = 2048) -> tuple[RingPedersenParams, RingPedersenSecret]:
    """Fresh (N̂, s, t) with safe primes of bits/2 each, t = τ², s = t^λ (CGGMP21 §6.4 / Fig. 17 setup)."""
    if bits < MIN_MODULUS_BITS:
        raise ValueError(f"ring-Pedersen modulus must have at least {MIN_MODULUS_BITS} bits")
    while True:
        p = arith.random_safe_prime(bits // 2)
        q = arith.random_safe_prime(bits - bits // 2)
        n = p * q
        if p != q and n.bit_length() == bits:
            break
    phi = (p - 1) * (q - 1)
    while True:
        t = arith.powmod(sample_unit(n), 2, n)
        lam = arith.random_below(phi)
        s = arith.powmod(t, lam, n)
        if t != 1 and s not in (1, t):  # all but impossible; validate() refuses them
            return RingPedersenParams(n=n, s=s, t=t), RingPedersenSecret(p=p, q=q, lam=lam)


@dataclass(frozen=True)
class ServerParams:
    """What ``GET /v1/mpc/params`` serves: the server's ring-Pedersen parameters and their Π_prm proof."""

    ring_pedersen: RingPedersenParams
    prm_proof: PrmProof

    def to_json(self) -> dict[str, Any]:
        return {"ring_pedersen": self.ring_pedersen.to_json(), "prm_proof": self.prm_proof.to_json()}

    @classmethod
    def from_json(cls, data: Any) -> Self:
        obj = require_obj(data, "server_params")
        return cls(
            ring_pedersen=RingPedersenParams.from_json(read_obj(obj, "ring_pedersen")),
            prm_proof=PrmProof.from_json(read_obj(obj, "prm_proof")),
        )


def _params_transcript() -> Transcript:
    # The server's parameters are reused across wallets and clients, so their proof is bound only to
    # its own label and the parameters (which Π_prm appends); a pairing's context comes later, in the
    # proofs made *over* these parameters.
    return Transcript(PARAMS_LABEL)


def make_server_params(bits: int = 2048) -> tuple[ServerParams, RingPedersenSecret]:
    """Generate (N̂, s, t) and prove them well formed with Π_prm. The server does this once."""
    params, secret = generate_ring_pedersen(bits)
    proof = prove_prm(params, secret, _params_transcript())
    return ServerParams(ring_pedersen=params, prm_proof=proof), secret


# Parameters already verified in this process (their full value, so a hit means the very same numbers and
# proof). A client pairs several times with one server; Π_prm costs 80 exponentiations mod N̂ (~0.25 s with
# gmpy2, seconds under Pyodide), and its answer cannot change for the same input.
_VERIFIED: set[ServerParams] = set()
_VERIFIED_MAX: Final = 16


def verify_server_params(params: ServerParams) -> None:
    """Client side: shape checks and Π_prm. Raises InvalidMessage or InvalidProof("pi_prm")."""
    if params in _VERIFIED:
        return
    params.ring_pedersen.validate()
    verify_prm(params.ring_pedersen, params.prm_proof, _params_transcript())
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED.add(params)
