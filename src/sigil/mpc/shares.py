"""2-of-3 Shamir sharing over Z_q with Feldman commitments, and the Lagrange step to additive shares.

Shamir (1979): f(x) = a0 + a1·x mod q, share_i = f(i) for the client (1), the server (2) and the backup (3);
any two determine a0 = the private key, one alone reveals nothing. Feldman (FOCS 1987, "A practical scheme
for non-interactive verifiable secret sharing"): publishing c0 = a0·G and c1 = a1·G lets holder i check
share_i·G = c0 + i·c1 without learning anything beyond the public key c0. For a signing pair {i, j} the
2-of-2 protocol needs additive shares w_i + w_j = a0: w_i = λ_i·share_i with λ_i = j / (j - i) mod q.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigil.mpc import arith
from sigil.mpc.arith import Point, Q
from sigil.mpc.encoding import point_to_hex, read_obj, read_point, require_obj
from sigil.mpc.errors import InvalidMessage, InvalidShare

__all__ = [
    "BACKUP",
    "CLIENT",
    "INDICES",
    "SERVER",
    "Feldman",
    "WalletPublic",
    "additive_share",
    "deal",
    "lagrange_at_zero",
    "reconstruct",
    "verify_share",
]

CLIENT, SERVER, BACKUP = 1, 2, 3
INDICES = (CLIENT, SERVER, BACKUP)


def _check_index(index: int) -> int:
    if type(index) is not int or index not in INDICES:
        raise InvalidMessage("share index must be 1, 2 or 3")
    return index


@dataclass(frozen=True)
class Feldman:
    """Commitments to f(x) = a0 + a1·x: c0 = a0·G (the public key), c1 = a1·G."""

    c0: Point
    c1: Point

    def public_share(self, index: int) -> Point:
        """X_i = f(i)·G = c0 + i·c1."""
        return self.c0 + arith.point_mul(self.c1, _check_index(index))

    def to_json(self) -> dict[str, Any]:
        return {"c0": point_to_hex(self.c0), "c1": point_to_hex(self.c1)}

    @classmethod
    def from_json(cls, d: Any) -> Feldman:
        obj = require_obj(d, "feldman")
        return cls(read_point(obj, "c0"), read_point(obj, "c1"))


@dataclass(frozen=True)
class WalletPublic:
    """What both sides store about a wallet: the public key and every holder's public share X_i = x_i·G."""

    public_key: Point
    public_shares: dict[int, Point]

    def __post_init__(self) -> None:
        if sorted(self.public_shares) != list(INDICES):
            raise InvalidMessage("public_shares must hold indices 1, 2 and 3")
        # The three X_i lie on one line whose value at 0 is the public key: any pair interpolates to it.
        for pair in ((CLIENT, SERVER), (SERVER, BACKUP)):
            i, j = pair
            at_zero = arith.point_mul(self.public_shares[i], lagrange_at_zero(i, pair)) + arith.point_mul(
                self.public_shares[j], lagrange_at_zero(j, pair)
            )
            if at_zero != self.public_key:
                raise InvalidMessage("public shares are not consistent with the public key")

    @classmethod
    def from_feldman(cls, commitments: Feldman) -> WalletPublic:
        return cls(commitments.c0, {i: commitments.public_share(i) for i in INDICES})

    def pair_public(self, index: int, pair: tuple[int, int]) -> Point:
        """W_i = λ_i·X_i: the public value of holder i's additive share for ``pair`` (the server's W1)."""
        return arith.point_mul(self.public_shares[_check_index(index)], lagrange_at_zero(index, pair))

    def to_json(self) -> dict[str, Any]:
        return {
            "public_key": point_to_hex(self.public_key),
            "public_shares": {str(i): point_to_hex(p) for i, p in sorted(self.public_shares.items())},
        }

    @classmethod
    def from_json(cls, d: Any) -> WalletPublic:
        obj = require_obj(d, "wallet public")
        shares = read_obj(obj, "public_shares")
        if sorted(shares) != ["1", "2", "3"]:
            raise InvalidMessage("public_shares must hold indices 1, 2 and 3")
        return cls(read_point(obj, "public_key"), {int(k): read_point(shares, k) for k in shares})


def deal(secret: int | None = None) -> tuple[Feldman, dict[int, int]]:
    """Shares for 1, 2, 3 of ``secret`` (fresh when None) and the Feldman commitments."""
    a0 = arith.random_scalar() if secret is None else arith.check_scalar(secret, "secret")
    while True:
        a1 = arith.random_scalar()
        shares = {i: (a0 + a1 * i) % Q for i in INDICES}
        if all(shares.values()):  # a zero share (probability 3/q) has no public point; draw again
            return Feldman(arith.base_mul(a0), arith.base_mul(a1)), shares


def verify_share(index: int, share: int, commitments: Feldman) -> None:
    """InvalidShare unless share·G = c0 + index·c1 (Feldman's check)."""
    if type(share) is not int or not 0 < share < Q:
        raise InvalidShare(f"share {index} out of range")
    if arith.base_mul(share) != commitments.public_share(index):
        raise InvalidShare(f"share {index} does not match the Feldman commitments")


def lagrange_at_zero(index: int, pair: tuple[int, int]) -> int:
    """λ_i = j / (j - i) mod q for pair = {i, j}: Σ λ_i·f(i) = f(0)."""
    i, j = pair
    _check_index(i)
    _check_index(j)
    if i == j or index not in pair:
        raise InvalidMessage("pair must be two distinct indices containing index")
    other = j if index == i else i
    return other * arith.invert((other - index) % Q, Q) % Q


def additive_share(index: int, share: int, pair: tuple[int, int]) -> int:
    """w_i = λ_i·share_i mod q: the two holders of ``pair`` then hold w_i + w_j = private key."""
    return lagrange_at_zero(index, pair) * share % Q


def reconstruct(shares: dict[int, int]) -> int:
    """The private key from any two shares (offline recovery only); with three, all pairs must agree."""
    indices = sorted(shares)
    if len(indices) < 2 or any(i not in INDICES for i in indices):
        raise InvalidShare("reconstruction needs two or three of the shares 1, 2, 3")
    results = {
        sum(additive_share(i, shares[i], (a, b)) for i in (a, b)) % Q
        for a in indices
        for b in indices
        if a < b
    }
    if len(results) != 1:
        raise InvalidShare("the shares do not lie on one polynomial")
    return results.pop()
