"""sigil.mpc.arith: the backends agree, bad points and scalars are refused; transcript, commit, encoding."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigil.mpc import arith, encoding
from sigil.mpc.arith import FIELD_P, G, Point, Q
from sigil.mpc.commit import check_opening, commit
from sigil.mpc.errors import InvalidMessage, InvalidProof
from sigil.mpc.transcript import Transcript

PY = arith.backend("python")
NATIVE = arith.backend("native")
BACKENDS = [PY, NATIVE]

KNOWN_PRIMES = [2, 3, 5, 7919, 2**61 - 1, 2**89 - 1, 2**127 - 1, 2**255 - 19, 2**521 - 1, Q, FIELD_P]
KNOWN_COMPOSITES = [
    0,
    1,
    4,
    2047,  # strong pseudoprime to base 2
    3215031751,  # strong pseudoprime to bases 2, 3, 5, 7
    3825123056546413051,  # strong pseudoprime to bases 2..23
    318665857834031151167461,  # strong pseudoprime to bases 2..37
    2**128 + 1,
    (2**127 - 1) * (2**89 - 1),
    (2**127 - 1) ** 2,
    Q * FIELD_P,
    2**521,
    2 * (2**127 - 1),
]
CARMICHAEL = [561, 1105, 1729, 2465, 2821, 6601, 8911, 41041, 825265, 321197185, 5394826801]


def _chernick_carmichael() -> int:
    """(6k+1)(12k+1)(18k+1) with all three factors prime is a Carmichael number (Chernick 1939)."""
    k = 2**40
    while True:
        k += 1
        f = (6 * k + 1, 12 * k + 1, 18 * k + 1)
        if all(PY.is_probable_prime(x) for x in f):
            return f[0] * f[1] * f[2]


def test_active_backend() -> None:
    forced = os.environ.get("SIGIL_MPC_BACKEND", "").lower() == "python"
    expected = "python" if forced else "native"
    assert expected == arith.BACKEND
    assert PY.name == "python" and NATIVE.name == "native"


def test_env_forces_python_backend() -> None:
    env = {**os.environ, "SIGIL_MPC_BACKEND": "python"}
    code = "from sigil.mpc import arith, paillier; print(arith.BACKEND, arith.powmod.__module__)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["python", "sigil.mpc._arith_python"]


def test_generator_and_order() -> None:
    assert G.to_bytes().hex() == "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    for b in BACKENDS:
        assert b.base_mul(1) == G
        assert b.base_mul(Q - 1) == -G
        assert b.point_mul(G, 2) == G + G


@pytest.mark.parametrize("i", range(20))
def test_points_agree(i: int) -> None:
    k1, k2 = arith.random_scalar(), arith.random_scalar()
    if i == 0:
        k1, k2 = 1, Q - 1
    elif i == 1:
        k1, k2 = 2**255 + 17, 15
    p1, n1 = PY.base_mul(k1), NATIVE.base_mul(k1)
    assert p1 == n1
    assert PY.point_mul(p1, k2) == NATIVE.point_mul(n1, k2) == NATIVE.base_mul(k1 * k2 % Q)
    s = PY.base_mul(k2)
    if (k1 + k2) % Q:
        assert PY.point_add(p1, s) == NATIVE.point_add(p1, s) == NATIVE.base_mul((k1 + k2) % Q)
    for compressed in (True, False):
        raw = p1.to_bytes(compressed)
        assert PY.point_from_bytes(raw) == NATIVE.point_from_bytes(raw) == p1
    assert PY.point_add(p1, p1) == NATIVE.point_add(p1, p1) == NATIVE.base_mul(2 * k1 % Q)


def test_point_is_immutable_and_hashable() -> None:
    p = arith.base_mul(5)
    with pytest.raises(AttributeError):
        p._x = 1  # type: ignore[misc]
    assert {p: 1}[Point.from_bytes(p.to_bytes(False))] == 1
    assert repr(p) == f"Point({p.to_bytes().hex()})"


def _bad_points() -> list[bytes]:
    x_off = 5  # x^3 + 7 = 132 is not a square mod p
    assert arith.powmod(132, (FIELD_P - 1) // 2, FIELD_P) != 1
    g = G.to_bytes(False)
    return [
        b"",
        b"\x00",  # SEC1 infinity
        b"\x02" + x_off.to_bytes(32, "big"),
        b"\x02" + FIELD_P.to_bytes(32, "big"),  # x >= p
        b"\x02" + (FIELD_P + 1).to_bytes(32, "big"),
        b"\x04" + G.x.to_bytes(32, "big") + (G.y + 1).to_bytes(32, "big"),  # off curve
        b"\x06" + g[1:],  # hybrid encoding
        b"\x07" + g[1:],
        g[:33],  # wrong length for 04
        G.to_bytes() + b"\x00",
        b"\x05" + g[1:33],
    ]


@pytest.mark.parametrize("b", BACKENDS, ids=lambda b: b.name)
def test_bad_points_raise(b: arith.Backend) -> None:
    for raw in _bad_points():
        with pytest.raises(InvalidMessage):
            b.point_from_bytes(raw)
    with pytest.raises(InvalidMessage):
        b.point_from_bytes("02" * 33)  # type: ignore[arg-type]
    with pytest.raises(InvalidMessage):
        Point(G.x, G.y + 1)


@pytest.mark.parametrize("b", BACKENDS, ids=lambda b: b.name)
def test_scalars_out_of_range_raise(b: arith.Backend) -> None:
    for k in (0, Q, Q + 1, -1, 2**256, True):
        with pytest.raises(InvalidMessage, match="out of range"):
            b.base_mul(k)
        with pytest.raises(InvalidMessage, match="out of range"):
            b.point_mul(G, k)
    with pytest.raises(InvalidMessage, match="infinity"):
        b.point_add(G, -G)
    with pytest.raises(InvalidMessage, match="nonce out of range"):
        arith.check_scalar(0, "nonce")


def test_random_scalar_and_below() -> None:
    values = {arith.random_scalar() for _ in range(50)}
    assert len(values) == 50 and all(0 < v < Q for v in values)
    assert all(0 <= arith.random_below(3) < 3 for _ in range(50))


def test_integer_functions_agree() -> None:
    m = arith.random_prime(512) * arith.random_prime(512)
    for _ in range(20):
        b, e = secrets.randbelow(m), secrets.randbits(600)
        assert PY.powmod(b, e, m) == NATIVE.powmod(b, e, m) == pow(b, e, m)
        a = secrets.randbelow(m) | 1
        assert PY.jacobi(a, m) == NATIVE.jacobi(a, m)
        if arith.gcd(a, m) == 1:
            assert PY.invert(a, m) == NATIVE.invert(a, m) == pow(a, -1, m)
            assert PY.powmod(a, -5, m) == NATIVE.powmod(a, -5, m) == pow(a, -5, m)
        assert PY.gcd(a, m) == NATIVE.gcd(a, m)
        assert PY.isqrt(b * b + 3) == NATIVE.isqrt(b * b + 3) == b
    p, q = arith.random_prime(256), arith.random_prime(256)
    ap, aq = secrets.randbelow(p), secrets.randbelow(q)
    x = PY.crt_pair(ap, p, aq, q)
    assert x == NATIVE.crt_pair(ap, p, aq, q) and x % p == ap and x % q == aq and 0 <= x < p * q
    for b in BACKENDS:
        assert isinstance(b.powmod(3, 5, 7), int) and type(b.invert(3, 7)) is int
        with pytest.raises(InvalidMessage):
            b.invert(6, 9)
        with pytest.raises(InvalidMessage):
            b.powmod(6, -1, 9)
        with pytest.raises(InvalidMessage):
            b.jacobi(3, 10)
    assert [PY.jacobi(a, 45) for a in range(-3, 50)] == [NATIVE.jacobi(a, 45) for a in range(-3, 50)]


@pytest.mark.parametrize("b", BACKENDS, ids=lambda b: b.name)
def test_prime_tests_on_known_numbers(b: arith.Backend) -> None:
    for p in KNOWN_PRIMES:
        assert b.is_probable_prime(p), p
    for n in KNOWN_COMPOSITES + CARMICHAEL + [-7]:
        assert not b.is_probable_prime(n), n


def test_large_carmichael_rejected_by_both() -> None:
    n = _chernick_carmichael()
    assert pow(2, n - 1, n) == 1  # fools Fermat
    assert not PY.is_probable_prime(n) and not NATIVE.is_probable_prime(n)


def test_prime_tests_agree_on_random_odd_numbers() -> None:
    for _ in range(300):
        n = secrets.randbits(200) | 1
        assert PY.is_probable_prime(n) == NATIVE.is_probable_prime(n)


@pytest.mark.parametrize("b", BACKENDS, ids=lambda b: b.name)
def test_random_primes(b: arith.Backend) -> None:
    other = NATIVE if b is PY else PY
    for bits in (64, 256, 512):
        p = b.random_prime(bits)
        assert p.bit_length() == bits and other.is_probable_prime(p)
        p = b.random_prime(bits, blum=True)
        assert p.bit_length() == bits and p % 4 == 3 and other.is_probable_prime(p)
    s = b.random_safe_prime(192)
    assert s.bit_length() == 192 and s % 4 == 3
    assert other.is_probable_prime(s) and other.is_probable_prime((s - 1) // 2)


# --- transcript ---------------------------------------------------------------------------------


def test_transcript_is_deterministic_and_separated() -> None:
    def run(label: str, value: int | bytes | str) -> int:
        t = Transcript(label)
        t.append("sid", b"\x01" * 16)
        t.append("v", value)
        return t.challenge_scalar("e")

    assert run("a", 5) == run("a", 5)
    assert run("a", 5) != run("b", 5)
    assert run("a", 5) != run("a", -5)
    assert run("a", b"\x05") != run("a", 5) != run("a", "5")
    t = Transcript("x")
    c1, c2 = t.challenge_int("c", 80), t.challenge_int("c", 80)
    assert c1 != c2 and c1 < 2**80 and c2 < 2**80
    f = t.fork()
    assert f.challenge_scalar("e") == t.challenge_scalar("e")
    assert 0 <= t.challenge_mod("m", 1000) < 1000
    vals = [t.challenge_signed("s", 3) for _ in range(200)]
    assert set(vals) == {-3, -2, -1, 0, 1, 2, 3}
    assert 0 <= t.challenge_int("b", 3) < 8
    t.append("p", G)
    with pytest.raises(TypeError):
        t.append("bool", True)


# --- commitments --------------------------------------------------------------------------------


def test_commitment_opens_only_with_its_context() -> None:
    sid = secrets.token_bytes(16)
    c, o = commit(sid, "lbl", b"a", b"b")
    assert len(c) == len(o) == 32
    check_opening(c, o, sid, "lbl", b"a", b"b")
    for args in [
        (c, o, sid, "lbl", b"a", b"c"),
        (c, o, sid, "lbl", b"ab"),  # length-prefixed: no re-splitting
        (c, o, sid, "lbl", b"a", b"b", b""),
        (c, o, secrets.token_bytes(16), "lbl", b"a", b"b"),
        (c, o, sid, "other", b"a", b"b"),
        (c, secrets.token_bytes(32), sid, "lbl", b"a", b"b"),
        (c, o[:31], sid, "lbl", b"a", b"b"),
    ]:
        with pytest.raises(InvalidProof) as exc:
            check_opening(*args)  # type: ignore[arg-type]
        assert exc.value.proof == "commitment"


# --- encoding -----------------------------------------------------------------------------------


def test_encoding_readers() -> None:
    obj = {"n": "1f", "neg": "-1f", "k": "5", "p": encoding.point_to_hex(G), "b": "00ff", "s": "x"}
    assert encoding.read_int(obj, "n", max_bits=8) == 31
    assert encoding.read_int(obj, "neg", max_bits=8, signed=True) == -31
    assert encoding.read_scalar(obj, "k") == 5
    assert encoding.read_point(obj, "p") == G
    assert encoding.read_bytes(obj, "b", 2) == b"\x00\xff"
    assert encoding.read_str(obj, "s") == "x"
    assert encoding.int_to_hex(0) == "0" and encoding.int_to_hex(-16) == "-10"
    bad = [
        (lambda: encoding.read_int(obj, "missing", max_bits=8), "missing"),
        (lambda: encoding.read_int({"n": "01"}, "n", max_bits=8), "n"),
        (lambda: encoding.read_int({"n": "1F"}, "n", max_bits=8), "n"),
        (lambda: encoding.read_int({"n": "0x1f"}, "n", max_bits=8), "n"),
        (lambda: encoding.read_int({"n": 31}, "n", max_bits=8), "n"),
        (lambda: encoding.read_int({"n": ""}, "n", max_bits=8), "n"),
        (lambda: encoding.read_int({"n": "1ff"}, "n", max_bits=8), "n"),
        (lambda: encoding.read_int({"n": "-1"}, "n", max_bits=8), "n"),
        (lambda: encoding.read_int({"n": "-0"}, "n", max_bits=8, signed=True), "n"),
        (lambda: encoding.read_scalar({"k": "0"}, "k"), "k"),
        (lambda: encoding.read_scalar({"k": f"{Q:x}"}, "k"), "k"),
        (lambda: encoding.read_point({"p": "02" + "00" * 32}, "p"), "p"),
        (lambda: encoding.read_point({"p": G.to_bytes(False).hex()}, "p"), "p"),
        (lambda: encoding.read_bytes({"b": "0g"}, "b"), "b"),
        (lambda: encoding.read_bytes({"b": "00"}, "b", 2), "b"),
        (lambda: encoding.read_str({"s": 5}, "s"), "s"),
        (lambda: encoding.read_obj({"o": []}, "o"), "o"),
        (lambda: encoding.read_list({"l": {}}, "l"), "l"),
        (lambda: encoding.read_int_list({"l": ["1", "x"]}, "l", max_bits=8), "l[1]"),
        (lambda: encoding.read_int([], "n", max_bits=8), "n"),
    ]
    for fn, field in bad:
        with pytest.raises(InvalidMessage, match=field.replace("[", r"\[")):
            fn()
    assert encoding.read_int_list({"l": ["1", "-2"]}, "l", length=2, max_bits=8, signed=True) == [1, -2]


# --- property tests: the backends agree on arbitrary inputs ----------------------------------------

scalars = st.integers(min_value=1, max_value=Q - 1)


@settings(max_examples=60, deadline=None)
@given(scalars, scalars)
def test_property_points_agree(a: int, b: int) -> None:
    pa, na = PY.base_mul(a), NATIVE.base_mul(a)
    assert pa == na
    assert PY.point_mul(pa, b) == NATIVE.point_mul(na, b)
    if (a + b) % Q:
        assert PY.point_add(pa, PY.base_mul(b)) == NATIVE.point_add(na, NATIVE.base_mul(b))
    else:
        with pytest.raises(InvalidMessage):
            PY.point_add(pa, PY.base_mul(b))
        with pytest.raises(InvalidMessage):
            NATIVE.point_add(na, NATIVE.base_mul(b))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=-(2**300), max_value=2**300),
    st.integers(min_value=-5, max_value=2**200),
    st.integers(min_value=2, max_value=2**260),
)
def test_property_integers_agree(b: int, e: int, m: int) -> None:
    def outcome(backend: arith.Backend, fn: str, *args: int) -> object:
        try:
            return getattr(backend, fn)(*args)
        except InvalidMessage:
            return "invalid"

    assert outcome(PY, "powmod", b, e, m) == outcome(NATIVE, "powmod", b, e, m)
    assert outcome(PY, "invert", b, m) == outcome(NATIVE, "invert", b, m)
    assert PY.gcd(b, m) == NATIVE.gcd(b, m)
    assert PY.isqrt(abs(b)) == NATIVE.isqrt(abs(b))
    odd = m | 1
    assert PY.jacobi(b, odd) == NATIVE.jacobi(b, odd)
    assert PY.is_probable_prime(m) == NATIVE.is_probable_prime(m)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=FIELD_P + 5), st.booleans())
def test_property_decoding_agrees(x: int, odd: bool) -> None:
    raw = bytes((3 if odd else 2,)) + x.to_bytes(33, "big")[-32:]
    results = []
    for b in BACKENDS:
        try:
            results.append(b.point_from_bytes(raw))
        except InvalidMessage:
            results.append(None)
    assert results[0] == results[1]
