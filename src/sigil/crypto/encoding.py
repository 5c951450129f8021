"""Signature and byte encodings: DER, raw r||s, base64/base64url, hex digests.

- DER ``ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`` (RFC 3279 §2.2.3, SEC1 §C.5),
  encoded under the distinguished rules of X.690 §10 / §8.3.
- raw: fixed-width big-endian r||s (IEEE P1363, RFC 7518 §3.4).
"""

from __future__ import annotations

import base64
import binascii
import re

from sigil.errors import InvalidEncoding

__all__ = [
    "b64decode",
    "b64encode",
    "b64url_decode",
    "b64url_encode",
    "decode_der_signature",
    "decode_digest",
    "encode_der_signature",
    "raw_from_rs",
    "rs_from_raw",
]

_STD_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URL_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_HEX_RE = re.compile(r"(?:0[xX])?([0-9a-fA-F]*)")


# --- DER -----------------------------------------------------------------------------------------


def _der_int(value: int) -> bytes:
    """Minimal two's-complement content octets of a non-negative INTEGER (X.690 §8.3.2)."""
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


def _der_len(length: int) -> bytes:
    """Definite length, short form below 128, else minimal long form (X.690 §8.1.3, §10.1)."""
    if length < 0x80:
        return bytes((length,))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def encode_der_signature(r: int, s: int) -> bytes:
    """DER SEQUENCE { r, s } for positive r, s."""
    if r <= 0 or s <= 0:
        raise InvalidEncoding("r and s must be positive")
    body = b"\x02" + _der_len(len(rb := _der_int(r))) + rb + b"\x02" + _der_len(len(sb := _der_int(s))) + sb
    return b"\x30" + _der_len(len(body)) + body


def _read_len(data: bytes, pos: int) -> tuple[int, int]:
    """Read a DER length at ``pos``; reject indefinite and non-minimal forms (X.690 §10.1)."""
    if pos >= len(data):
        raise InvalidEncoding("truncated DER length")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 4 or pos + 1 + count > len(data):
        raise InvalidEncoding("bad DER length")
    body = data[pos + 1 : pos + 1 + count]
    length = int.from_bytes(body, "big")
    if body[0] == 0 or length < 0x80:
        raise InvalidEncoding("non-minimal DER length")
    return length, pos + 1 + count


def _read_int(data: bytes, pos: int) -> tuple[int, int]:
    """Read a positive, minimally encoded INTEGER (X.690 §8.3.2)."""
    if pos >= len(data) or data[pos] != 0x02:
        raise InvalidEncoding("expected DER INTEGER")
    length, pos = _read_len(data, pos + 1)
    end = pos + length
    if length == 0 or end > len(data):
        raise InvalidEncoding("bad DER INTEGER length")
    content = data[pos:end]
    if content[0] & 0x80:
        raise InvalidEncoding("negative DER INTEGER")
    if length > 1 and content[0] == 0 and not content[1] & 0x80:
        raise InvalidEncoding("non-minimal DER INTEGER")
    return int.from_bytes(content, "big"), end


def decode_der_signature(sig: bytes) -> tuple[int, int]:
    """Strictly decode DER ``SEQUENCE { r, s }`` into (r, s); anything not DER is InvalidEncoding.

    r and s are only checked to be non-negative here; the caller checks 1 <= r, s < n.
    """
    if len(sig) < 8 or sig[0] != 0x30:
        raise InvalidEncoding("not a DER SEQUENCE")
    length, pos = _read_len(sig, 1)
    if pos + length != len(sig):
        raise InvalidEncoding("DER SEQUENCE length mismatch or trailing bytes")
    r, pos = _read_int(sig, pos)
    s, pos = _read_int(sig, pos)
    if pos != len(sig):
        raise InvalidEncoding("trailing bytes inside DER SEQUENCE")
    return r, s


# --- raw r||s (IEEE P1363) ------------------------------------------------------------------------


def raw_from_rs(r: int, s: int, size: int) -> bytes:
    """Fixed-width big-endian r||s, each ``size`` bytes (RFC 7518 §3.4)."""
    try:
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    except OverflowError as exc:
        raise InvalidEncoding("r or s too large for the curve") from exc


def rs_from_raw(sig: bytes, size: int) -> tuple[int, int]:
    """Split fixed-width r||s; the length must be exactly 2 * size."""
    if len(sig) != 2 * size:
        raise InvalidEncoding(f"raw signature must be {2 * size} bytes")
    return int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")


# --- base64 / hex ---------------------------------------------------------------------------------


def b64decode(value: str) -> bytes:
    """Decode base64 (RFC 4648 §4) or base64url (§5), padded or not; anything else is InvalidEncoding.

    One alphabet per value: mixing '+'/'/' with '-'/'_' is rejected, as is whitespace.
    """
    if not isinstance(value, str):
        raise InvalidEncoding("base64 value must be a string")
    if _STD_RE.fullmatch(value):
        urlsafe = False
    elif _URL_RE.fullmatch(value):
        urlsafe = True
    else:
        raise InvalidEncoding("not base64: unexpected characters")
    stripped = value.rstrip("=")
    pad = len(value) - len(stripped)
    if (pad and len(value) % 4) or len(stripped) % 4 == 1:
        raise InvalidEncoding("not base64: bad length or padding")
    if pad and (len(stripped) % 4) + pad != 4:
        raise InvalidEncoding("not base64: bad padding")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidEncoding("not base64") from exc


def b64url_decode(value: str) -> bytes:
    """Strict unpadded base64url as JOSE uses it (RFC 7515 §2, Appendix C)."""
    if not isinstance(value, str) or not _URL_RE.fullmatch(value) or "=" in value or len(value) % 4 == 1:
        raise InvalidEncoding("not base64url")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidEncoding("not base64url") from exc


def b64encode(data: bytes) -> str:
    """Standard padded base64 (RFC 4648 §4)."""
    return base64.b64encode(data).decode("ascii")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5, RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_digest(value: str, size: int) -> bytes:
    """A prehashed digest given as hex (2*size digits, optional 0x) or base64 of exactly size bytes."""
    if not isinstance(value, str):
        raise InvalidEncoding("digest must be a string")
    m = _HEX_RE.fullmatch(value)
    if m is not None:
        # A value of hex digits only is hex, never base64: 64 hex digits are also valid base64 of
        # 48 bytes, and reading a SHA-256 digest as a SHA-384 one would sign the wrong thing.
        digits = m.group(1)
        if len(digits) != 2 * size:
            raise InvalidEncoding(f"digest must be {2 * size} hex digits ({size} bytes), got {len(digits)}")
        return bytes.fromhex(digits)
    try:
        data = b64decode(value)
    except InvalidEncoding:
        raise InvalidEncoding(f"digest must be {2 * size} hex digits or base64 of {size} bytes") from None
    if len(data) != size:
        raise InvalidEncoding(f"digest must be {size} bytes, got {len(data)}")
    return data
