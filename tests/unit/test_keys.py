from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sigil.crypto import CURVES, P256, SECP256K1, PrivateKey
from sigil.crypto.keys import (
    ethereum_address,
    parse_public_key,
    public_key_der,
    public_key_hex,
    public_key_jwk,
    public_key_pem,
    to_checksum_address,
)
from sigil.errors import InvalidPublicKey, UnknownCurve

KEYS = {name: PrivateKey.generate(curve).public_key() for name, curve in CURVES.items()}
BACKEND = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "secp256k1": ec.SECP256K1()}


@pytest.mark.parametrize("name", CURVES)
def test_round_trips(name: str) -> None:
    pk = KEYS[name]
    pem = public_key_pem(pk)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n") and pem.endswith("-----END PUBLIC KEY-----\n")
    assert parse_public_key(pem) == pk == parse_public_key(pem, name)
    # our SPKI is byte-identical to OpenSSL's
    backend = ec.EllipticCurvePublicKey.from_encoded_point(BACKEND[name], pk.sec1())
    assert public_key_der(pk) == backend.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk = public_key_jwk(pk)
    assert set(jwk) == {"kty", "crv", "x", "y"} and jwk["crv"] == CURVES[name].jwk_crv
    assert len(jwk["x"]) == len(jwk["y"]) == (4 * CURVES[name].byte_len + 2) // 3  # fixed width, unpadded
    assert parse_public_key(jwk) == pk
    jwk_kid = public_key_jwk(pk, kid="k:1")
    assert jwk_kid["kid"] == "k:1" and jwk_kid["alg"] == CURVES[name].jws_alg and jwk_kid["use"] == "sig"
    assert parse_public_key(jwk_kid, name) == pk
    for compressed in (False, True):
        h = public_key_hex(pk, compressed)
        assert parse_public_key(h, name) == pk == parse_public_key("0x" + h.upper(), name)


def test_small_coordinates_keep_fixed_width() -> None:
    # find a key whose x has a leading zero byte, then check the JWK keeps 32 bytes
    for i in range(1, 2000):
        pk = PrivateKey.from_scalar(P256, i.to_bytes(32, "big")).public_key()
        if pk.x < 2**248:
            jwk = public_key_jwk(pk)
            assert len(jwk["x"]) == 43 and parse_public_key(jwk) == pk
            return
    pytest.fail("no small x found")


def test_parse_rejects() -> None:
    pk = KEYS["P-256"]
    jwk = public_key_jwk(pk)
    bad_jwks = [
        {**jwk, "kty": "RSA"},
        {**jwk, "crv": "P-521"},
        {**jwk, "crv": "P-384"},  # wrong curve for the coordinates' size
        {**jwk, "x": jwk["x"][:-2]},
        {**jwk, "y": jwk["y"] + "="},
        {**jwk, "y": public_key_jwk(KEYS["P-384"])["y"]},
        {**jwk, "y": jwk["x"]},  # off curve
        {**jwk, "alg": "ES256K"},
        {**jwk, "d": jwk["x"]},
        {k: v for k, v in jwk.items() if k != "y"},
    ]
    for bad in bad_jwks:
        with pytest.raises(InvalidPublicKey):
            parse_public_key(bad)
    with pytest.raises(InvalidPublicKey):
        parse_public_key(jwk, "secp256k1")
    with pytest.raises(InvalidPublicKey):
        parse_public_key(public_key_pem(pk), "P-384")
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    p521 = ec.generate_private_key(ec.SECP521R1()).public_key()
    for other in (ed, p521):
        pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        with pytest.raises(InvalidPublicKey):
            parse_public_key(pem.decode())
    for junk in ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "zz", "04", "", "abc"):
        with pytest.raises(InvalidPublicKey):
            parse_public_key(junk, "P-256")
    with pytest.raises(InvalidPublicKey):
        parse_public_key(public_key_hex(pk))  # hex needs a curve
    with pytest.raises(InvalidPublicKey):
        parse_public_key(public_key_hex(pk), "secp256k1")  # not on secp256k1
    with pytest.raises(UnknownCurve):
        parse_public_key(public_key_hex(pk), "P-999")
    with pytest.raises(InvalidPublicKey):
        parse_public_key(12345)  # type: ignore[arg-type]


# EIP-55 "Test cases" (https://eips.ethereum.org/EIPS/eip-55)
EIP55 = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("address", EIP55)
def test_eip55_checksums(address: str) -> None:
    assert to_checksum_address(bytes.fromhex(address[2:])) == address


def test_known_ethereum_address() -> None:
    # the private key / address pair from the eth-account documentation (Account.from_key example)
    key = PrivateKey.from_scalar(
        SECP256K1, bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
    )
    assert ethereum_address(key.public_key()) == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
    with pytest.raises(InvalidPublicKey):
        ethereum_address(KEYS["P-256"])
