"""sigil.mpc.keygen: the two-party DKG (server commits first) and the client-side dealer."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from sigil.mpc import arith, keygen
from sigil.mpc.arith import Q
from sigil.mpc.errors import InvalidMessage, InvalidProof, InvalidShare
from sigil.mpc.proofs.schnorr import SchnorrProof
from sigil.mpc.shares import BACKUP, CLIENT, SERVER, Feldman, deal, reconstruct


def _sid() -> bytes:
    return secrets.token_bytes(16)


def _run(sid: bytes | None = None) -> tuple[keygen.ClientDkgState, keygen.DkgServerMessage, tuple[Any, int]]:
    sid = sid or _sid()
    server_state, commitment = keygen.server_dkg_start(sid)
    commitment = keygen.DkgCommitment.from_json(commitment.to_json())
    client_state, msg = keygen.client_dkg_round(sid, commitment)
    msg = keygen.DkgClientMessage.from_json(msg.to_json())
    server_state = keygen.ServerDkgState.from_json(
        server_state.to_json()
    )  # stored sealed in the DB between rounds
    server_public, x2, reply = keygen.server_dkg_finish(server_state, msg)
    reply = keygen.DkgServerMessage.from_json(reply.to_json())
    return client_state, reply, (server_public, x2)


def test_dkg_end_to_end() -> None:
    client_state, reply, (server_public, x2) = _run()
    client_state = keygen.ClientDkgState.from_json(client_state.to_json())
    public, x1, x3 = keygen.client_dkg_finish(client_state, reply)
    assert public == server_public
    assert arith.base_mul(x1) == public.public_shares[CLIENT]
    assert arith.base_mul(x2) == public.public_shares[SERVER]
    assert arith.base_mul(x3) == public.public_shares[BACKUP]
    key = reconstruct({CLIENT: x1, SERVER: x2})
    assert arith.base_mul(key) == public.public_key
    assert reconstruct({CLIENT: x1, SERVER: x2, BACKUP: x3}) == key


def test_states_do_not_print_secrets() -> None:
    sid = _sid()
    server_state, _ = keygen.server_dkg_start(sid)
    text = repr(server_state)
    for secret in (*server_state.coefficients, server_state.opening.hex()):
        assert (f"{secret:x}" if isinstance(secret, int) else secret) not in text
        assert str(secret) not in text
    client_state, _ = keygen.client_dkg_round(sid, keygen.DkgCommitment(secrets.token_bytes(32)))
    assert all(str(c) not in repr(client_state) for c in client_state.coefficients)


def test_client_rejects_a_wrong_opening_or_tampered_server_message() -> None:
    client_state, reply, _ = _run()
    bad_opening = keygen.DkgServerMessage(
        secrets.token_bytes(32), reply.feldman, reply.proof, reply.share_for_client, reply.share_for_backup
    )
    with pytest.raises(InvalidProof) as exc:
        keygen.client_dkg_finish(client_state, bad_opening)
    assert exc.value.proof == "commitment"
    # Any change to the committed values breaks the opening: the server cannot adapt after seeing f_c.
    other = Feldman(reply.feldman.c0, arith.base_mul(7))
    with pytest.raises(InvalidProof):
        keygen.client_dkg_finish(
            client_state,
            keygen.DkgServerMessage(
                reply.opening, other, reply.proof, reply.share_for_client, reply.share_for_backup
            ),
        )
    bad_share = keygen.DkgServerMessage(
        reply.opening, reply.feldman, reply.proof, (reply.share_for_client + 1) % Q, reply.share_for_backup
    )
    with pytest.raises(InvalidShare):
        keygen.client_dkg_finish(client_state, bad_share)
    bad_backup = keygen.DkgServerMessage(
        reply.opening, reply.feldman, reply.proof, reply.share_for_client, reply.share_for_client
    )
    with pytest.raises(InvalidShare):
        keygen.client_dkg_finish(client_state, bad_backup)


def test_server_rejects_bad_client_messages() -> None:
    sid = _sid()
    server_state, commitment = keygen.server_dkg_start(sid)
    _, msg = keygen.client_dkg_round(sid, commitment)
    forged = keygen.DkgClientMessage(
        msg.feldman, SchnorrProof(msg.proof.commitment, (msg.proof.response + 1) % Q), msg.share_for_server
    )
    with pytest.raises(InvalidProof):
        keygen.server_dkg_finish(server_state, forged)
    with pytest.raises(InvalidShare):
        keygen.server_dkg_finish(
            server_state, keygen.DkgClientMessage(msg.feldman, msg.proof, (msg.share_for_server + 1) % Q)
        )
    # A rogue c0 (e.g. X − C_s0) comes without a proof of its discrete log.
    rogue = Feldman(arith.base_mul(5), msg.feldman.c1)
    with pytest.raises(InvalidProof):
        keygen.server_dkg_finish(
            server_state, keygen.DkgClientMessage(rogue, msg.proof, msg.share_for_server)
        )
    # A message made for another session (another server commitment) is refused.
    sid_b = _sid()
    state_b, _ = keygen.server_dkg_start(sid_b)
    with pytest.raises(InvalidProof):
        keygen.server_dkg_finish(state_b, msg)
    # The honest message still works afterwards.
    keygen.server_dkg_finish(server_state, msg)


def test_message_readers_reject_bad_fields() -> None:
    sid = _sid()
    _, commitment = keygen.server_dkg_start(sid)
    _, msg = keygen.client_dkg_round(sid, commitment)
    d = msg.to_json()
    bad = [
        {**d, "share_for_server": "0"},
        {**d, "share_for_server": f"{Q:x}"},
        {**d, "feldman": {**d["feldman"], "c1": "02" + "00" * 32}},
        {**d, "proof": {**d["proof"], "z": f"{Q + 1:x}"}},
        {k: v for k, v in d.items() if k != "proof"},
    ]
    for b in bad:
        with pytest.raises(InvalidMessage):
            keygen.DkgClientMessage.from_json(b)
    with pytest.raises(InvalidMessage):
        keygen.DkgCommitment.from_json({"commitment": "00" * 31})
    with pytest.raises(InvalidMessage):
        keygen.server_dkg_start(b"short")
    state, _ = keygen.server_dkg_start(sid)
    with pytest.raises(InvalidMessage):
        keygen.ServerDkgState.from_json({**state.to_json(), "version": 2})


def test_dealer_mode() -> None:
    feldman, dealt = deal()
    public, x2 = keygen.server_accept_dealt(feldman, dealt[SERVER])
    assert x2 == dealt[SERVER] and public.public_key == feldman.c0
    with pytest.raises(InvalidShare):
        keygen.server_accept_dealt(feldman, dealt[CLIENT])
    other, _ = deal()
    assert keygen.dealer_aad(feldman) != keygen.dealer_aad(other)
    assert keygen.dealer_aad(feldman).startswith(b"sigil/mpc/dealer-share/v1")
    share = keygen.DealerShare(feldman, {"v": 1})
    assert keygen.DealerShare.from_json(share.to_json()) == share
