"""The curve registry: the three curves Sigil signs with and their parameters.

Domain parameters: P-256 and P-384 from FIPS 186-5 / SEC 2 §2.4.2 and §2.5.1 (secp256r1,
secp384r1); secp256k1 from SEC 2 §2.4.1. JOSE names from RFC 7518 §3.4 (ES256, ES384) and
RFC 8812 §3.2 (ES256K); JWK ``crv`` names from RFC 7518 §6.2.1.1 and RFC 8812 §3.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigil.errors import UnknownCurve

__all__ = ["CURVES", "HASH_SIZES", "P256", "P384", "SECP256K1", "Curve", "get_curve"]

#: Digest size in bytes of every hash Sigil knows (FIPS 180-4; Keccak-256 as Ethereum uses it).
HASH_SIZES: dict[str, int] = {"SHA-256": 32, "SHA-384": 48, "SHA-512": 64, "KECCAK-256": 32}


@dataclass(frozen=True, slots=True)
class Curve:
    """One elliptic curve and the names other formats use for it."""

    name: str
    order: int  # n, the order of the base point G
    field_prime: int  # p
    byte_len: int  # bytes of one field element / scalar
    default_hash: str
    jws_alg: str
    jwk_crv: str
    hashes: tuple[str, ...]  # hashes allowed with this curve
    oid: str  # named-curve OID used in SubjectPublicKeyInfo (RFC 5480 §2.1.1.1)

    @property
    def half_order(self) -> int:
        """n // 2: the largest "low" s (BIP-62 / BIP-146)."""
        return self.order >> 1

    def __repr__(self) -> str:
        return f"Curve({self.name!r})"


P256 = Curve(
    name="P-256",
    order=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    field_prime=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    byte_len=32,
    default_hash="SHA-256",
    jws_alg="ES256",
    jwk_crv="P-256",
    hashes=("SHA-256", "SHA-384", "SHA-512"),
    oid="1.2.840.10045.3.1.7",
)

P384 = Curve(
    name="P-384",
    order=int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    field_prime=int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF",
        16,
    ),
    byte_len=48,
    default_hash="SHA-384",
    jws_alg="ES384",
    jwk_crv="P-384",
    hashes=("SHA-256", "SHA-384", "SHA-512"),
    oid="1.3.132.0.34",
)

SECP256K1 = Curve(
    name="secp256k1",
    order=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    field_prime=0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F,
    byte_len=32,
    default_hash="SHA-256",
    jws_alg="ES256K",
    jwk_crv="secp256k1",
    hashes=("SHA-256", "KECCAK-256"),
    oid="1.3.132.0.10",
)

CURVES: dict[str, Curve] = {c.name: c for c in (P256, P384, SECP256K1)}


def get_curve(name: str) -> Curve:
    """Look a curve up by its Sigil name ("P-256", "P-384", "secp256k1")."""
    curve = CURVES.get(name)
    if curve is None:
        raise UnknownCurve(f"curve must be one of {', '.join(CURVES)}")
    return curve
