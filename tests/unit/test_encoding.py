from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from sigil.crypto.encoding import (
    b64decode,
    b64encode,
    b64url_decode,
    b64url_encode,
    decode_der_signature,
    decode_digest,
    encode_der_signature,
    raw_from_rs,
    rs_from_raw,
)
from sigil.errors import InvalidEncoding

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vectors import all_wycheproof_ecdsa

N256 = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.mark.parametrize(("r", "s"), [(1, 1), (127, 128), (255, 2**255), (N256 - 1, N256 - 1), (2**383, 5)])
def test_der_round_trip_matches_cryptography(r: int, s: int) -> None:
    der = encode_der_signature(r, s)
    assert der == encode_dss_signature(r, s)
    assert decode_der_signature(der) == (r, s) == decode_dss_signature(der)


def test_der_long_form_length() -> None:
    big = 2**1000 + 1  # content > 127 bytes: the SEQUENCE length needs the long form
    der = encode_der_signature(big, big)
    assert der[1] == 0x82
    assert decode_der_signature(der) == (big, big)


@pytest.mark.parametrize(
    "hexsig",
    [
        "",
        "3006020101020101" + "00",  # trailing byte after the SEQUENCE
        "3007020101020101",  # SEQUENCE length too long
        "3005020101020101",  # too short
        "308106020101020101",  # non-minimal long-form length
        "3080020101020101" + "0000",  # indefinite length (BER)
        "300702020001020101",  # leading zero not needed
        "3006020181020101",  # negative r
        "3006020101020181",  # negative s
        "3006020100020101",  # r = 0 is fine for DER, checked elsewhere -> decodes
        "3106020101020101",  # SET, not SEQUENCE
        "3006030101020101",  # BIT STRING, not INTEGER
        "30080201010201010500",  # extra element
        "300402000200",  # empty integers
    ],
)
def test_der_strict(hexsig: str) -> None:
    data = bytes.fromhex(hexsig)
    if hexsig == "3006020100020101":
        assert decode_der_signature(data) == (0, 1)
        return
    with pytest.raises(InvalidEncoding):
        decode_der_signature(data)


def test_der_parser_agrees_with_wycheproof() -> None:
    """Every valid Wycheproof DER signature parses and re-encodes to itself; nothing we reject is valid."""
    for case in all_wycheproof_ecdsa():
        if case.encoding != "der":
            continue
        try:
            r, s = decode_der_signature(case.sig)
        except InvalidEncoding:
            assert case.result != "valid", case.id
            continue
        if r > 0 and s > 0:
            assert encode_der_signature(r, s) == case.sig, case.id


def test_encode_rejects_non_positive() -> None:
    with pytest.raises(InvalidEncoding):
        encode_der_signature(0, 1)


def test_raw() -> None:
    raw = raw_from_rs(1, 2, 32)
    assert len(raw) == 64 and rs_from_raw(raw, 32) == (1, 2)
    with pytest.raises(InvalidEncoding):
        rs_from_raw(raw[:-1], 32)
    with pytest.raises(InvalidEncoding):
        raw_from_rs(2**256, 1, 32)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xfb\xff", b"\xfb\xff\xfe", bytes(range(256))])
def test_b64_round_trips(data: bytes) -> None:
    std = b64encode(data)
    url = b64url_encode(data)
    assert "=" not in url
    for form in (std, std.rstrip("="), url, url + "=" * (-len(url) % 4)):
        assert b64decode(form) == data
    assert b64url_decode(url) == data


@pytest.mark.parametrize(
    "value",
    [
        "A",
        "AB=",
        "AB===",
        "A===",
        "ABC==",
        "AB=C",
        "=AB",
        "AB CD",
        "AB\nCD",
        "AB+_",
        "AB*D",
        "ÄBCD",
        "AAAA=",
        "AAAA==",
    ],
)
def test_b64_rejects(value: str) -> None:
    with pytest.raises(InvalidEncoding):
        b64decode(value)


def test_b64url_strict() -> None:
    for bad in ("AB==", "A", "AB+/", "AB/C"):
        with pytest.raises(InvalidEncoding):
            b64url_decode(bad)


def test_decode_digest() -> None:
    d = bytes(range(32))
    assert decode_digest(d.hex(), 32) == d
    assert decode_digest("0x" + d.hex().upper(), 32) == d
    assert decode_digest(base64.b64encode(d).decode(), 32) == d
    assert decode_digest(base64.urlsafe_b64encode(d).decode().rstrip("="), 32) == d
    d48 = bytes(range(48))
    assert decode_digest(d48.hex(), 48) == d48
    for bad in (d.hex()[:-2], d.hex() + "00", "zz" * 32, base64.b64encode(d[:31]).decode(), "", "0x"):
        with pytest.raises(InvalidEncoding):
            decode_digest(bad, 32)
