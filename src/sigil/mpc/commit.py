"""Hash commitments: the server commits to R2 (signing) and to its DKG polynomial before seeing the client's.

C = SHA-256 over the length-prefixed encoding of (domain, session id, label, opening, parts...), with a
32-byte random opening. Hiding in the random-oracle model because the opening carries 256 bits of entropy;
binding because finding two (opening, parts) with the same C is a SHA-256 collision. The session id and the
label are inside, so a commitment from one session or step never opens in another (Lindell 2017 §3 uses an
ideal commitment functionality F_com; a random-oracle hash commitment realises it and is extractable and
equivocable in the ROM, which the simulation argument needs — see docs/mpc.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sigil.mpc.errors import InvalidProof

__all__ = ["OPENING_BYTES", "check_opening", "commit"]

OPENING_BYTES = 32


def _digest(opening: bytes, session_id: bytes, label: str, parts: tuple[bytes, ...]) -> bytes:
    h = hashlib.sha256(b"sigil/mpc/commit/v1")
    for item in (session_id, label.encode(), opening, len(parts).to_bytes(8, "big"), *parts):
        h.update(len(item).to_bytes(8, "big"))
        h.update(item)
    return h.digest()


def commit(session_id: bytes, label: str, *parts: bytes) -> tuple[bytes, bytes]:
    """(commitment, opening): 32 bytes each; keep the opening secret until the reveal."""
    opening = secrets.token_bytes(OPENING_BYTES)
    return _digest(opening, session_id, label, parts), opening


def check_opening(commitment: bytes, opening: bytes, session_id: bytes, label: str, *parts: bytes) -> None:
    """InvalidProof("commitment") unless ``opening`` and ``parts`` open ``commitment`` (constant time)."""
    if len(opening) != OPENING_BYTES or not hmac.compare_digest(
        commitment, _digest(opening, session_id, label, parts)
    ):
        raise InvalidProof("commitment", "the decommitment does not open the commitment")
