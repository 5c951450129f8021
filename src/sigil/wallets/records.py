"""Row identities, sealing contexts and the public JSON shape of wallets and pairings."""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

import orjson

from sigil.errors import NotFound
from sigil.keys.model import iso_time
from sigil.mpc.arith import Point
from sigil.mpc.ethereum import address_from_public_key
from sigil.store.models import MpcPairing, MpcWallet

PENDING, ACTIVE, LOCKED = "pending", "active", "locked"
EXPIRED = "expired"  # shown only: a pending pairing past its nonce's expiry
MODE_DKG, MODE_DEALER = "dkg", "dealer"
CLIENT_INDEXES = (1, 3)
SERVER_INDEX = 2
MAX_LABEL = 200
SESSION_ID_BYTES = 16

_ID = re.compile(r"^[a-z2-7]{26}$")
_HEX_SESSION = re.compile(r"^[0-9a-f]{32}$")


def _new_id(prefix: str) -> str:
    """``prefix`` + 26 base32 characters: 128 random bits, safe in URLs (like key ids)."""
    return prefix + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def new_wallet_id() -> str:
    return _new_id("wal_")


def new_pairing_id() -> str:
    return _new_id("pair_")


def new_keygen_id() -> str:
    return _new_id("kg_")


def checked_id(value: str, prefix: str, what: str) -> str:
    """A path id of the right shape, else 404 (an id that cannot exist is simply not found)."""
    if not value.startswith(prefix) or not _ID.match(value[len(prefix) :]):
        raise NotFound(f"no {what} {value[:60]!r}")
    return value


def checked_session_id(value: str) -> str:
    if not _HEX_SESSION.match(value):
        raise NotFound(f"no signing session {value[:60]!r}")
    return value


# --- associated data of sealed blobs: the row's identity and kind (DESIGN.md, invariants) -------


def share_aad(wallet_id: str) -> bytes:
    return f"sigil:v1:mpc-share:{wallet_id}".encode()


def keygen_state_aad(keygen_id: str, principal_id: str) -> bytes:
    return f"sigil:v1:mpc-keygen-state:{keygen_id}:{principal_id}".encode()


def sign_state_aad(session_id: str, pairing_id: str) -> bytes:
    return f"sigil:v1:mpc-sign-state:{session_id}:{pairing_id}".encode()


def pair_of(client_index: int) -> tuple[int, int]:
    """The signing pair of a client index with the server, in ascending order: (1, 2) or (2, 3)."""
    low, high = sorted((client_index, SERVER_INDEX))
    return (low, high)


def scalar_bytes(value: int) -> bytes:
    return value.to_bytes(32, "big")


# --- public shapes -------------------------------------------------------------------------------


def shares_json(shares: dict[int, Point]) -> str:
    return orjson.dumps({str(i): shares[i].to_bytes().hex() for i in sorted(shares)}).decode()


def public_share(wallet: MpcWallet, index: int) -> Point:
    return Point.from_bytes(bytes.fromhex(orjson.loads(wallet.public_shares)[str(index)]))


def wallet_fields(wallet: MpcWallet) -> dict[str, Any]:
    return {
        "wallet_id": wallet.id,
        "address": address_from_public_key(Point.from_bytes(wallet.public_key).to_bytes(False)),
        "public_key": wallet.public_key.hex(),
        "public_shares": orjson.loads(wallet.public_shares),
        "label": wallet.label,
        "mode": wallet.mode,
        "created_at": iso_time(wallet.created_at),
    }


def pairing_fields(pairing: MpcPairing, now: int) -> dict[str, Any]:
    """A pending pairing whose nonce has expired can never complete: shown as ``expired``."""
    state = pairing.state
    if state == PENDING and pairing.nonce_expires_at <= now:
        state = EXPIRED
    return {"pairing_id": pairing.id, "client_index": pairing.client_index, "state": state}
