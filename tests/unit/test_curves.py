from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sigil.crypto.curves import CURVES, HASH_SIZES, P256, P384, SECP256K1, get_curve
from sigil.errors import UnknownCurve


def test_registry() -> None:
    assert set(CURVES) == {"P-256", "P-384", "secp256k1"}
    assert get_curve("P-256") is P256 and get_curve("P-384") is P384 and get_curve("secp256k1") is SECP256K1


@pytest.mark.parametrize("name", ["p-256", "P256", "secp256r1", "", "ed25519"])
def test_unknown_curve(name: str) -> None:
    with pytest.raises(UnknownCurve):
        get_curve(name)


def test_names_and_hashes() -> None:
    assert (P256.jws_alg, P384.jws_alg, SECP256K1.jws_alg) == ("ES256", "ES384", "ES256K")
    assert (P256.default_hash, P384.default_hash, SECP256K1.default_hash) == ("SHA-256", "SHA-384", "SHA-256")
    assert SECP256K1.hashes == ("SHA-256", "KECCAK-256")
    assert P256.hashes == P384.hashes == ("SHA-256", "SHA-384", "SHA-512")
    assert HASH_SIZES == {"SHA-256": 32, "SHA-384": 48, "SHA-512": 64, "KECCAK-256": 32}


@pytest.mark.parametrize(
    ("curve", "backend"), [(P256, ec.SECP256R1()), (P384, ec.SECP384R1()), (SECP256K1, ec.SECP256K1())]
)
def test_parameters_match_openssl(curve, backend) -> None:
    # d = n - 1 is valid, and its public key is -G: same x as G.
    key = ec.derive_private_key(curve.order - 1, backend)
    g = ec.derive_private_key(1, backend).public_key().public_numbers()
    q = key.public_key().public_numbers()
    assert q.x == g.x and q.y == curve.field_prime - g.y
    assert curve.byte_len * 8 == backend.key_size
    with pytest.raises(ValueError):
        ec.derive_private_key(curve.order, backend).public_key().public_numbers()  # n·G = identity


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        P256.name = "x"  # type: ignore[misc]
