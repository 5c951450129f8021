"""Sealing the server's share to the server's transport key (dealer mode). CPython only (``cryptography``).

ECIES in the SEC 1 §5.1 / RFC 9180 (HPKE "base" mode) shape, with standard parts only:

- a fresh ephemeral P-256 key pair per share; shared secret Z = ECDH(ephemeral, server transport key);
- key = HKDF-SHA256(Z, salt = empty, info = label ‖ ephemeral public ‖ recipient public) (RFC 5869), so the
  key is bound to both public keys;
- AES-256-GCM with a random 96-bit nonce over the 32-byte big-endian share; the associated data is the
  caller's wallet binding (:func:`sigil.mpc.keygen.dealer_aad`: the Feldman commitments), so a sealed share
  opens only for the wallet it was dealt for.

Nothing of the Pyodide path imports this module (``sigil.mpc.__init__`` does not); a browser client seals
with WebCrypto, which offers the same primitives. Failures raise :class:`InvalidMessage` without detail:
the only honest reasons are a damaged blob or one sealed for other commitments or another key.
"""

from __future__ import annotations

import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sigil.mpc.arith import Q
from sigil.mpc.encoding import bytes_to_hex, read_bytes, require_obj
from sigil.mpc.errors import InvalidMessage

__all__ = ["ALGORITHM", "generate_transport_key", "open_share", "public_pem", "seal_share"]

ALGORITHM = "ECDH-P256+HKDF-SHA256+A256GCM"
_LABEL = b"sigil/mpc/transport/v1"
_CURVE = ec.SECP256R1()


def generate_transport_key() -> ec.EllipticCurvePrivateKey:
    """A new server transport key pair (the server keeps the private key sealed)."""
    return ec.generate_private_key(_CURVE)


def public_pem(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The SubjectPublicKeyInfo PEM that ``GET /v1/mpc/params`` publishes."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _key(shared: bytes, epk: bytes, recipient: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL + epk + recipient)
    return hkdf.derive(shared)


def seal_share(recipient_public_pem: bytes | str, share: int, aad: bytes) -> dict[str, Any]:
    """Encrypt ``share`` (1 <= share < q) to the recipient's P-256 public key; a JSON-ready dict."""
    if type(share) is not int or not 0 < share < Q:
        raise InvalidMessage("share out of range")
    pem = recipient_public_pem.encode() if isinstance(recipient_public_pem, str) else recipient_public_pem
    try:
        recipient = serialization.load_pem_public_key(pem)
    except ValueError:
        raise InvalidMessage("the transport key is not a PEM public key") from None
    if not isinstance(recipient, ec.EllipticCurvePublicKey) or recipient.curve.name != _CURVE.name:
        raise InvalidMessage("the transport key must be a P-256 public key")
    ephemeral = ec.generate_private_key(_CURVE)
    epk = _point(ephemeral.public_key())
    key = _key(ephemeral.exchange(ec.ECDH(), recipient), epk, _point(recipient))
    nonce = secrets.token_bytes(12)
    ciphertext = AESGCM(key).encrypt(nonce, share.to_bytes(32, "big"), _LABEL + aad)
    return {
        "version": 1,
        "alg": ALGORITHM,
        "epk": bytes_to_hex(epk),
        "nonce": bytes_to_hex(nonce),
        "ciphertext": bytes_to_hex(ciphertext),
    }


def open_share(private_key: ec.EllipticCurvePrivateKey, sealed: Any, aad: bytes) -> int:
    """Decrypt a :func:`seal_share` blob; InvalidMessage if malformed, tampered, or for another ``aad``."""
    obj = require_obj(sealed, "encrypted_share")
    if obj.get("version") != 1 or obj.get("alg") != ALGORITHM:
        raise InvalidMessage(f"encrypted_share must be version 1, {ALGORITHM}")
    epk = read_bytes(obj, "epk", 65)
    nonce = read_bytes(obj, "nonce", 12)
    ciphertext = read_bytes(obj, "ciphertext", 48)
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, epk)
    except ValueError:
        raise InvalidMessage("epk is not a P-256 point") from None
    key = _key(private_key.exchange(ec.ECDH(), ephemeral), epk, _point(private_key.public_key()))
    try:
        plain = AESGCM(key).decrypt(nonce, ciphertext, _LABEL + aad)
    except InvalidTag:
        raise InvalidMessage("encrypted_share does not open with this key and wallet") from None
    share = int.from_bytes(plain, "big")
    if not 0 < share < Q:
        raise InvalidMessage("the sealed share is out of range")
    return share
