"""The one JSON convention of every MPC message, and the readers that validate it at the boundary.

ints: lowercase hex without ``0x`` and without leading zeros (``"0"`` for zero; ``"-1f"`` where a field is
signed); points: compressed SEC1 hex (66 chars); bytes: lowercase hex. One canonical form per value, so a
stored or hashed message cannot be re-encoded into a different-looking equal one.

Readers take the decoded JSON object and a field name and raise :class:`InvalidMessage` naming the field;
``from_json`` methods are built from them, and everything past them works on typed, checked values.
"""

from __future__ import annotations

from typing import Any

from sigil.mpc.arith import Point, Q
from sigil.mpc.errors import InvalidMessage

__all__ = [
    "bytes_to_hex",
    "int_to_hex",
    "parse_bytes",
    "parse_int",
    "parse_point",
    "point_to_hex",
    "read_bytes",
    "read_int",
    "read_int_list",
    "read_list",
    "read_obj",
    "read_point",
    "read_scalar",
    "read_str",
    "require_obj",
]

_HEX = frozenset("0123456789abcdef")


def int_to_hex(n: int) -> str:
    return f"{n:x}" if n >= 0 else f"-{-n:x}"


def point_to_hex(p: Point) -> str:
    return p.to_bytes().hex()


def bytes_to_hex(b: bytes) -> str:
    return b.hex()


def require_obj(obj: Any, what: str) -> dict[str, Any]:
    """``obj`` itself if it is a JSON object, else InvalidMessage."""
    if not isinstance(obj, dict):
        raise InvalidMessage(f"{what} must be a JSON object")
    return obj


def _field(obj: Any, field: str) -> Any:
    if not isinstance(obj, dict):
        raise InvalidMessage(f"expected a JSON object holding {field}")
    if field not in obj:
        raise InvalidMessage(f"{field} is missing")
    return obj[field]


def parse_int(value: Any, field: str, *, max_bits: int, signed: bool = False) -> int:
    """A canonical hex integer of at most ``max_bits`` bits (magnitude, when ``signed``)."""
    if not isinstance(value, str):
        raise InvalidMessage(f"{field} must be a hex string")
    neg = signed and value.startswith("-")
    digits = value[1:] if neg else value
    if (
        not digits
        or len(digits) > (max_bits + 3) // 4
        or not _HEX.issuperset(digits)
        or (len(digits) > 1 and digits[0] == "0")
        or (neg and digits == "0")
    ):
        raise InvalidMessage(f"{field} must be canonical lowercase hex")
    n = int(digits, 16)
    if n.bit_length() > max_bits:
        raise InvalidMessage(f"{field} is longer than {max_bits} bits")
    return -n if neg else n


def parse_point(value: Any, field: str) -> Point:
    if not isinstance(value, str) or len(value) != 66:
        raise InvalidMessage(f"{field} must be a 66-character compressed point")
    raw = parse_bytes(value, field, 33)
    try:
        return Point.from_bytes(raw)
    except InvalidMessage:
        raise InvalidMessage(f"{field} is not a point on secp256k1") from None


def parse_bytes(value: Any, field: str, length: int | None = None) -> bytes:
    if not isinstance(value, str) or not _HEX.issuperset(value) or len(value) % 2:
        raise InvalidMessage(f"{field} must be lowercase hex")
    raw = bytes.fromhex(value)
    if length is not None and len(raw) != length:
        raise InvalidMessage(f"{field} must be {length} bytes")
    return raw


def read_int(obj: Any, field: str, *, max_bits: int, signed: bool = False) -> int:
    return parse_int(_field(obj, field), field, max_bits=max_bits, signed=signed)


def read_scalar(obj: Any, field: str) -> int:
    """An integer in [1, Q)."""
    k = parse_int(_field(obj, field), field, max_bits=256)
    if not 0 < k < Q:
        raise InvalidMessage(f"{field} out of range")
    return k


def read_point(obj: Any, field: str) -> Point:
    return parse_point(_field(obj, field), field)


def read_bytes(obj: Any, field: str, length: int | None = None) -> bytes:
    return parse_bytes(_field(obj, field), field, length)


def read_str(obj: Any, field: str, *, max_len: int = 200) -> str:
    value = _field(obj, field)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise InvalidMessage(f"{field} must be a non-empty string of at most {max_len} characters")
    return value


def read_obj(obj: Any, field: str) -> dict[str, Any]:
    return require_obj(_field(obj, field), field)


def read_list(obj: Any, field: str, length: int | None = None) -> list[Any]:
    value = _field(obj, field)
    if not isinstance(value, list):
        raise InvalidMessage(f"{field} must be a list")
    if length is not None and len(value) != length:
        raise InvalidMessage(f"{field} must have {length} entries")
    return value


def read_int_list(
    obj: Any, field: str, *, length: int | None = None, max_bits: int, signed: bool = False
) -> list[int]:
    return [
        parse_int(v, f"{field}[{i}]", max_bits=max_bits, signed=signed)
        for i, v in enumerate(read_list(obj, field, length))
    ]
