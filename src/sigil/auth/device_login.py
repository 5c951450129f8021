"""The pure check of a device login (STYLE.md §4): does ``signature`` verify as ECDSA P-256 with
SHA-256 over the 32 bytes of the challenge H, under the device's public key Q?

WebCrypto's ``sign({name: "ECDSA", hash: "SHA-256"}, key, H)`` returns raw r‖s (IEEE P1363,
64 bytes); OpenSSL and ``cryptography`` return DER (SEC1 §C.5). Both are accepted. No database,
no clock: the caller has already checked and will consume the challenge.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigil.auth.errors import LoginFailed
from sigil.crypto import ecdsa
from sigil.crypto.curves import get_curve
from sigil.crypto.ecdsa import PublicKey
from sigil.crypto.encoding import b64decode
from sigil.errors import InvalidEncoding

CHALLENGE_BYTES = 32
MAX_CACHED_KEYS = 10_000
_parsed: dict[bytes, PublicKey] = {}  # SEC1 bytes -> checked point: a key's bytes never change meaning
RAW_LEN = 64  # r‖s for P-256
DER_MIN, DER_MAX = 8, 72
MAX_SIGNATURE_TEXT = 200


@dataclass(frozen=True, slots=True)
class VerifiedLogin:
    encoding: str  # "der" or "raw": the form that verified


def decode_signature(text: str) -> bytes:
    """base64 or base64url (padded or not) → bytes that look like a DER or raw P-256 signature
    (InvalidEncoding otherwise: a malformed signature is the caller's bug, not a failed login)."""
    if not isinstance(text, str) or len(text) > MAX_SIGNATURE_TEXT:
        raise InvalidEncoding("signature must be base64 of a DER or 64-byte r||s signature")
    sig = b64decode(text)
    if len(sig) == RAW_LEN or (DER_MIN <= len(sig) <= DER_MAX and sig[0] == 0x30):
        return sig
    raise InvalidEncoding("signature is neither DER nor 64-byte raw r||s")


def _candidate_encodings(signature: bytes) -> list[str]:
    """A 64-byte value is raw r‖s; it may also happen to be DER (rare short r and s), so both are
    tried then. Trying both is safe: either way, (r, s) must verify for H under Q."""
    encodings = []
    if len(signature) == RAW_LEN:
        encodings.append("raw")
    if signature[:1] == b"\x30" and DER_MIN <= len(signature) <= DER_MAX:
        encodings.append("der")
    return encodings


def verify_device_login(*, challenge: bytes, public_key: bytes, signature: bytes) -> VerifiedLogin:
    """Check, in order: the challenge is 32 bytes; Q is a valid P-256 point (on the curve, not the
    identity); the signature has a known form; it verifies over H. Raises LoginFailed when it does
    not verify, InvalidEncoding / InvalidPublicKey for malformed input."""
    if len(challenge) != CHALLENGE_BYTES:
        raise InvalidEncoding(f"the challenge must be {CHALLENGE_BYTES} bytes")
    q = _parsed.get(public_key)
    if q is None:
        q = PublicKey.from_sec1(get_curve("P-256"), public_key)  # InvalidPublicKey if not a valid point
        if len(_parsed) >= MAX_CACHED_KEYS:
            _parsed.clear()
        _parsed[public_key] = q
    encodings = _candidate_encodings(signature)
    if not encodings:
        raise InvalidEncoding("signature is neither DER nor 64-byte raw r||s")
    for encoding in encodings:
        if ecdsa.verify(q, signature, message=challenge, hash_name="SHA-256", encoding=encoding):
            return VerifiedLogin(encoding=encoding)
    raise LoginFailed("the signature does not verify")
