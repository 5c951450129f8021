"""CGGMP21 Π_mod: honest proofs verify; altered fields, other contexts, non-Paillier-Blum moduli fail."""

from __future__ import annotations

import dataclasses

import pytest

from sigil.mpc import arith
from sigil.mpc.errors import InvalidMessage, InvalidProof
from sigil.mpc.proofs import pimod
from sigil.mpc.proofs._common import M
from sigil.mpc.proofs.pimod import ModProof, prove_mod, verify_mod
from sigil.mpc.transcript import Transcript


def _context(pairing_id: str = "pairing-1") -> Transcript:
    t = Transcript("test/pairing")
    t.append("pairing_id", pairing_id)
    return t


def _prime(bits: int, residue: int) -> int:
    """A prime of ``bits`` bits ≡ residue (mod 4)."""
    while True:
        p = arith.random_prime(bits)
        if p % 4 == residue:
            return p


@pytest.fixture(scope="module")
def primes() -> tuple[int, int]:
    return arith.random_prime(1024, blum=True), arith.random_prime(1024, blum=True)


@pytest.fixture(scope="module")
def proof(primes: tuple[int, int]) -> ModProof:
    return prove_mod(*primes, _context())


def test_honest_proof_verifies(primes: tuple[int, int], proof: ModProof) -> None:
    n = primes[0] * primes[1]
    verify_mod(n, proof, _context())
    assert len(proof.x) == len(proof.z) == len(proof.a) == len(proof.b) == M == 80
    assert arith.jacobi(proof.w, n) == -1


def test_json_round_trip(primes: tuple[int, int], proof: ModProof) -> None:
    again = ModProof.from_json(proof.to_json())
    assert again == proof
    verify_mod(primes[0] * primes[1], again, _context())


@pytest.mark.parametrize(
    "change",
    [
        lambda p, n: dataclasses.replace(p, w=p.w * 4 % n),  # same Jacobi symbol, another w
        lambda p, n: dataclasses.replace(p, w=n - p.w),
        lambda p, n: dataclasses.replace(p, x=(p.x[0] + 1, *p.x[1:])),
        lambda p, n: dataclasses.replace(p, z=(*p.z[:40], p.z[40] * 2 % n, *p.z[41:])),
        lambda p, n: dataclasses.replace(p, a=(not p.a[0], *p.a[1:])),
        lambda p, n: dataclasses.replace(p, b=(*p.b[:7], not p.b[7], *p.b[8:])),
        lambda p, n: dataclasses.replace(p, x=p.x[1:] + p.x[:1]),
        lambda p, n: dataclasses.replace(p, x=(0, *p.x[1:])),
        lambda p, n: dataclasses.replace(p, z=(n, *p.z[1:])),
        lambda p, n: dataclasses.replace(p, z=p.z[:79]),
    ],
)
def test_altered_field_fails(primes: tuple[int, int], proof: ModProof, change) -> None:
    n = primes[0] * primes[1]
    with pytest.raises(InvalidProof) as info:
        verify_mod(n, change(proof, n), _context())
    assert info.value.proof == "pi_mod"


def test_another_fourth_root_is_still_an_answer(primes: tuple[int, int], proof: ModProof) -> None:
    """(-x)^4 = x^4: the proof shows a fourth root exists, not which one the prover picked."""
    n = primes[0] * primes[1]
    verify_mod(n, dataclasses.replace(proof, x=(*proof.x[:79], n - proof.x[79])), _context())


def test_other_context_fails(primes: tuple[int, int], proof: ModProof) -> None:
    with pytest.raises(InvalidProof):
        verify_mod(primes[0] * primes[1], proof, _context("pairing-2"))
    with pytest.raises(InvalidProof):
        verify_mod(primes[0] * primes[1], proof, Transcript("test/other-label"))


def test_other_modulus_fails(proof: ModProof) -> None:
    n2 = arith.random_prime(1024, blum=True) * arith.random_prime(1024, blum=True)
    with pytest.raises(InvalidProof):
        verify_mod(n2, proof, _context())


def test_modulus_below_2048_bits_is_refused() -> None:
    p, q = arith.random_prime(512, blum=True), arith.random_prime(512, blum=True)
    proof = prove_mod(p, q, _context())  # a valid proof for a 1024-bit N
    with pytest.raises(InvalidMessage, match="2048"):
        verify_mod(p * q, proof, _context())


def test_prime_modulus_is_refused() -> None:
    """A prime N ≡ 3 (mod 4) has every fourth root and N-th root: only the primality check stops it."""
    n = arith.random_prime(2048, blum=True)
    proof = _forge(n, [(n, 1)], _context())
    with pytest.raises(InvalidMessage, match="prime"):
        verify_mod(n, proof, _context())
    # ... and that check is needed: without it, every equation holds.
    for y, x, a, b, z in zip(pimod._challenges(n, proof.w, _context()), proof.x, proof.a, proof.b, proof.z):
        assert arith.powmod(z, n, n) == y
        assert arith.powmod(x, 4, n) == (-1) ** a * proof.w**b * y % n


def test_square_modulus_is_refused(primes: tuple[int, int], proof: ModProof) -> None:
    p = primes[0]
    with pytest.raises(InvalidMessage, match="square"):
        verify_mod(p * p, proof, _context())


def test_modulus_with_a_square_factor_fails_the_nth_root_check() -> None:
    """N = p²·q (Blum primes): every fourth root exists, but gcd(N, φ(N)) = p, so N-th roots do not."""
    p, q = arith.random_prime(700, blum=True), arith.random_prime(700, blum=True)
    n = p * p * q
    proof = _forge(n, [(p, 2), (q, 1)], _context())
    ys = pimod._challenges(n, proof.w, _context())
    fourth_roots_ok = sum(
        arith.powmod(x, 4, n) == (-1) ** a * proof.w**b * y % n
        for y, x, a, b in zip(ys, proof.x, proof.a, proof.b)
    )
    assert fourth_roots_ok == M  # the forger answered every fourth-root challenge...
    with pytest.raises(InvalidProof):
        verify_mod(n, proof, _context())  # ...and still fails on z_i^N = y_i


def test_non_blum_modulus_fails_the_fourth_root_check() -> None:
    """N = p·q with p ≡ q ≡ 1 (mod 4): -1 is a residue, so ±y, ±wy reach only half the classes."""
    p, q = _prime(1024, 1), _prime(1024, 1)
    n = p * q
    proof = _forge(n, [(p, 1), (q, 1)], _context())
    ys = pimod._challenges(n, proof.w, _context())
    assert all(arith.powmod(z, n, n) == y for y, z in zip(ys, proof.z))  # square-free: N-th roots are fine
    with pytest.raises(InvalidProof):
        verify_mod(n, proof, _context())


def test_mixed_modulus_fails() -> None:
    """One Blum prime and one p ≡ 1 (mod 4)."""
    p, q = arith.random_prime(1024, blum=True), _prime(1024, 1)
    n = p * q
    with pytest.raises(InvalidProof):
        verify_mod(n, _forge(n, [(p, 1), (q, 1)], _context()), _context())


def test_small_factor_is_not_pi_mods_business() -> None:
    """N = p·q with a 64-bit Blum p is a Paillier-Blum modulus: Π_mod accepts it.

    Small factors are Π_fac's job (test_mpc_pifac.py; the pairing refuses this N in Π_fac,
    test_mpc_pairing.py). A tiny factor like 3 is caught here only incidentally: one of the 80 challenges
    is then a multiple of 3 with probability 1 - (2/3)^80, and has no N-th root.
    """
    small = arith.random_prime(64, blum=True)
    big = arith.random_prime(2048 - 63, blum=True)
    n = small * big
    assert n.bit_length() >= 2048
    verify_mod(n, prove_mod(small, big, _context()), _context())


def test_prover_refuses_non_blum_primes() -> None:
    with pytest.raises(ValueError):
        prove_mod(_prime(256, 1), arith.random_prime(256, blum=True), _context())


# --- a forger that knows the factorisation and answers whatever can be answered -------------------------


def _legendre(a: int, p: int) -> int:
    return arith.jacobi(a, p)


def _fourth_root(a: int, p: int, k: int) -> int | None:
    """A fourth root of a mod p^k (p odd prime), or None; exact when p ≡ 3 (mod 4)."""
    pk = p**k
    order = (p - 1) * p ** (k - 1)
    odd = order // 2
    while odd % 2 == 0:
        odd //= 2
    # On the odd-order part of Z*_{p^k}, x -> x^4 is a bijection with inverse exponent 4^-1 mod odd.
    x = arith.powmod(a, arith.invert(4, odd), pk)
    return x if arith.powmod(x, 4, pk) == a % pk else None


def _forge(n: int, factors: list[tuple[int, int]], transcript: Transcript) -> ModProof:
    """Π_mod answers from the factorisation of any N: correct wherever a root exists, junk elsewhere."""
    primes = [p for p, _ in factors]
    while True:  # w: a residue mod the first prime, a non-residue mod the others (Jacobi -1 when it can be)
        w = arith.random_below(n)
        if (
            arith.gcd(w, n) == 1
            and _legendre(w, primes[0]) == 1
            and all(_legendre(w, p) == -1 for p in primes[1:])
        ):
            break
    if len(primes) == 1:
        while True:
            w = arith.random_below(n)
            if _legendre(w, primes[0]) == -1:
                break
    phi = 1
    for p, k in factors:
        phi *= (p - 1) * p ** (k - 1)
    n_inv = arith.invert(n, phi) if arith.gcd(n, phi) == 1 else 1
    xs, a_bits, b_bits, zs = [], [], [], []
    for y in pimod._challenges(n, w, transcript):
        chosen = (False, False, 1)
        for a, b in ((False, False), (False, True), (True, False), (True, True)):
            target = (-1) ** a * w**b * y % n
            roots = [_fourth_root(target, p, k) for p, k in factors]
            if all(r is not None for r in roots):
                x, mod = 0, 1
                for (p, k), r in zip(factors, roots):
                    x = arith.crt_pair(x, mod, r, p**k) if mod > 1 else r
                    mod *= p**k
                chosen = (a, b, x)
                break
        xs.append(chosen[2])
        a_bits.append(chosen[0])
        b_bits.append(chosen[1])
        zs.append(arith.powmod(y, n_inv, n))
    return ModProof(w=w, x=tuple(xs), a=tuple(a_bits), b=tuple(b_bits), z=tuple(zs))
