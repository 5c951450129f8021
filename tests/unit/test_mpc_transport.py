"""sigil.mpc.transport: the dealer's share sealed to the server transport key (ECDH P-256, HKDF, AES-GCM)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from sigil.mpc import arith, keygen, transport
from sigil.mpc.arith import Q
from sigil.mpc.errors import InvalidMessage
from sigil.mpc.shares import SERVER, deal


def test_seal_and_open() -> None:
    key = transport.generate_transport_key()
    pem = transport.public_pem(key)
    feldman, shares = deal()
    aad = keygen.dealer_aad(feldman)
    sealed = transport.seal_share(pem, shares[SERVER], aad)
    assert sealed["alg"] == transport.ALGORITHM and sealed["version"] == 1
    assert f"{shares[SERVER]:x}" not in str(sealed)
    assert transport.open_share(key, sealed, aad) == shares[SERVER]
    assert transport.open_share(key, transport.seal_share(pem.decode(), 5, aad), aad) == 5
    assert transport.seal_share(pem, 5, aad) != transport.seal_share(pem, 5, aad)  # fresh ephemeral key


def test_open_refuses_other_wallet_key_or_tampering() -> None:
    key = transport.generate_transport_key()
    feldman, shares = deal()
    other, _ = deal()
    aad = keygen.dealer_aad(feldman)
    sealed = transport.seal_share(transport.public_pem(key), shares[SERVER], aad)
    with pytest.raises(InvalidMessage):
        transport.open_share(key, sealed, keygen.dealer_aad(other))
    with pytest.raises(InvalidMessage):
        transport.open_share(transport.generate_transport_key(), sealed, aad)
    for field in ("epk", "nonce", "ciphertext"):
        value = sealed[field]
        flipped = value[:-1] + ("0" if value[-1] != "0" else "1")
        with pytest.raises(InvalidMessage):
            transport.open_share(key, {**sealed, field: flipped}, aad)
    for bad in (
        {**sealed, "version": 2},
        {**sealed, "alg": "none"},
        {**sealed, "epk": "04" + "00" * 64},
        {**sealed, "ciphertext": sealed["ciphertext"][:-2]},
        {k: v for k, v in sealed.items() if k != "nonce"},
        [],
    ):
        with pytest.raises(InvalidMessage):
            transport.open_share(key, bad, aad)


def test_seal_refuses_bad_input() -> None:
    key = transport.generate_transport_key()
    for share in (0, Q, -1):
        with pytest.raises(InvalidMessage):
            transport.seal_share(transport.public_pem(key), share, b"")
    with pytest.raises(InvalidMessage):
        transport.seal_share(b"not a pem", 5, b"")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    k1 = ec.generate_private_key(ec.SECP256K1()).public_key()
    pem_k1 = k1.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(InvalidMessage):
        transport.seal_share(pem_k1, 5, b"")
    assert arith.Q == Q


def test_pyodide_path_does_not_import_cryptography() -> None:
    """The protocol modules the browser loads stay free of cryptography, HTTP and DB imports."""
    modules = ["sigil.mpc", "sigil.mpc.keygen", "sigil.mpc.sign", "sigil.mpc.shares", "sigil.mpc.paillier"]
    if importlib.util.find_spec("sigil.mpc.pairing") is not None:
        modules.append("sigil.mpc.pairing")
    code = (
        f"import sys; import {', '.join(modules)};"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('cryptography', 'httpx', 'sqlalchemy', 'starlette', 'sigil.mpc.transport') "
        "or m in ('sigil.mpc.transport', 'sigil.errors')];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
