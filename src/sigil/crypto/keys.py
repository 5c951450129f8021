"""Public key formats: PEM SubjectPublicKeyInfo, JWK, SEC1 hex, Ethereum address.

- SPKI: RFC 5280 §4.1.2.7 with id-ecPublicKey and a named curve (RFC 5480 §2.1.1; secp256k1 is
  OID 1.3.132.0.10, SEC 2 §A.2).
- JWK: RFC 7517 / RFC 7518 §6.2.1 (x, y base64url, fixed width); ES256K per RFC 8812 §3.1.
- Ethereum address: the last 20 bytes of Keccak-256(X||Y), checksummed per EIP-55.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigil.crypto.curves import CURVES, SECP256K1, Curve, get_curve
from sigil.crypto.ecdsa import PublicKey, _keccak256
from sigil.crypto.encoding import b64url_decode, b64url_encode
from sigil.errors import InvalidEncoding, InvalidPublicKey

__all__ = [
    "ethereum_address",
    "parse_public_key",
    "public_key_der",
    "public_key_hex",
    "public_key_jwk",
    "public_key_pem",
    "to_checksum_address",
]

# DER prefix of SubjectPublicKeyInfo up to the BIT STRING contents, per curve (RFC 5480 §2):
# SEQUENCE { SEQUENCE { id-ecPublicKey, namedCurve }, BIT STRING (0 unused bits) 04||X||Y }.
_SPKI_PREFIX: dict[str, bytes] = {
    "P-256": bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200"),
    "P-384": bytes.fromhex("3076301006072a8648ce3d020106052b81040022036200"),
    "secp256k1": bytes.fromhex("3056301006072a8648ce3d020106052b8104000a034200"),
}
_CRYPTOGRAPHY_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp256k1": "secp256k1"}
_HEX_RE = re.compile(r"(?:0[xX])?([0-9a-fA-F]+)")


def public_key_der(pk: PublicKey) -> bytes:
    """DER SubjectPublicKeyInfo with the uncompressed point."""
    return _SPKI_PREFIX[pk.curve.name] + pk.sec1()


def public_key_pem(pk: PublicKey) -> str:
    """PEM "PUBLIC KEY" (RFC 7468 §13): base64 of the SPKI DER in 64-character lines."""
    body = base64.b64encode(public_key_der(pk)).decode("ascii")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN PUBLIC KEY-----\n{lines}\n-----END PUBLIC KEY-----\n"


def public_key_jwk(pk: PublicKey, kid: str | None = None) -> dict[str, str]:
    """JWK (RFC 7518 §6.2.1); with ``kid``, also ``alg`` (RFC 7518 §3.4 / RFC 8812) and ``use: sig``."""
    size = pk.curve.byte_len
    point = pk.sec1()
    jwk = {
        "kty": "EC",
        "crv": pk.curve.jwk_crv,
        "x": b64url_encode(point[1 : 1 + size]),
        "y": b64url_encode(point[1 + size :]),
    }
    if kid is not None:
        jwk.update(kid=kid, alg=pk.curve.jws_alg, use="sig")
    return jwk


def public_key_hex(pk: PublicKey, compressed: bool = False) -> str:
    """SEC1 §2.3.3 point as lowercase hex."""
    return pk.sec1(compressed).hex()


def to_checksum_address(address20: bytes) -> str:
    """EIP-55 mixed-case checksum: uppercase hex letter i when nibble i of keccak(lower hex) >= 8."""
    lower = address20.hex()
    digest = _keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def ethereum_address(pk: PublicKey) -> str:
    """The EIP-55 address of a secp256k1 key: keccak256(X||Y)[12:] (Yellow Paper eq. 284)."""
    if pk.curve is not SECP256K1:
        raise InvalidPublicKey("Ethereum addresses exist only for secp256k1 keys")
    return to_checksum_address(_keccak256(pk.sec1()[1:])[12:])


# --- parsing --------------------------------------------------------------------------------------


def _from_pem(value: str, curve: Curve | None) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(value.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError):
        raise InvalidPublicKey("not a PEM SubjectPublicKeyInfo public key") from None
    except Exception:  # cryptography raises UnsupportedAlgorithm for unknown curves
        raise InvalidPublicKey("unsupported public key in PEM") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise InvalidPublicKey("PEM key is not an elliptic-curve key")
    name = _CRYPTOGRAPHY_NAMES.get(key.curve.name)
    if name is None:
        raise InvalidPublicKey(f"unsupported curve {key.curve.name}")
    if curve is not None and curve.name != name:
        raise InvalidPublicKey(f"PEM key is on {name}, expected {curve.name}")
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return PublicKey.from_sec1(CURVES[name], point)


def _jwk_coord(jwk: Mapping[str, Any], name: str, size: int) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise InvalidPublicKey(f"JWK is missing {name!r}")
    try:
        data = b64url_decode(value)
    except InvalidEncoding:
        raise InvalidPublicKey(f"JWK {name!r} is not base64url") from None
    if len(data) != size:
        raise InvalidPublicKey(f"JWK {name!r} must be {size} bytes (RFC 7518 §6.2.1.2)")
    return data


def _from_jwk(jwk: Mapping[str, Any], curve: Curve | None) -> PublicKey:
    if jwk.get("kty") != "EC":
        raise InvalidPublicKey("JWK kty must be EC")
    if "d" in jwk:
        raise InvalidPublicKey("JWK contains a private key; send the public part only")
    jcurve = next((c for c in CURVES.values() if c.jwk_crv == jwk.get("crv")), None)
    if jcurve is None:
        raise InvalidPublicKey("JWK crv must be P-256, P-384 or secp256k1")
    if curve is not None and curve is not jcurve:
        raise InvalidPublicKey(f"JWK is on {jcurve.name}, expected {curve.name}")
    if "alg" in jwk and jwk["alg"] != jcurve.jws_alg:
        raise InvalidPublicKey(f"JWK alg must be {jcurve.jws_alg} for {jcurve.name}")
    size = jcurve.byte_len
    point = b"\x04" + _jwk_coord(jwk, "x", size) + _jwk_coord(jwk, "y", size)
    return PublicKey.from_sec1(jcurve, point)


def _from_hex(value: str, curve: Curve | None) -> PublicKey:
    if curve is None:
        raise InvalidPublicKey("a hex public key needs its curve")
    m = _HEX_RE.fullmatch(value.strip())
    if m is None or len(m.group(1)) % 2:
        raise InvalidPublicKey("public key is not PEM, JWK or SEC1 hex")
    return PublicKey.from_sec1(curve, bytes.fromhex(m.group(1)))


def parse_public_key(value: str | Mapping[str, Any], curve: str | None = None) -> PublicKey:
    """Parse a PEM SPKI, a JWK (dict), or SEC1 hex (which needs ``curve``); InvalidPublicKey otherwise."""
    want = get_curve(curve) if curve is not None else None
    if isinstance(value, Mapping):
        return _from_jwk(value, want)
    if not isinstance(value, str):
        raise InvalidPublicKey("public key must be a PEM string, a JWK object or hex")
    if "-----BEGIN" in value:
        return _from_pem(value, want)
    return _from_hex(value, want)
