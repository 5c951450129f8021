"""Compact JWS / JWT with ECDSA: ES256, ES384 (RFC 7518 §3.4) and ES256K (RFC 8812 §3.2).

The JWS signature is the fixed-width r||s (RFC 7518 §3.4), base64url without padding over
``BASE64URL(header) || '.' || BASE64URL(payload)`` (RFC 7515 §5.1). Pure: the caller passes ``now``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sigil.crypto.ecdsa import PrivateKey, PublicKey, sign, verify
from sigil.crypto.encoding import b64url_decode, b64url_encode
from sigil.crypto.keys import public_key_jwk
from sigil.errors import BadRequest, InvalidEncoding, InvalidSignature

__all__ = ["decode_jwt", "encode_jwt", "jwks", "unverified_header"]


def _json_b64(obj: Mapping[str, Any]) -> str:
    try:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise BadRequest("JWT claims must be JSON-serialisable") from None
    return b64url_encode(text.encode("utf-8"))


def encode_jwt(key: PrivateKey, claims: Mapping[str, Any], *, kid: str) -> str:
    """Sign ``claims`` as a compact JWS with header {alg, typ: "JWT", kid} (RFC 7519 §5)."""
    header = {"alg": key.curve.jws_alg, "typ": "JWT", "kid": kid}
    signing_input = f"{_json_b64(header)}.{_json_b64(claims)}"
    signature = sign(
        key, message=signing_input.encode("ascii"), hash_name=key.curve.default_hash, encoding="raw"
    )
    return f"{signing_input}.{b64url_encode(signature)}"


def _json_part(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(part))
    except (InvalidEncoding, ValueError):
        raise InvalidEncoding(f"JWT {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise InvalidEncoding(f"JWT {what} must be a JSON object")
    return value


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, not verified (to pick a key by ``kid``)."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise InvalidEncoding("a JWT has three base64url parts")
    return _json_part(token.split(".", 1)[0], "header")


def _check_times(claims: Mapping[str, Any], now: int, leeway: int) -> None:
    """RFC 7519 §4.1.4 (exp: reject at or after) and §4.1.5 (nbf: reject before)."""
    exp = claims.get("exp")
    if exp is not None:
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise InvalidEncoding("JWT exp must be a number")
        if now >= exp + leeway:
            raise InvalidSignature("the token has expired", code="token_expired")
    nbf = claims.get("nbf")
    if nbf is not None:
        if not isinstance(nbf, int | float) or isinstance(nbf, bool):
            raise InvalidEncoding("JWT nbf must be a number")
        if now < nbf - leeway:
            raise InvalidSignature("the token is not valid yet", code="token_not_yet_valid")


def decode_jwt(
    token: str, keys: Mapping[str, PublicKey], *, now: int | None = None, leeway: int = 0
) -> dict[str, Any]:
    """Verify a compact JWS by its ``kid`` and return the claims.

    The header ``alg`` must be the one the key's curve implies (no "none", no algorithm confusion),
    and no ``crit`` extensions are understood (RFC 7515 §4.1.11). With ``now``, exp/nbf are checked.
    """
    header = unverified_header(token)
    header_b64, payload_b64, sig_b64 = token.split(".")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise InvalidSignature("unknown or missing kid", code="unknown_kid")
    key = keys[kid]
    if header.get("alg") != key.curve.jws_alg:
        raise InvalidSignature(f"alg must be {key.curve.jws_alg} for this key", code="alg_mismatch")
    if "crit" in header:
        raise InvalidSignature("unsupported critical header parameters")
    try:
        signature = b64url_decode(sig_b64)
    except InvalidEncoding:
        raise InvalidSignature("signature is not base64url") from None
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    if not verify(key, signature, message=signing_input, hash_name=key.curve.default_hash, encoding="raw"):
        raise InvalidSignature("JWT signature does not verify")
    claims = _json_part(payload_b64, "payload")
    if now is not None:
        _check_times(claims, now, leeway)
    return claims


def jwks(entries: Iterable[tuple[str, PublicKey]]) -> dict[str, Any]:
    """A JWK Set (RFC 7517 §5) of signing keys, each with kid, alg and use: "sig"."""
    return {"keys": [public_key_jwk(pk, kid=kid) for kid, pk in entries]}
