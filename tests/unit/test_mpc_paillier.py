"""sigil.mpc.paillier: correctness, homomorphisms, CRT decryption, checks of received keys and ciphertexts."""

from __future__ import annotations

import secrets

import pytest

from sigil.mpc import arith
from sigil.mpc.arith import Q
from sigil.mpc.errors import InvalidMessage
from sigil.mpc.paillier import MIN_MODULUS_BITS, PaillierPublicKey, PaillierSecretKey, generate_paillier


@pytest.fixture(scope="module")
def sk() -> PaillierSecretKey:
    return generate_paillier()


def test_key_shape(sk: PaillierSecretKey) -> None:
    assert sk.n.bit_length() == MIN_MODULUS_BITS
    assert sk.p % 4 == 3 and sk.q % 4 == 3 and sk.p != sk.q
    assert sk.p.bit_length() == sk.q.bit_length() == MIN_MODULUS_BITS // 2
    assert arith.is_probable_prime(sk.p) and arith.is_probable_prime(sk.q)
    sk.public.validate()


def test_round_trip_and_homomorphisms(sk: PaillierSecretKey) -> None:
    pk = sk.public
    for m in (0, 1, Q - 1, pk.n - 1, secrets.randbelow(pk.n)):
        assert sk.decrypt(pk.encrypt(m)) == m
    a, b, k = secrets.randbelow(Q), secrets.randbelow(Q), arith.random_scalar()
    ca, cb = pk.encrypt(a), pk.encrypt(b)
    assert ca != pk.encrypt(a)  # randomised
    assert sk.decrypt(pk.add(ca, cb)) == a + b
    assert sk.decrypt(pk.mul(ca, k)) == a * k % pk.n
    assert sk.decrypt(pk.mul(ca, -1)) == -a % pk.n
    rn = pk.random_rn()
    assert sk.decrypt(pk.encrypt_with_rn(a, rn)) == a
    r = secrets.randbelow(pk.n)
    assert pk.encrypt(a, r) == pk.encrypt_with_rn(a, arith.powmod(r, pk.n, pk.n2))


def test_crt_decrypt_matches_textbook(sk: PaillierSecretKey) -> None:
    """Dec(c) = L(c^λ mod n²)·μ mod n (Paillier 1999 §3), computed without the CRT."""
    pk = sk.public
    lam = (sk.p - 1) * (sk.q - 1) // arith.gcd(sk.p - 1, sk.q - 1)
    mu = pow((pow(pk.n + 1, lam, pk.n2) - 1) // pk.n, -1, pk.n)
    for _ in range(3):
        c = pk.encrypt(secrets.randbelow(pk.n))
        assert sk.decrypt(c) == (pow(c, lam, pk.n2) - 1) // pk.n * mu % pk.n


def test_backends_give_identical_ciphertexts(sk: PaillierSecretKey) -> None:
    pk = sk.public
    m, r = secrets.randbelow(pk.n), secrets.randbelow(pk.n)
    py, nat = arith.backend("python"), arith.backend("native")
    assert py.powmod(r, pk.n, pk.n2) == nat.powmod(r, pk.n, pk.n2)
    assert (1 + m * pk.n) * py.powmod(r, pk.n, pk.n2) % pk.n2 == pk.encrypt(m, r)


def test_check_ciphertext(sk: PaillierSecretKey) -> None:
    pk = sk.public
    pk.check_ciphertext(pk.encrypt(5))
    for bad in (0, -1, pk.n2, pk.n2 + 1, sk.p, sk.q * 7, pk.n):
        with pytest.raises(InvalidMessage):
            pk.check_ciphertext(bad)


def test_validate_rejects_bad_moduli(sk: PaillierSecretKey) -> None:
    small = generate_paillier(1024)
    p = arith.random_prime(1024)
    bad = [small.n, sk.n * 2, p * p, 3 * sk.n, 12_289 * arith.random_prime(2040)]
    for n in bad:
        with pytest.raises(InvalidMessage):
            PaillierPublicKey(n).validate()
    PaillierPublicKey(small.n).validate(min_bits=1024)


def test_json_round_trip_and_no_secret_in_repr(sk: PaillierSecretKey) -> None:
    assert PaillierPublicKey.from_json(sk.public.to_json()) == sk.public
    again = PaillierSecretKey.from_json(sk.to_json())
    assert again == sk and again.n == sk.n
    text = repr(sk)
    assert f"{sk.p}" not in text and f"{sk.q}" not in text and f"{sk.p:x}" not in text
    with pytest.raises(InvalidMessage):
        PaillierPublicKey.from_json({"n": f"{generate_paillier(1024).n:x}"})
    with pytest.raises(InvalidMessage):
        PaillierSecretKey.from_json({"p": f"{sk.p:x}", "q": f"{sk.p:x}"})
    with pytest.raises(InvalidMessage):
        PaillierSecretKey.from_json({"p": f"{sk.p:x}"})
    with pytest.raises(InvalidMessage):
        PaillierPublicKey.from_json([])


def test_generate_refuses_odd_sizes() -> None:
    with pytest.raises(ValueError):
        generate_paillier(1001)
