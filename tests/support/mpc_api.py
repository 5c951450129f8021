"""The client party of the MPC API tests: sigil.mpc's client functions over real HTTP.

Server parameters (two 1024-bit safe primes, 10–30 s) are made once and cached in pytest's cache
directory; test servers import them through ``SIGIL_MPC_PARAMS_FILE`` instead of each spending half
a minute on them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from sigil.mpc import keygen, pairing, shares, sign
from sigil.mpc.arith import Point
from sigil.mpc.ringpedersen import ServerParams
from support.server import ServerProcess

MPC_TABLES = ("mpc_params", "mpc_wallets", "mpc_keygen_sessions", "mpc_pairings", "mpc_sign_sessions")


def params_file(config: pytest.Config) -> Path:
    """A JSON file with pre-generated server parameters (made on the first run, then reused)."""
    from sigil.mpc.ringpedersen import make_server_params
    from sigil.wallets.params import export_params, import_params

    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider, which `make test` uses
    if cache is not None:
        directory = cache.mkdir("sigil-mpc-params")
    else:
        directory = Path(tempfile.gettempdir()) / f"sigil-test-mpc-params-{os.getuid()}"
        directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / "server-params.json"
    if path.exists():
        try:
            import_params(path)  # still readable by this version of sigil.mpc?
        except Exception:
            path.unlink()
    if not path.exists():
        params, secret = make_server_params(2048)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # xdist workers may race; the last replace wins
        tmp.write_bytes(orjson.dumps(export_params(params, secret)))
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    return path


def mpc_env(config: pytest.Config, **extra: str) -> dict[str, str]:
    return {"SIGIL_MPC_PARAMS_FILE": str(params_file(config)), **extra}


def new_token(server: ServerProcess, name: str = "mpc") -> str:
    import secrets

    with server.client(server.admin_token) as admin:
        r = admin.post("/v1/tokens", json={"name": f"{name}-{secrets.token_hex(6)}"})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


def db_url(server: ServerProcess) -> str:
    return server.db_url or f"sqlite:///{server.data_dir / 'sigil.db'}"


@dataclass
class Wallet:
    wallet_id: str
    public: Any  # shares.WalletPublic
    x1: int
    x3: int
    answer: dict[str, Any]

    @property
    def public_key(self) -> Point:
        return self.public.public_key  # type: ignore[no-any-return]


@dataclass
class Paired:
    wallet: Wallet
    pairing_id: str
    client: Any  # pairing.ClientPairing


def server_params(api: httpx.Client) -> ServerParams:
    r = api.get("/v1/mpc/params")
    assert r.status_code == 200, r.text
    return ServerParams.from_json(r.json()["server_params"])


def dkg_wallet(api: httpx.Client, label: str | None = None) -> Wallet:
    r = api.post("/v1/mpc/keygen", json={})
    assert r.status_code == 201, r.text
    started = r.json()
    sid = bytes.fromhex(started["session_id"])
    state, message = keygen.client_dkg_round(sid, keygen.DkgCommitment.from_json(started["commitment"]))
    body: dict[str, Any] = {"message": message.to_json()}
    if label is not None:
        body["label"] = label
    r = api.post(f"/v1/mpc/keygen/{started['keygen_id']}", json=body)
    assert r.status_code == 201, r.text
    answer = r.json()
    public, x1, x3 = keygen.client_dkg_finish(state, keygen.DkgServerMessage.from_json(answer["message"]))
    assert public.public_key.to_bytes().hex() == answer["public_key"]
    return Wallet(answer["wallet_id"], public, x1, x3, answer)


def start_pairing(api: httpx.Client, wallet: Wallet, index: int = 1) -> pairing.PairingContext:
    r = api.post(f"/v1/mpc/wallets/{wallet.wallet_id}/pairings", json={"client_index": index})
    assert r.status_code == 201, r.text
    answer = r.json()
    return pairing.PairingContext(
        wallet_id=wallet.wallet_id,
        pairing_id=answer["pairing_id"],
        nonce=bytes.fromhex(answer["nonce"]),
        client_index=index,
        public_key=wallet.public_key,
    )


def client_share(wallet: Wallet, index: int) -> int:
    share = wallet.x1 if index == shares.CLIENT else wallet.x3
    pair = tuple(sorted((index, shares.SERVER)))
    return shares.additive_share(index, share, pair)  # type: ignore[arg-type]


def pair(api: httpx.Client, wallet: Wallet, index: int = 1, params: ServerParams | None = None) -> Paired:
    context = start_pairing(api, wallet, index)
    client_pairing, request = pairing.client_pair(
        context, client_share(wallet, index), params or server_params(api)
    )
    r = api.post(f"/v1/mpc/pairings/{context.pairing_id}", json={"request": request.to_json()})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "active"
    return Paired(wallet, context.pairing_id, client_pairing)


def sign_round1(api: httpx.Client, paired: Paired, digest: bytes) -> tuple[str, Any, Any]:
    """(session id hex, client state, nonce message)."""
    r = api.post(f"/v1/mpc/pairings/{paired.pairing_id}/sign", json={"message_hash": digest.hex()})
    assert r.status_code == 200, r.text
    started = r.json()
    ctx = sign.SignContext(
        session_id=bytes.fromhex(started["session_id"]),
        pairing_id=paired.pairing_id,
        wallet_id=paired.wallet.wallet_id,
        message_hash=digest,
    )
    state, nonce = sign.client_sign_nonce(ctx, sign.SignCommitment.from_json(started["commitment"]))
    return started["session_id"], state, nonce


def sign_message(api: httpx.Client, paired: Paired, digest: bytes) -> Any:
    sid, state, nonce = sign_round1(api, paired, digest)
    r = api.post(f"/v1/mpc/sessions/{sid}", json={"nonce": nonce.to_json()})
    assert r.status_code == 200, r.text
    reveal = sign.ServerReveal.from_json(r.json()["reveal"])
    return sign.client_sign_finish(state, reveal, paired.client, paired.wallet.public_key)


# --- stored state, before and after --------------------------------------------------------------


class Snapshot:
    """Every MPC row and every successful audit entry, read straight from the database."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.engine = sa.create_engine(db_url(server))

    def take(self) -> dict[str, Any]:
        with self.server.client(self.server.admin_token) as admin:
            admin.get("/v1/audit/verify").raise_for_status()  # flushes queued audit events
        out: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for table in MPC_TABLES:
                out[table] = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1")).all()
            out["audit_ok"] = conn.execute(
                sa.text("SELECT seq, action, key_id FROM audit_log WHERE outcome = 'ok' ORDER BY seq")
            ).all()
        return out

    @contextmanager
    def unchanged(self) -> Iterator[None]:
        before = self.take()
        yield
        after = self.take()
        for name in before:
            assert after[name] == before[name], f"stored state changed: {name}"

    def close(self) -> None:
        self.engine.dispose()


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert body["detail"]
    return body
