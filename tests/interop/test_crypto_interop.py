"""Independent implementations accept what sigil.crypto produces."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import ecdsa as pyecdsa
import jwt as pyjwt
import pytest
from eth_keys import keys as eth_keys
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey

from sigil.crypto import CURVES, P256, SECP256K1, PrivateKey, hash_message, recover, sign, verify
from sigil.crypto.jwt import encode_jwt
from sigil.crypto.keys import ethereum_address, public_key_jwk, public_key_pem

MSG = b"interop message"


@pytest.mark.parametrize("low_s", [False, True])
def test_python_ecdsa_verifies_raw_p256(low_s: bool) -> None:
    key = PrivateKey.generate(P256)
    vk = pyecdsa.VerifyingKey.from_string(
        key.public_key().sec1(), curve=pyecdsa.NIST256p, hashfunc=hashlib.sha256
    )
    for i in range(5):
        msg = MSG + bytes([i])
        sig = sign(key, message=msg, encoding="raw", low_s=low_s)
        assert vk.verify(sig, msg, sigdecode=pyecdsa.util.sigdecode_string)
        der = sign(key, message=msg)
        assert vk.verify(der, msg, sigdecode=pyecdsa.util.sigdecode_der)


def test_python_ecdsa_signatures_verify_with_us() -> None:
    for name, pycurve, hashfunc in (
        ("P-256", pyecdsa.NIST256p, hashlib.sha256),
        ("P-384", pyecdsa.NIST384p, hashlib.sha384),
        ("secp256k1", pyecdsa.SECP256k1, hashlib.sha256),
    ):
        sk = pyecdsa.SigningKey.generate(curve=pycurve, hashfunc=hashfunc)
        key = PrivateKey.from_scalar(CURVES[name], sk.to_string())
        sig = sk.sign_deterministic(MSG, sigencode=pyecdsa.util.sigencode_der)
        assert verify(key.public_key(), sig, message=MSG)
        assert sig == sign(key, message=MSG) or name == "secp256k1"  # libsecp256k1 signs low-S


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
@pytest.mark.parametrize("name", CURVES)
def test_openssl_cli_verifies_der(name: str, tmp_path: Path) -> None:
    curve = CURVES[name]
    key = PrivateKey.generate(curve)
    (tmp_path / "pub.pem").write_text(public_key_pem(key.public_key()))
    (tmp_path / "msg").write_bytes(MSG)
    digest = {"SHA-256": "-sha256", "SHA-384": "-sha384"}[curve.default_hash]
    (tmp_path / "sig").write_bytes(sign(key, message=MSG))
    cmd = ["openssl", "dgst", digest, "-verify", "pub.pem", "-signature", "sig", "msg"]
    ok = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout, ok.stdout + ok.stderr
    (tmp_path / "msg").write_bytes(MSG + b"x")
    bad = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0


def test_eth_keys_recovers_rsv() -> None:
    scalar = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
    key = PrivateKey.from_scalar(SECP256K1, scalar)
    assert eth_keys.PrivateKey(scalar).public_key.to_checksum_address() == ethereum_address(key.public_key())
    for i in range(5):
        key = PrivateKey.generate(SECP256K1) if i else key
        address = ethereum_address(key.public_key())
        digest = hash_message(SECP256K1, MSG + bytes([i]), "KECCAK-256")
        rsv = sign(key, digest=digest, hash_name="KECCAK-256", encoding="rsv")
        eth_sig = eth_keys.Signature(rsv[:64] + bytes([rsv[64] - 27]))
        assert eth_sig.recover_public_key_from_msg_hash(digest).to_checksum_address() == address
        assert recover(rsv, digest=digest, hash_name="KECCAK-256") == key.public_key()
        # and eth-keys' own signatures recover/verify with us
        theirs = eth_keys.PrivateKey(key.scalar_bytes()).sign_msg_hash(digest)
        assert recover(theirs.to_bytes(), digest=digest, hash_name="KECCAK-256") == key.public_key()
        assert verify(
            key.public_key(), theirs.to_bytes(), digest=digest, hash_name="KECCAK-256", encoding="rsv"
        )


@pytest.mark.parametrize("name", CURVES)
def test_pyjwt_verifies(name: str) -> None:
    curve = CURVES[name]
    key = PrivateKey.generate(curve)
    token = encode_jwt(key, {"sub": "alice", "exp": 4102444800}, kid="k1:1")
    jwk = public_key_jwk(key.public_key(), kid="k1:1")
    pub = pyjwt.PyJWK.from_dict(jwk)
    claims = pyjwt.decode(token, pub.key, algorithms=[curve.jws_alg])
    assert claims["sub"] == "alice"
    assert pyjwt.get_unverified_header(token)["kid"] == "k1:1"
    pem_pub = public_key_pem(key.public_key())
    assert pyjwt.decode(token, pem_pub, algorithms=[curve.jws_alg])["sub"] == "alice"


@pytest.mark.parametrize("name", CURVES)
def test_joserfc_verifies(name: str) -> None:
    curve = CURVES[name]
    key = PrivateKey.generate(curve)
    token = encode_jwt(key, {"sub": "bob"}, kid="k2:1")
    jwk = ECKey.import_key(public_key_jwk(key.public_key(), kid="k2:1"))
    decoded = jose_jwt.decode(token, jwk, algorithms=[curve.jws_alg])
    assert decoded.claims["sub"] == "bob"
    assert decoded.header["kid"] == "k2:1"
