"""RFC 6979 deterministic signatures reproduce the published vectors exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sigil.crypto import PrivateKey, get_curve, sign, verify
from sigil.crypto.encoding import decode_der_signature, rs_from_raw
from vectors import Rfc6979Case, rfc6979

CASES = rfc6979()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_public_key(case: Rfc6979Case) -> None:
    pk = PrivateKey.from_scalar(get_curve(case.curve), case.x).public_key()
    assert (pk.x, pk.y) == (case.ux, case.uy)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("encoding", ["der", "raw"])
def test_deterministic_signature(case: Rfc6979Case, encoding: str) -> None:
    curve = get_curve(case.curve)
    key = PrivateKey.from_scalar(curve, case.x)
    # secp256k1 community sets publish low-S; plain RFC 6979 on P-256 is compared as is.
    sig = sign(
        key, message=case.message, hash_name=case.hash_name, encoding=encoding, low_s=case.low_s_published
    )
    r, s = decode_der_signature(sig) if encoding == "der" else rs_from_raw(sig, curve.byte_len)
    assert (r, s) == (case.r, case.s)
    # libsecp256k1 always signs low-S, so the default call gives the same bytes there too.
    assert sign(key, message=case.message, hash_name=case.hash_name, encoding=encoding) == sig
    assert verify(key.public_key(), sig, message=case.message, hash_name=case.hash_name, encoding=encoding)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_deterministic_from_digest(case: Rfc6979Case) -> None:
    from sigil.crypto import hash_message

    curve = get_curve(case.curve)
    key = PrivateKey.from_scalar(curve, case.x)
    digest = hash_message(curve, case.message, case.hash_name)
    sig = sign(key, digest=digest, hash_name=case.hash_name, encoding="raw", low_s=case.low_s_published)
    assert rs_from_raw(sig, curve.byte_len) == (case.r, case.s)


def test_vector_counts() -> None:
    assert sum(c.curve == "P-256" for c in CASES) == 2
    assert sum(c.curve == "secp256k1" for c in CASES) == 13
