"""Interoperability of server-made signatures with other implementations (issue 2
"Interoperability"): OpenSSL's command line, eth-keys / eth-account, python-ecdsa.

JWTs verified with PyJWT and joserfc from the JWKS endpoints alone live in
``tests/api/test_keys_api.py`` (``test_jwt_verifies_from_jwks``), on both databases.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ecdsa
import httpx
import pytest
from ecdsa.util import sigdecode_der
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_defunct
from eth_keys import keys as eth
from eth_utils import keccak

from support.server import ServerProcess

OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="module")
def api() -> Iterator[httpx.Client]:
    proc = ServerProcess().start()
    try:
        with proc.client(proc.admin_token) as admin:
            token = admin.post("/v1/tokens", json={"name": "interop-" + secrets.token_hex(4)}).json()["token"]
        with proc.client(token) as client:
            yield client
    finally:
        proc.stop()


def create(api: httpx.Client, curve: str) -> dict[str, Any]:
    r = api.post("/v1/keys", json={"curve": curve})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def sign(api: httpx.Client, key_id: str, **body: Any) -> bytes:
    r = api.post(f"/v1/keys/{key_id}/sign", json=body)
    assert r.status_code == 200, r.text
    return base64.b64decode(r.json()["signature"])


# --- OpenSSL --------------------------------------------------------------------------------------


def openssl_verify(
    tmp: Path, pem: str, sig: bytes, data: bytes, digest: str
) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    (tmp / "pub.pem").write_text(pem)
    (tmp / "sig").write_bytes(sig)
    (tmp / "data").write_bytes(data)
    return subprocess.run(
        [OPENSSL, "dgst", f"-{digest}", "-verify", "pub.pem", "-signature", "sig", "data"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.skipif(OPENSSL is None, reason="openssl command not installed")
@pytest.mark.parametrize(
    ("curve", "digest"),
    [("P-256", "sha256"), ("P-384", "sha384"), ("P-256", "sha512"), ("secp256k1", "sha256")],
)
def test_der_signature_verifies_with_openssl(
    api: httpx.Client, tmp_path: Path, curve: str, digest: str
) -> None:
    key = create(api, curve)
    data = secrets.token_bytes(3000) + b"release artifact"
    hash_name = {"sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}[digest]
    sig = sign(api, key["key_id"], data_b64=base64.b64encode(data).decode(), hash=hash_name)
    p = openssl_verify(tmp_path, key["public_key_pem"], sig, data, digest)
    assert p.returncode == 0 and "Verified OK" in p.stdout, (p.stdout, p.stderr)
    # control: one changed byte and OpenSSL refuses
    p = openssl_verify(tmp_path, key["public_key_pem"], sig, data[:-1] + b"X", digest)
    assert p.returncode != 0 and "Verified OK" not in p.stdout


@pytest.mark.skipif(OPENSSL is None, reason="openssl command not installed")
def test_digest_signature_of_a_file_verifies_with_openssl(api: httpx.Client, tmp_path: Path) -> None:
    """The software-update flow: hash the file locally, send only the digest, openssl checks the file."""
    key = create(api, "P-384")
    artifact = secrets.token_bytes(1 << 20)
    digest = hashlib.sha384(artifact).hexdigest()
    sig = sign(api, key["key_id"], digest=digest)  # SHA-384 is P-384's default
    p = openssl_verify(tmp_path, key["public_key_pem"], sig, artifact, "sha384")
    assert p.returncode == 0 and "Verified OK" in p.stdout, (p.stdout, p.stderr)


# --- Ethereum ------------------------------------------------------------------------------------


@pytest.mark.parametrize("hash_name", ["KECCAK-256", "SHA-256"])
def test_rsv_recovers_to_address_with_eth_keys(api: httpx.Client, hash_name: str) -> None:
    key = create(api, "secp256k1")
    address = key["address"]
    for i in range(8):  # both recovery ids show up over a few messages
        message = f"interop message {i}".encode()
        sig = sign(
            api, key["key_id"], data_b64=base64.b64encode(message).decode(), hash=hash_name, encoding="rsv"
        )
        assert len(sig) == 65 and sig[64] in (27, 28)
        r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64] - 27
        msg_hash = keccak(message) if hash_name == "KECCAK-256" else hashlib.sha256(message).digest()
        signature = eth.Signature(vrs=(v, r, s))
        recovered = signature.recover_public_key_from_msg_hash(msg_hash)
        assert recovered.to_checksum_address() == address
        assert signature.verify_msg_hash(msg_hash, recovered)
        # a different message recovers to someone else
        other = eth.Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(keccak(message + b"!"))
        assert other.to_checksum_address() != address


def test_eip191_message_recovers_with_eth_account(api: httpx.Client) -> None:
    """Sign the EIP-191 hash as a digest: eth-account's recover_message finds the key's address."""
    key = create(api, "secp256k1")
    message = encode_defunct(text="Sign in to Sigil at 2026-11-22")
    digest = _hash_eip191_message(message)
    sig = sign(api, key["key_id"], digest=digest.hex(), hash="KECCAK-256", encoding="rsv")
    assert Account.recover_message(message, signature=sig) == key["address"]


# --- python-ecdsa --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("curve", "hashfunc", "hash_name"),
    [
        ("P-256", hashlib.sha256, "SHA-256"),
        ("P-384", hashlib.sha384, "SHA-384"),
        ("secp256k1", hashlib.sha256, "SHA-256"),
    ],
)
def test_raw_signature_verifies_with_python_ecdsa(
    api: httpx.Client, curve: str, hashfunc: Any, hash_name: str
) -> None:
    key = create(api, curve)
    vk = ecdsa.VerifyingKey.from_pem(key["public_key_pem"])
    data = "python-ecdsa interop ✓".encode()
    raw = sign(api, key["key_id"], data=data.decode(), encoding="raw", hash=hash_name)
    assert vk.verify(raw, data, hashfunc=hashfunc)
    der = sign(api, key["key_id"], data=data.decode(), hash=hash_name)
    assert vk.verify(der, data, hashfunc=hashfunc, sigdecode=sigdecode_der)
    with pytest.raises(ecdsa.BadSignatureError):
        vk.verify(raw, data + b".", hashfunc=hashfunc)
