from __future__ import annotations

import hashlib
import pickle

import pytest

from sigil.crypto import (
    CURVES,
    HASH_SIZES,
    P256,
    P384,
    SECP256K1,
    PrivateKey,
    PublicKey,
    hash_message,
    normalize_s,
    recover,
    sign,
    sign_batch,
    verify,
)
from sigil.crypto.encoding import decode_der_signature, encode_der_signature, raw_from_rs, rs_from_raw
from sigil.errors import BadRequest, InvalidEncoding, InvalidPublicKey, InvalidSignature, UnsupportedHash

MSG = b"attack at dawn"
COMBOS = [
    (curve, enc, h)
    for curve in CURVES.values()
    for enc in ("der", "raw", "rsv")
    for h in curve.hashes
    if enc != "rsv" or curve is SECP256K1
]
KEYS = {name: PrivateKey.generate(curve) for name, curve in CURVES.items()}


def _rs(curve, sig: bytes, enc: str) -> tuple[int, int]:
    return (
        decode_der_signature(sig) if enc == "der" else rs_from_raw(sig[: 2 * curve.byte_len], curve.byte_len)
    )


@pytest.mark.parametrize(("curve", "enc", "h"), COMBOS, ids=[f"{c.name}-{e}-{h}" for c, e, h in COMBOS])
@pytest.mark.parametrize("deterministic", [True, False])
@pytest.mark.parametrize("low_s", [False, True])
def test_round_trip(curve, enc: str, h: str, deterministic: bool, low_s: bool) -> None:
    key = KEYS[curve.name]
    pub = key.public_key()
    sig = sign(key, message=MSG, hash_name=h, encoding=enc, deterministic=deterministic, low_s=low_s)
    assert verify(pub, sig, message=MSG, hash_name=h, encoding=enc, low_s=low_s)
    digest = hash_message(curve, MSG, h)
    assert len(digest) == HASH_SIZES[h]
    assert verify(pub, sig, digest=digest, hash_name=h, encoding=enc)
    sig2 = sign(key, digest=digest, hash_name=h, encoding=enc, deterministic=deterministic, low_s=low_s)
    assert verify(pub, sig2, message=MSG, hash_name=h, encoding=enc)
    if deterministic:
        assert sig2 == sig
    if low_s or enc == "rsv":
        assert _rs(curve, sig, enc)[1] <= curve.order // 2
    # tampered message / signature / other key
    assert not verify(pub, sig, message=MSG + b"!", hash_name=h, encoding=enc)
    bad = bytearray(sig)
    bad[len(bad) // 2] ^= 1
    assert not verify(pub, bytes(bad), message=MSG, hash_name=h, encoding=enc)
    assert not verify(PrivateKey.generate(curve).public_key(), sig, message=MSG, hash_name=h, encoding=enc)


@pytest.mark.parametrize("curve", CURVES.values(), ids=CURVES)
def test_hedged_nonces_differ(curve) -> None:
    key = KEYS[curve.name]
    assert sign(key, message=MSG, deterministic=False) != sign(key, message=MSG, deterministic=False)
    assert sign(key, message=MSG) == sign(key, message=MSG)


@pytest.mark.parametrize("curve", [P256, P384], ids=["P-256", "P-384"])
def test_high_s_and_low_s_rules(curve) -> None:
    key, pub = KEYS[curve.name], KEYS[curve.name].public_key()
    r, s = decode_der_signature(sign(key, message=MSG))
    high, low = max(s, curve.order - s), min(s, curve.order - s)
    assert normalize_s(curve, high) == low and normalize_s(curve, low) == low
    for enc, sig in (("der", encode_der_signature(r, high)), ("raw", raw_from_rs(r, high, curve.byte_len))):
        assert verify(pub, sig, message=MSG, encoding=enc)
        assert not verify(pub, sig, message=MSG, encoding=enc, low_s=True)


def test_secp256k1_accepts_high_s_unless_low_s() -> None:
    key, pub = KEYS["secp256k1"], KEYS["secp256k1"].public_key()
    r, s = decode_der_signature(sign(key, message=MSG))
    assert s <= SECP256K1.order // 2  # libsecp256k1 signs low-S
    high = SECP256K1.order - s
    der, raw = encode_der_signature(r, high), raw_from_rs(r, high, 32)
    assert verify(pub, der, message=MSG) and verify(pub, raw, message=MSG, encoding="raw")
    assert not verify(pub, der, message=MSG, low_s=True)
    assert not verify(pub, raw, message=MSG, encoding="raw", low_s=True)
    rsv = sign(key, message=MSG, encoding="rsv")
    high_rsv = raw_from_rs(r, high, 32) + bytes([55 - rsv[64]])
    assert not verify(pub, high_rsv, message=MSG, encoding="rsv")


@pytest.mark.parametrize("curve", CURVES.values(), ids=CURVES)
def test_out_of_range_and_malformed_are_false(curve) -> None:
    key, pub = KEYS[curve.name], KEYS[curve.name].public_key()
    r, s = _rs(curve, sign(key, message=MSG, encoding="raw"), "raw")
    n, size = curve.order, curve.byte_len
    for rr, ss in ((0, s), (r, 0), (r + n, s), (r, s + n), (n, s), (r, n)):
        assert not verify(pub, encode_der_signature(max(rr, 1) if rr else 1, ss or 1), message=MSG)
        if rr < 2 ** (8 * size) and ss < 2 ** (8 * size):
            assert not verify(pub, raw_from_rs(rr, ss, size), message=MSG, encoding="raw")
    for junk in (b"", b"\x30", b"\x00" * 70, b"\x30\x00", sign(key, message=MSG) + b"\x00"):
        assert not verify(pub, junk, message=MSG)
    raw = sign(key, message=MSG, encoding="raw")
    for junk in (raw[:-1], raw + b"\x00", b""):
        assert not verify(pub, junk, message=MSG, encoding="raw")
    # a DER signature given as raw, and raw given as DER, are just invalid
    assert not verify(pub, raw, message=MSG)
    assert not verify(pub, sign(key, message=MSG), message=MSG, encoding="raw")


def test_bad_requests_raise() -> None:
    key, pub = KEYS["P-256"], KEYS["P-256"].public_key()
    sig = sign(key, message=MSG)
    with pytest.raises(InvalidEncoding):
        sign(key, message=MSG, encoding="pem")
    with pytest.raises(InvalidEncoding):
        verify(pub, sig, message=MSG, encoding="base64")
    with pytest.raises(InvalidEncoding):
        sign(key, message=MSG, encoding="rsv")
    with pytest.raises(InvalidEncoding):
        verify(pub, sig, message=MSG, encoding="rsv")
    with pytest.raises(UnsupportedHash):
        sign(key, message=MSG, hash_name="KECCAK-256")
    with pytest.raises(UnsupportedHash):
        verify(pub, sig, message=MSG, hash_name="MD5")
    with pytest.raises(UnsupportedHash):
        sign(KEYS["secp256k1"], message=MSG, hash_name="SHA-512")
    with pytest.raises(InvalidEncoding):
        sign(key, digest=b"\x00" * 31)
    with pytest.raises(InvalidEncoding):
        verify(pub, sig, digest=b"\x00" * 48)  # a SHA-384 size for a SHA-256 request
    with pytest.raises(InvalidEncoding):
        sign(KEYS["secp256k1"], digest=b"\x00" * 33)
    for kwargs in ({}, {"message": MSG, "digest": b"\x00" * 32}):
        with pytest.raises(BadRequest):
            sign(key, **kwargs)
        with pytest.raises(BadRequest):
            verify(pub, sig, **kwargs)


def test_default_hash_per_curve() -> None:
    k = KEYS["P-384"]
    sig = sign(k, message=MSG)
    assert verify(k.public_key(), sig, digest=hashlib.sha384(MSG).digest(), hash_name="SHA-384")
    assert not verify(k.public_key(), sig, message=MSG, hash_name="SHA-256")


@pytest.mark.parametrize("curve", CURVES.values(), ids=CURVES)
def test_private_key(curve) -> None:
    key = KEYS[curve.name]
    d = key.scalar_bytes()
    assert len(d) == curve.byte_len
    again = PrivateKey.from_scalar(curve, d)
    assert again.public_key() == key.public_key()
    assert key.public_key() is key.public_key()
    assert repr(key) == str(key) == f"PrivateKey({curve.name})"
    assert d.hex() not in repr(key) and str(int.from_bytes(d, "big")) not in repr(key)
    with pytest.raises(TypeError):
        pickle.dumps(key)
    for bad in (b"\x00" * curve.byte_len, curve.order.to_bytes(curve.byte_len, "big"), b"\x01", b"\xff" * 64):
        with pytest.raises(BadRequest) as exc:
            PrivateKey.from_scalar(curve, bad)
        assert bad.hex() not in str(exc.value)
    top = PrivateKey.from_scalar(curve, (curve.order - 1).to_bytes(curve.byte_len, "big"))
    assert verify(top.public_key(), sign(top, message=MSG), message=MSG)


@pytest.mark.parametrize("curve", CURVES.values(), ids=CURVES)
def test_public_key_sec1(curve) -> None:
    pub = KEYS[curve.name].public_key()
    unc, comp = pub.sec1(), pub.sec1(compressed=True)
    assert len(unc) == 1 + 2 * curve.byte_len and len(comp) == 1 + curve.byte_len
    assert PublicKey.from_sec1(curve, unc) == pub == PublicKey.from_sec1(curve, comp)
    assert unc == b"\x04" + pub.x.to_bytes(curve.byte_len, "big") + pub.y.to_bytes(curve.byte_len, "big")
    assert hash(PublicKey.from_sec1(curve, comp)) == hash(pub)
    off = (
        b"\x04"
        + pub.x.to_bytes(curve.byte_len, "big")
        + ((pub.y + 1) % curve.field_prime).to_bytes(curve.byte_len, "big")
    )
    beyond = (
        b"\x04" + curve.field_prime.to_bytes(curve.byte_len, "big") + pub.y.to_bytes(curve.byte_len, "big")
    )
    hybrid = bytes([6 | (pub.y & 1)]) + unc[1:]
    other = CURVES["P-384" if curve.name != "P-384" else "P-256"]
    for bad in (
        b"",
        b"\x00",
        off,
        beyond,
        hybrid,
        unc[:-1],
        comp + b"\x00",
        b"\x04" + bytes(2 * curve.byte_len),
    ):
        with pytest.raises(InvalidPublicKey):
            PublicKey.from_sec1(curve, bad)
    with pytest.raises(InvalidPublicKey):
        PublicKey.from_sec1(other, unc)


def test_sign_batch() -> None:
    for curve in CURVES.values():
        key = KEYS[curve.name]
        msgs = [b"a", b"b", b""]
        for enc in ("der", "raw"):
            sigs = sign_batch(key, messages=msgs, encoding=enc)
            assert sigs == [sign(key, message=m, encoding=enc) for m in msgs]
            digests = [hash_message(curve, m, None) for m in msgs]
            assert sign_batch(key, digests=digests, encoding=enc) == sigs
        assert sign_batch(key, messages=msgs, low_s=True, encoding="raw") == [
            sign(key, message=m, low_s=True, encoding="raw") for m in msgs
        ]
        with pytest.raises(InvalidEncoding):
            sign_batch(key, digests=[b"\x00" * 31])
        with pytest.raises(BadRequest):
            sign_batch(key)
    k1 = KEYS["secp256k1"]
    assert sign_batch(k1, messages=[b"x"], encoding="rsv", hash_name="KECCAK-256") == [
        sign(k1, message=b"x", encoding="rsv", hash_name="KECCAK-256")
    ]


def test_recover() -> None:
    key = KEYS["secp256k1"]
    pub = key.public_key()
    for h in SECP256K1.hashes:
        rsv = sign(key, message=MSG, encoding="rsv", hash_name=h)
        assert rsv[64] in (27, 28)
        assert recover(rsv, message=MSG, hash_name=h) == pub
        zero_one = rsv[:64] + bytes([rsv[64] - 27])
        assert recover(zero_one, digest=hash_message(SECP256K1, MSG, h), hash_name=h) == pub
        assert verify(pub, rsv, message=MSG, hash_name=h, encoding="rsv")
        assert verify(pub, zero_one, message=MSG, hash_name=h, encoding="rsv")
        flipped = rsv[:64] + bytes([55 - rsv[64]])  # 27 <-> 28
        assert not verify(pub, flipped, message=MSG, hash_name=h, encoding="rsv")
        assert recover(flipped, message=MSG, hash_name=h) != pub
    rsv = sign(key, message=MSG, encoding="rsv")
    for bad_v in (2, 26, 29, 255):
        with pytest.raises(InvalidEncoding):
            recover(rsv[:64] + bytes([bad_v]), message=MSG)
        assert not verify(pub, rsv[:64] + bytes([bad_v]), message=MSG, encoding="rsv")
    with pytest.raises(InvalidEncoding):
        recover(rsv[:64], message=MSG)
    with pytest.raises(InvalidSignature):
        recover(bytes(64) + b"\x1b", message=MSG)
    with pytest.raises(UnsupportedHash):
        recover(rsv, message=MSG, hash_name="SHA-384")
