from __future__ import annotations

import base64
import json

import pytest

from sigil.crypto import CURVES, PrivateKey
from sigil.crypto.encoding import b64url_decode, b64url_encode
from sigil.crypto.jwt import decode_jwt, encode_jwt, jwks, unverified_header
from sigil.crypto.keys import public_key_jwk
from sigil.errors import BadRequest, InvalidEncoding, InvalidSignature

KEYS = {name: PrivateKey.generate(curve) for name, curve in CURVES.items()}


def _b64(obj: object) -> str:
    return b64url_encode(json.dumps(obj).encode())


@pytest.mark.parametrize("name", CURVES)
def test_round_trip(name: str) -> None:
    key = KEYS[name]
    token = encode_jwt(key, {"sub": "alice", "n": 1, "ü": "✓"}, kid="k1:1")
    header = unverified_header(token)
    assert header == {"alg": CURVES[name].jws_alg, "typ": "JWT", "kid": "k1:1"}
    assert len(b64url_decode(token.split(".")[2])) == 2 * CURVES[name].byte_len
    assert decode_jwt(token, {"k1:1": key.public_key()}) == {"sub": "alice", "n": 1, "ü": "✓"}


def test_rejections() -> None:
    key = KEYS["P-256"]
    keys = {"k": key.public_key()}
    token = encode_jwt(key, {"sub": "a"}, kid="k")
    h, p, s = token.split(".")
    with pytest.raises(InvalidSignature):
        decode_jwt(token, {"other": key.public_key()})  # unknown kid
    with pytest.raises(InvalidSignature):
        decode_jwt(token, {"k": KEYS["P-384"].public_key()})  # alg does not match the key's curve
    with pytest.raises(InvalidSignature):
        decode_jwt(token, {"k": PrivateKey.generate(CURVES["P-256"]).public_key()})
    with pytest.raises(InvalidSignature):
        decode_jwt(f"{h}.{_b64({'sub': 'b'})}.{s}", keys)  # tampered payload
    none_token = f"{_b64({'alg': 'none', 'kid': 'k'})}.{p}."
    with pytest.raises(InvalidSignature):
        decode_jwt(none_token, keys)
    hs_token = f"{_b64({'alg': 'HS256', 'kid': 'k'})}.{p}.{s}"
    with pytest.raises(InvalidSignature):
        decode_jwt(hs_token, keys)
    crit = f"{_b64({'alg': 'ES256', 'kid': 'k', 'crit': ['x'], 'x': 1})}.{p}"
    crit_token = crit + "." + encode_jwt(key, {}, kid="k").split(".")[2]
    with pytest.raises(InvalidSignature):
        decode_jwt(crit_token, keys)
    # DER signature instead of raw r||s
    from sigil.crypto import sign

    der = sign(key, message=f"{h}.{p}".encode())
    with pytest.raises(InvalidSignature):
        decode_jwt(f"{h}.{p}.{b64url_encode(der)}", keys)
    for bad in ("a.b", "a.b.c.d", f"{h}.{p}.{s}=", f"{h}==.{p}.{s}", "!!.a.b", 42):
        with pytest.raises((InvalidEncoding, InvalidSignature)):
            decode_jwt(bad, keys)  # type: ignore[arg-type]
    not_object = f"{b64url_encode(b'[1]')}.{p}.{s}"
    with pytest.raises(InvalidEncoding):
        decode_jwt(not_object, keys)
    with pytest.raises(BadRequest):
        encode_jwt(key, {"x": object()}, kid="k")
    padded = base64.urlsafe_b64encode(b"{}").decode()
    with pytest.raises(InvalidEncoding):
        unverified_header(f"{padded}.{p}.{s}")


def test_exp_nbf() -> None:
    key = KEYS["secp256k1"]
    keys = {"k": key.public_key()}
    token = encode_jwt(key, {"exp": 1000, "nbf": 500}, kid="k")
    assert decode_jwt(token, keys) == {"exp": 1000, "nbf": 500}  # no clock given: no time checks
    assert decode_jwt(token, keys, now=999)["exp"] == 1000
    assert decode_jwt(token, keys, now=500)
    with pytest.raises(InvalidSignature) as exc:
        decode_jwt(token, keys, now=1000)
    assert exc.value.code == "token_expired"
    assert decode_jwt(token, keys, now=1000, leeway=5)
    with pytest.raises(InvalidSignature) as exc:
        decode_jwt(token, keys, now=499)
    assert exc.value.code == "token_not_yet_valid"
    bad = encode_jwt(key, {"exp": "soon"}, kid="k")
    with pytest.raises(InvalidEncoding):
        decode_jwt(bad, keys, now=1)


def test_jwks() -> None:
    doc = jwks([(f"{n}:1", k.public_key()) for n, k in KEYS.items()])
    assert [k["kid"] for k in doc["keys"]] == [f"{n}:1" for n in KEYS]
    for jwk, (name, key) in zip(doc["keys"], KEYS.items(), strict=True):
        assert jwk == public_key_jwk(key.public_key(), kid=f"{name}:1")
        assert jwk["use"] == "sig" and jwk["alg"] == CURVES[name].jws_alg
