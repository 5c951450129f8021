"""sigil.mpc.sign: Lindell 2017 two-party signing end to end, and every check each party makes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

import coincurve
import pytest
from eth_keys import keys as eth_keys

from sigil.mpc import arith, keygen, sign
from sigil.mpc.arith import Point, Q
from sigil.mpc.errors import InvalidMessage, InvalidProof, InvalidShare, SignatureFailed
from sigil.mpc.paillier import PaillierSecretKey, generate_paillier
from sigil.mpc.proofs.schnorr import SchnorrProof
from sigil.mpc.shares import BACKUP, CLIENT, SERVER, WalletPublic, additive_share, deal

try:
    from sigil.mpc.pairing import ClientPairing, PairingContext, ServerPairing
except ImportError:  # the pairing module lands separately; sign.py only reads these attributes

    @dataclass(frozen=True)
    class PairingContext:  # type: ignore[no-redef]
        wallet_id: str
        pairing_id: str
        nonce: bytes
        client_index: int
        public_key: Point

    @dataclass(frozen=True)
    class ClientPairing:  # type: ignore[no-redef]
        context: PairingContext
        paillier: PaillierSecretKey = field(repr=False)
        w1: int = field(repr=False)
        c_key: int

    @dataclass(frozen=True)
    class ServerPairing:  # type: ignore[no-redef]
        context: PairingContext
        paillier_n: int
        c_key: int
        w1_point: Point


@pytest.fixture(scope="module")
def paillier() -> PaillierSecretKey:
    return generate_paillier()


class Wallet:
    """Both parties' view of a wallet and one pairing, built directly (the pairing proofs test apart)."""

    def __init__(
        self, public: WalletPublic, shares: dict[int, int], index: int, sk: PaillierSecretKey
    ) -> None:
        self.public = public
        pair = (index, SERVER)
        w1 = additive_share(index, shares[index], pair)
        self.w2 = additive_share(SERVER, shares[SERVER], pair)
        ctx = PairingContext(
            wallet_id="w-" + secrets.token_hex(4),
            pairing_id="p-" + secrets.token_hex(4),
            nonce=secrets.token_bytes(32),
            client_index=index,
            public_key=public.public_key,
        )
        c_key = sk.public.encrypt(w1)
        self.client = ClientPairing(context=ctx, paillier=sk, w1=w1, c_key=c_key)
        self.server = ServerPairing(
            context=ctx, paillier_n=sk.n, c_key=c_key, w1_point=public.pair_public(index, pair)
        )
        assert self.server.w1_point == arith.base_mul(w1)

    def ctx(self, message_hash: bytes, session_id: bytes | None = None) -> sign.SignContext:
        return sign.SignContext(
            session_id=session_id or secrets.token_bytes(16),
            pairing_id=self.client.context.pairing_id,
            wallet_id=self.client.context.wallet_id,
            message_hash=message_hash,
        )


def dealer_wallet(index: int, sk: PaillierSecretKey) -> Wallet:
    feldman, shares = deal()
    return Wallet(WalletPublic.from_feldman(feldman), shares, index, sk)


def dkg_wallet(index: int, sk: PaillierSecretKey) -> Wallet:
    sid = secrets.token_bytes(16)
    server_state, commitment = keygen.server_dkg_start(sid)
    client_state, msg = keygen.client_dkg_round(sid, commitment)
    _, x2, reply = keygen.server_dkg_finish(server_state, msg)
    public, x1, x3 = keygen.client_dkg_finish(client_state, reply)
    return Wallet(public, {CLIENT: x1, SERVER: x2, BACKUP: x3}, index, sk)


def run(wallet: Wallet, message_hash: bytes, *, over_json: bool = True) -> sign.RecoverableSignature:
    ctx = wallet.ctx(message_hash)
    server_state, commitment = sign.server_sign_commit(ctx)
    if over_json:
        commitment = sign.SignCommitment.from_json(commitment.to_json())
        server_state = sign.ServerSignState.from_json(server_state.to_json())
    client_state, nonce = sign.client_sign_nonce(ctx, commitment)
    if over_json:
        nonce = sign.ClientNonce.from_json(nonce.to_json())
        client_state = sign.ClientSignState.from_json(client_state.to_json())
    reveal = sign.server_sign_respond(server_state, nonce, wallet.server, wallet.w2)
    if over_json:
        reveal = sign.ServerReveal.from_json(reveal.to_json())
    return sign.client_sign_finish(client_state, reveal, wallet.client, wallet.public.public_key)


def check_recovers(sig: sign.RecoverableSignature, message_hash: bytes, public_key: Point) -> None:
    rsv = sig.to_rsv()
    assert len(rsv) == 65 and rsv[64] in (0, 1)
    recovered = coincurve.PublicKey.from_signature_and_message(rsv, message_hash, hasher=None)
    assert recovered.format() == public_key.to_bytes()
    eth_sig = eth_keys.Signature(vrs=(sig.recovery_id, sig.r, sig.s))
    assert eth_sig.recover_public_key_from_msg_hash(message_hash).to_bytes() == public_key.to_bytes(False)[1:]
    assert coincurve.PublicKey(public_key.to_bytes()).verify(
        coincurve.ecdsa.cdata_to_der(coincurve.ecdsa.deserialize_compact(rsv[:64])), message_hash, hasher=None
    )
    assert sig.s <= Q // 2


@pytest.mark.parametrize("make", [dealer_wallet, dkg_wallet], ids=["dealer", "dkg"])
@pytest.mark.parametrize("index", [CLIENT, BACKUP], ids=["pair12", "pair32"])
def test_two_of_three_signatures_verify(make: Any, index: int, paillier: PaillierSecretKey) -> None:
    wallet = make(index, paillier)
    for i in range(4):
        h = hashlib.sha256(f"message {i}".encode()).digest()
        sig = run(wallet, h, over_json=i % 2 == 0)
        assert sign.verify_signature(wallet.public.public_key, h, sig.r, sig.s)
        check_recovers(sig, h, wallet.public.public_key)
    assert sign.RecoverableSignature.from_json(sig.to_json()) == sig


def test_many_signatures_recovery_ids(paillier: PaillierSecretKey) -> None:
    wallet = dealer_wallet(CLIENT, paillier)
    seen = set()
    for _ in range(24):
        h = secrets.token_bytes(32)
        sig = run(wallet, h, over_json=False)
        check_recovers(sig, h, wallet.public.public_key)
        seen.add(sig.recovery_id)
    assert seen == {0, 1}


def test_malicious_c3_fails_and_must_lock(paillier: PaillierSecretKey) -> None:
    """CVE-2023-33242: the server adds an offset to c3; the client raises SignatureFailed (→ lock)."""
    wallet = dealer_wallet(CLIENT, paillier)
    pk = paillier.public
    messages: set[str] = set()
    for offset in (1, 2**200, Q):
        ctx = wallet.ctx(secrets.token_bytes(32))
        server_state, commitment = sign.server_sign_commit(ctx)
        client_state, nonce = sign.client_sign_nonce(ctx, commitment)
        reveal = sign.server_sign_respond(server_state, nonce, wallet.server, wallet.w2)
        evil = replace(reveal, c3=pk.add(reveal.c3, pk.encrypt(offset)))
        if offset == Q:  # an offset ≡ 0 mod q leaves s unchanged: the attack's other branch, not a failure
            sign.client_sign_finish(client_state, evil, wallet.client, wallet.public.public_key)
            continue
        with pytest.raises(SignatureFailed) as exc:
            sign.client_sign_finish(client_state, evil, wallet.client, wallet.public.public_key)
        messages.add(str(exc.value))
    # An honest server with a wrong w2 refuses to answer (a failure would lock the user's pairing) ...
    ctx = wallet.ctx(secrets.token_bytes(32))
    server_state, commitment = sign.server_sign_commit(ctx)
    client_state, nonce = sign.client_sign_nonce(ctx, commitment)
    with pytest.raises(InvalidShare):
        sign.server_sign_respond(server_state, nonce, wallet.server, (wallet.w2 + 1) % Q)
    # ... and a cheating one that computes c3 with another w2 anyway is caught by the client.
    wrong_w2 = (wallet.w2 + 1) % Q
    cheat = replace(wallet.server, w1_point=wallet.public.public_key - arith.base_mul(wrong_w2))
    reveal = sign.server_sign_respond(server_state, nonce, cheat, wrong_w2)
    with pytest.raises(SignatureFailed) as exc:
        sign.client_sign_finish(client_state, reveal, wallet.client, wallet.public.public_key)
    messages.add(str(exc.value))
    # One message for every failure: the lock reason the client reports says nothing about which step failed.
    assert len(messages) == 1


def _session(wallet: Wallet, h: bytes | None = None) -> tuple[Any, Any, Any, Any, sign.SignContext]:
    ctx = wallet.ctx(h or secrets.token_bytes(32))
    server_state, commitment = sign.server_sign_commit(ctx)
    client_state, nonce = sign.client_sign_nonce(ctx, commitment)
    return server_state, commitment, client_state, nonce, ctx


def test_client_rejects_wrong_opening_and_forged_r2(paillier: PaillierSecretKey) -> None:
    wallet = dealer_wallet(CLIENT, paillier)
    server_state, _, client_state, nonce, _ = _session(wallet)
    reveal = sign.server_sign_respond(server_state, nonce, wallet.server, wallet.w2)
    finish = lambda r: sign.client_sign_finish(client_state, r, wallet.client, wallet.public.public_key)  # noqa: E731
    with pytest.raises(InvalidProof) as exc:
        finish(replace(reveal, opening=secrets.token_bytes(32)))
    assert exc.value.proof == "commitment"
    # Another R2 (with a valid proof for it) does not open the commitment: R2 cannot change after R1.
    other_k = arith.random_scalar()
    with pytest.raises(InvalidProof):
        finish(replace(reveal, r2=arith.base_mul(other_k)))
    with pytest.raises(InvalidProof):
        finish(replace(reveal, proof=SchnorrProof(reveal.proof.commitment, (reveal.proof.response + 1) % Q)))
    for c3 in (0, paillier.n**2, paillier.p):
        with pytest.raises(InvalidMessage):
            finish(replace(reveal, c3=c3))
    assert finish(reveal).r  # the honest reveal still works


def test_server_commitment_covers_a_valid_proof(paillier: PaillierSecretKey) -> None:
    """A server that commits to an R2 with a bad proof is caught by the proof check, after the opening."""
    wallet = dealer_wallet(CLIENT, paillier)
    ctx = wallet.ctx(secrets.token_bytes(32))
    state, _ = sign.server_sign_commit(ctx)
    bad_proof = SchnorrProof(state.proof.commitment, (state.proof.response + 1) % Q)
    from sigil.mpc.commit import commit

    commitment, opening = commit(
        ctx.session_id, "sigil/mpc/sign/r2/v1", *ctx.commit_parts(state.r2, bad_proof)
    )
    bad_state = replace(state, proof=bad_proof, commitment=commitment, opening=opening)
    client_state, nonce = sign.client_sign_nonce(ctx, sign.SignCommitment(commitment))
    reveal = sign.server_sign_respond(bad_state, nonce, wallet.server, wallet.w2)
    with pytest.raises(InvalidProof) as exc:
        sign.client_sign_finish(client_state, reveal, wallet.client, wallet.public.public_key)
    assert exc.value.proof == "schnorr"


def test_server_rejects_forged_and_replayed_r1_proofs(paillier: PaillierSecretKey) -> None:
    wallet = dealer_wallet(CLIENT, paillier)
    h = secrets.token_bytes(32)
    server_state, _, _, nonce, _ = _session(wallet, h)
    respond = lambda n: sign.server_sign_respond(server_state, n, wallet.server, wallet.w2)  # noqa: E731
    with pytest.raises(InvalidProof):
        respond(
            sign.ClientNonce(nonce.r1, SchnorrProof(nonce.proof.commitment, (nonce.proof.response + 1) % Q))
        )
    with pytest.raises(InvalidProof):
        respond(sign.ClientNonce(arith.base_mul(12345), nonce.proof))
    # A proof from another session with the same message, or the same session id with another message.
    _, _, _, other_session, _ = _session(wallet, h)
    with pytest.raises(InvalidProof):
        respond(other_session)
    ctx2 = replace(server_state.ctx, message_hash=secrets.token_bytes(32))
    _, other_commitment = sign.server_sign_commit(ctx2)
    _, other_message = sign.client_sign_nonce(ctx2, other_commitment)
    with pytest.raises(InvalidProof):
        respond(other_message)
    # Same session and message, but made for another server commitment.
    _, replayed = sign.client_sign_nonce(server_state.ctx, sign.SignCommitment(secrets.token_bytes(32)))
    with pytest.raises(InvalidProof):
        respond(replayed)
    assert respond(nonce).c3  # the honest nonce still works


def test_session_bound_to_its_pairing(paillier: PaillierSecretKey) -> None:
    a, b = dealer_wallet(CLIENT, paillier), dealer_wallet(CLIENT, paillier)
    server_state, _, client_state, nonce, _ = _session(a)
    with pytest.raises(InvalidMessage):
        sign.server_sign_respond(server_state, nonce, b.server, b.w2)
    reveal = sign.server_sign_respond(server_state, nonce, a.server, a.w2)
    with pytest.raises(InvalidMessage):
        sign.client_sign_finish(client_state, reveal, b.client, a.public.public_key)
    with pytest.raises(InvalidMessage):
        sign.client_sign_finish(client_state, reveal, a.client, b.public.public_key)


def test_bad_points_and_scalars_in_messages(paillier: PaillierSecretKey) -> None:
    wallet = dealer_wallet(CLIENT, paillier)
    server_state, _, _, nonce, _ = _session(wallet)
    d = nonce.to_json()
    off_curve = "02" + (5).to_bytes(32, "big").hex()
    for bad in (
        {**d, "r1": off_curve},
        {**d, "r1": "00"},  # SEC1 infinity
        {**d, "r1": "00" * 33},
        {**d, "r1": arith.G.to_bytes(False).hex()},
        {**d, "proof": {**d["proof"], "z": f"{Q:x}"}},
        {**d, "proof": {**d["proof"], "z": "-1"}},
        {**d, "proof": {**d["proof"], "A": off_curve}},
        {"r1": d["r1"]},
        "nonce",
    ):
        with pytest.raises(InvalidMessage):
            sign.ClientNonce.from_json(bad)
    reveal = sign.server_sign_respond(server_state, nonce, wallet.server, wallet.w2).to_json()
    for bad in (
        {**reveal, "r2": off_curve},
        {**reveal, "c3": "0" + reveal["c3"]},
        {**reveal, "c3": "f" * 4097},
        {**reveal, "opening": "00" * 31},
    ):
        with pytest.raises(InvalidMessage):
            sign.ServerReveal.from_json(bad)
    with pytest.raises(InvalidMessage):
        sign.server_sign_respond(server_state, nonce, wallet.server, 0)
    with pytest.raises(InvalidMessage):
        sign.server_sign_respond(server_state, nonce, wallet.server, Q)
    with pytest.raises(InvalidMessage):
        sign.SignCommitment.from_json({"commitment": "zz" * 32})
    with pytest.raises(InvalidMessage):
        sign.SignContext(b"\x00" * 16, "p", "w", b"\x00" * 31)
    with pytest.raises(InvalidMessage):
        sign.SignContext(b"\x00" * 8, "p", "w", b"\x00" * 32)
    with pytest.raises(InvalidMessage):
        sign.RecoverableSignature.from_json({"r": "1", "s": "1", "recovery_id": 4})


def test_secrets_not_in_reprs(paillier: PaillierSecretKey) -> None:
    wallet = dealer_wallet(CLIENT, paillier)
    server_state, _, client_state, _, _ = _session(wallet)
    assert str(server_state.k2) not in repr(server_state) and f"{server_state.k2:x}" not in repr(server_state)
    assert server_state.opening.hex() not in repr(server_state)
    assert str(client_state.k1) not in repr(client_state)
    assert str(wallet.client.w1) not in repr(wallet.client)


def test_verify_signature() -> None:
    key = coincurve.PrivateKey()
    h = secrets.token_bytes(32)
    rsv = key.sign_recoverable(h, hasher=None)
    r, s = int.from_bytes(rsv[:32], "big"), int.from_bytes(rsv[32:64], "big")
    pub = Point.from_bytes(key.public_key.format())
    assert sign.verify_signature(pub, h, r, s)
    assert sign.verify_signature(pub, h, r, Q - s)  # high-S verifies too
    assert not sign.verify_signature(pub, h, r, s + 1)
    assert not sign.verify_signature(pub, secrets.token_bytes(32), r, s)
    assert not sign.verify_signature(pub, h, 0, s)
    assert not sign.verify_signature(pub, h, r, Q)
    assert not sign.verify_signature(pub, h[:31], r, s)
