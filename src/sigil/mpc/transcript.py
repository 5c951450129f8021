"""The Fiat–Shamir transcript every non-interactive proof of the protocol hashes.

A running SHAKE256 state absorbs type-tagged, length-prefixed (label, value) pairs, so no two different
sequences of appends encode to the same bytes; a challenge is squeezed from a copy of the state after
absorbing the challenge's own label, and then absorbed back, so successive challenges differ and depend on
all that came before.
Binding everything public (protocol label, session id, party ids, wallet id, statement, message hash) is what
turns the interactive proofs into non-interactive ones that cannot be replayed in another context
(Fiat–Shamir 1986; the "strong" variant of Bernhard–Pereira–Warinschi 2012: hash the statement too).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sigil.mpc.arith import Point, Q

__all__ = ["Transcript"]


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


def _encode(value: int | bytes | str | Point) -> bytes:
    if isinstance(value, Point):
        return b"P" + _lp(value.to_bytes())
    if isinstance(value, bool):
        raise TypeError("bool is not a transcript value")
    if isinstance(value, int):
        mag = abs(value)
        return b"I" + (b"-" if value < 0 else b"+") + _lp(mag.to_bytes((mag.bit_length() + 7) // 8, "big"))
    if isinstance(value, bytes | bytearray):
        return b"B" + _lp(bytes(value))
    if isinstance(value, str):
        return b"S" + _lp(value.encode())
    raise TypeError(f"cannot append {type(value).__name__} to a transcript")


class Transcript:
    """A Fiat–Shamir transcript; ``label`` separates protocols ("sigil/mpc/pi_mod/v1")."""

    __slots__ = ("_state",)

    def __init__(self, label: str, _state: Any = None) -> None:
        if _state is not None:
            self._state = _state
        else:
            self._state = hashlib.shake_256()
            self._state.update(b"sigil/mpc/transcript/v1" + _lp(label.encode()))

    def append(self, label: str, value: int | bytes | str | Point) -> None:
        self._state.update(b"A" + _lp(label.encode()) + _encode(value))

    def _squeeze(self, label: str, nbytes: int) -> bytes:
        st = self._state.copy()
        st.update(b"C" + _lp(label.encode()) + nbytes.to_bytes(8, "big"))
        out: bytes = st.digest(nbytes)
        self._state.update(b"c" + _lp(label.encode()) + _lp(out))
        return out

    def challenge_int(self, label: str, bits: int) -> int:
        """Uniform in [0, 2^bits)."""
        if bits <= 0:
            raise ValueError("bits must be positive")
        raw = int.from_bytes(self._squeeze(label, (bits + 7) // 8), "big")
        return raw >> (-bits % 8)

    def challenge_scalar(self, label: str) -> int:
        """Uniform in [0, Q): 512 bits reduced, so the bias is below 2^-256."""
        return int.from_bytes(self._squeeze(label, 64), "big") % Q

    def challenge_mod(self, label: str, n: int) -> int:
        """Uniform in Z_n: |n| + 128 bits reduced (statistical distance below 2^-128)."""
        if n <= 0:
            raise ValueError("modulus must be positive")
        return int.from_bytes(self._squeeze(label, (n.bit_length() + 128 + 7) // 8), "big") % n

    def challenge_signed(self, label: str, bound: int) -> int:
        """Uniform in [-bound, bound] (the CGGMP21 challenges e ∈ ±q)."""
        return self.challenge_mod(label, 2 * bound + 1) - bound

    def fork(self) -> Transcript:
        """An independent copy: proofs over the same prefix that must not influence each other."""
        return Transcript("", _state=self._state.copy())
