"""sigil.wallets pieces that need no server: the server-parameter row (made once, race-safe, sealed),
the r^N pool, the purge of long-expired sessions, and the mapping of sigil.mpc errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sigil.errors import MpcInvalidMessage, MpcInvalidProof, MpcInvalidShare
from sigil.keys.context import Context, Limits
from sigil.mpc import errors as mpc_errors
from sigil.mpc.paillier import PaillierPublicKey, generate_paillier
from sigil.store.audit import now_us
from sigil.store.db import Database, migrate
from sigil.store.generation import Generation
from sigil.store.masterkey import load_master_key
from sigil.store.models import (
    MpcKeygenSession,
    MpcPairing,
    MpcParams,
    MpcSignSession,
    MpcWallet,
    Principal,
)
from sigil.store.sealing import Sealer
from sigil.wallets import params as params_module
from sigil.wallets.checks import mapped, parse
from sigil.wallets.config import MpcConfig
from sigil.wallets.params import ParamsStore
from sigil.wallets.rnpool import RnPool
from sigil.wallets.service import MpcService
from support.mpc_api import params_file
from support.postgres import fresh_schema


def _context(url: str, data_dir: Path) -> Context:
    migrate(url)
    load_master_key(data_dir, create=True)
    sealer = Sealer(load_master_key(data_dir, create=False))
    return Context(Database(url), sealer, Generation(data_dir / "generation"), Limits())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.slow, pytest.mark.postgres])])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sigil.db'}"
    else:
        with fresh_schema() as url:
            yield url


def test_params_made_once_when_two_workers_race(
    db_url: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers (no shared lock file, as on two nodes) both make parameters at the same time:
    one row is stored and both serve it."""
    config = MpcConfig(params_file=str(params_file(request.config)))
    real = params_module._obtain
    barrier = threading.Barrier(2)

    def both_at_once(cfg: MpcConfig) -> object:
        out = real(cfg)
        barrier.wait(timeout=30)
        return out

    monkeypatch.setattr(params_module, "_obtain", both_at_once)
    contexts = [_context(db_url, tmp_path), _context(db_url, tmp_path)]
    results: list[dict[str, object]] = []
    errors: list[BaseException] = []

    def worker(ctx: Context) -> None:
        try:
            loaded = ParamsStore(ctx, config, None).get()
            results.append({"public": loaded.public_json, "pem": loaded.transport_public_pem})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(c,)) for c in contexts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        assert len(results) == 2 and results[0] == results[1]
        with contexts[0].db.read() as session:
            assert session.execute(select(func.count()).select_from(MpcParams)).scalar_one() == 1
            row = session.get(MpcParams, 1)
            assert row is not None
        # The transport key is sealed under the row's identity, not stored in clear.
        assert b"PRIVATE KEY" not in row.sealed_transport_key
        key = ParamsStore(contexts[0], config, None).get().transport_private_key(contexts[0].sealer)
        assert key.curve.name == "secp256r1"
    finally:
        for c in contexts:
            c.close()


def test_rn_pool_hands_each_value_out_once() -> None:
    n = generate_paillier(2048).public.n
    pool = RnPool(3)
    assert pool.take("pair_x", n) is None
    pool.refill("pair_x", n)
    for _ in range(200):
        if pool.size("pair_x", n) == 3:
            break
        threading.Event().wait(0.05)
    assert pool.size("pair_x", n) == 3
    values = [pool.take("pair_x", n) for _ in range(3)]
    assert None not in values and len(set(values)) == 3
    assert pool.take("pair_x", n) is None
    assert pool.take("pair_y", n) is None  # per pairing
    public = PaillierPublicKey(n)
    for rn in values:
        assert rn is not None
        # r^N is an N-th residue unit: Enc(m; rn) decrypts to m.
        assert 0 < rn < public.n2


def test_mpc_errors_map_to_stable_codes() -> None:
    cases = [
        (mpc_errors.InvalidMessage("r1 must be a point"), MpcInvalidMessage, "mpc_invalid_message"),
        (mpc_errors.InvalidProof("schnorr"), MpcInvalidProof, "mpc_invalid_proof"),
        (mpc_errors.InvalidShare("share 2 does not match"), MpcInvalidShare, "mpc_invalid_share"),
    ]
    for raised, expected, code in cases:
        with pytest.raises(expected) as info, mapped():
            raise raised
        assert info.value.code == code and info.value.status == 422


def test_parse_turns_any_failure_into_422() -> None:
    def explode(_d: object) -> object:
        raise KeyError("x")

    for data in ("text", [], None, 5):
        with pytest.raises(MpcInvalidMessage):
            parse(dict, data, "nonce")
    with pytest.raises(MpcInvalidMessage):
        parse(explode, {}, "nonce")


def test_purge_deletes_only_sessions_expired_over_an_hour_ago(db_url: str, tmp_path: Path) -> None:
    """Keygen and signing sessions that expired more than an hour ago are deleted; younger ones
    (whose 409 "expired" a client may still be about to see) and live ones stay."""
    ctx = _context(db_url, tmp_path)
    now = now_us()
    hour = 3_600 * 1_000_000
    ages = {"old": now - 2 * hour, "recent": now - hour // 2, "live": now + 60 * 1_000_000}
    try:
        with ctx.db.write() as session:
            session.add(Principal(id="p", name="purge", token_hash=b"t" * 32, scopes="", created_at=now))
            session.flush()
            session.add(
                MpcWallet(
                    id="w_purge",
                    principal_id="p",
                    mode="dkg",
                    public_key=b"\x02" * 33,
                    public_shares="{}",
                    sealed_share=b"s",
                    created_at=now,
                )
            )
            session.flush()
            session.add(
                MpcPairing(
                    id="pair_purge",
                    wallet_id="w_purge",
                    client_index=1,
                    nonce=b"n" * 32,
                    state="active",
                    nonce_expires_at=now,
                    created_at=now,
                )
            )
            session.flush()
            for name, expires in ages.items():
                common = {"principal_id": "p", "sealed_state": b"s", "expires_at": expires, "created_at": now}
                session.add(MpcKeygenSession(id=f"kg_{name}", session_id=b"i" * 16, **common))
                session.add(
                    MpcSignSession(
                        id=f"ss_{name}",
                        pairing_id="pair_purge",
                        message_hash=b"h" * 32,
                        commitment="{}",
                        **common,
                    )
                )
        service = MpcService(ctx, MpcConfig())
        assert service.purge_keygen_sessions(now=now) == 1
        assert service.signing.purge(now=now) == 1
        with ctx.db.read() as session:
            keygens = set(session.scalars(select(MpcKeygenSession.id)))
            signs = set(session.scalars(select(MpcSignSession.id)))
        assert keygens == {"kg_recent", "kg_live"}
        assert signs == {"ss_recent", "ss_live"}
    finally:
        ctx.close()
