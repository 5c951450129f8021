"""Pure checks for a device registration: the user name and the device's public key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sigil.crypto.curves import get_curve
from sigil.crypto.keys import parse_public_key
from sigil.errors import BadRequest, InvalidPublicKey

USER_RE = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
DEVICE_CURVE = "P-256"
MAX_DEVICE_NAME = 100


def check_user_name(name: str) -> str:
    if not isinstance(name, str) or not USER_RE.fullmatch(name):
        raise BadRequest("user must be 1-64 characters of A-Z a-z 0-9 . _ @ + -", code="invalid_user")
    return name


def check_device_name(name: str | None) -> str | None:
    if name is not None and (
        not isinstance(name, str) or len(name) > MAX_DEVICE_NAME or not name.isprintable()
    ):
        raise BadRequest(
            f"name must be at most {MAX_DEVICE_NAME} printable characters", code="validation_error"
        )
    return name


def parse_device_key(value: str | Mapping[str, Any]) -> bytes:
    """A device public key given as PEM SPKI, JWK or SEC1 hex → SEC1 uncompressed bytes.

    P-256 only (what WebCrypto and WebAuthn ES256 use). The point is checked on the curve and not
    the identity by the parser (``PublicKey.from_sec1``); a key on another curve is refused.
    """
    curve = get_curve(DEVICE_CURVE)
    if isinstance(value, str) and "-----BEGIN" not in value:
        return parse_public_key(value, DEVICE_CURVE).sec1()
    try:
        key = parse_public_key(value)
    except InvalidPublicKey:
        raise
    if key.curve is not curve:
        raise InvalidPublicKey(f"device keys must be {DEVICE_CURVE}, not {key.curve.name}")
    return key.sec1()
