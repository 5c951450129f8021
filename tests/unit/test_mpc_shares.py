"""sigil.mpc.shares: Shamir 2-of-3 with Feldman commitments, Lagrange to additive shares, reconstruction."""

from __future__ import annotations

import itertools

import pytest

from sigil.mpc import arith
from sigil.mpc.arith import Q
from sigil.mpc.errors import InvalidMessage, InvalidShare
from sigil.mpc.shares import (
    BACKUP,
    CLIENT,
    SERVER,
    Feldman,
    WalletPublic,
    additive_share,
    deal,
    lagrange_at_zero,
    reconstruct,
    verify_share,
)


def test_deal_verify_and_reconstruct() -> None:
    secret = arith.random_scalar()
    feldman, shares = deal(secret)
    assert feldman.c0 == arith.base_mul(secret)
    for i, s in shares.items():
        verify_share(i, s, feldman)
        assert feldman.public_share(i) == arith.base_mul(s)
    for a, b in itertools.combinations((CLIENT, SERVER, BACKUP), 2):
        assert reconstruct({a: shares[a], b: shares[b]}) == secret
        w = additive_share(a, shares[a], (a, b)) + additive_share(b, shares[b], (a, b))
        assert w % Q == secret
    assert reconstruct(shares) == secret


def test_lagrange_coefficients() -> None:
    assert lagrange_at_zero(1, (1, 2)) == 2
    assert lagrange_at_zero(2, (1, 2)) == Q - 1
    assert (lagrange_at_zero(3, (3, 2)) * 3 + lagrange_at_zero(2, (3, 2)) * 2) % Q == 0
    for bad in ((1, (2, 3)), (1, (1, 1)), (4, (4, 2)), (1, (1, 0))):
        with pytest.raises(InvalidMessage):
            lagrange_at_zero(*bad)


def test_bad_shares_rejected() -> None:
    feldman, shares = deal()
    with pytest.raises(InvalidShare):
        verify_share(SERVER, (shares[SERVER] + 1) % Q, feldman)
    with pytest.raises(InvalidShare):
        verify_share(SERVER, shares[CLIENT], feldman)
    for bad in (0, Q, -1):
        with pytest.raises(InvalidShare):
            verify_share(SERVER, bad, feldman)
    with pytest.raises(InvalidShare):
        reconstruct({1: shares[1], 2: shares[2], 3: (shares[3] + 1) % Q})
    with pytest.raises(InvalidShare):
        reconstruct({1: shares[1]})


def test_wallet_public() -> None:
    feldman, shares = deal()
    wp = WalletPublic.from_feldman(feldman)
    assert wp.public_key == feldman.c0
    assert WalletPublic.from_json(wp.to_json()) == wp
    assert Feldman.from_json(feldman.to_json()) == feldman
    w1 = additive_share(CLIENT, shares[CLIENT], (CLIENT, SERVER))
    assert wp.pair_public(CLIENT, (CLIENT, SERVER)) == arith.base_mul(w1)
    shifted = dict(wp.public_shares)
    shifted[BACKUP] = shifted[BACKUP] + arith.G
    with pytest.raises(InvalidMessage):
        WalletPublic(wp.public_key, shifted)
    with pytest.raises(InvalidMessage):
        WalletPublic(wp.public_key, {1: wp.public_shares[1], 2: wp.public_shares[2]})
    bad_json = wp.to_json()
    bad_json["public_shares"] = {"1": bad_json["public_shares"]["1"], "2": bad_json["public_shares"]["2"]}
    with pytest.raises(InvalidMessage):
        WalletPublic.from_json(bad_json)
