"""The deployment's MPC server parameters: ring-Pedersen parameters with their Π_prm proof, and
the P-256 transport key that dealt shares are sealed to.

They are made once per deployment and kept in one database row (id 1), the secrets sealed with the
row's identity as associated data. Making them takes 10–30 s (two 1024-bit safe primes), so
``sigil serve`` starts it in a background process at start-up (``prepare_in_background``); a
request that needs them before that finishes waits for it. On one node a file lock makes every
process wait for the one generating; the insert itself is race-safe (a second inserter's unique
violation is ignored, and everyone reads the winner's row), so nodes sharing PostgreSQL agree too.

The ring-Pedersen secret (the factorisation of N̂ and λ) is never needed again after the proof is
made; it is kept sealed only so that the proof can be remade (e.g. with a new transcript version).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.exc import IntegrityError

from sigil.keys.context import Context
from sigil.mpc.ringpedersen import RingPedersenSecret, ServerParams, make_server_params, verify_server_params
from sigil.store import audit
from sigil.store.audit import AuditEvent, now_us
from sigil.store.models import MpcParams
from sigil.store.sealing import Sealer
from sigil.wallets.config import MpcConfig

log = logging.getLogger("sigil.mpc")

PARAMS_ROW = 1
LOCK_FILE = "mpc-params.lock"
RING_PEDERSEN_AAD = b"sigil:v1:mpc-params:1:ring-pedersen-secret"
TRANSPORT_AAD = b"sigil:v1:mpc-params:1:transport-key"


@dataclass(frozen=True)
class LoadedParams:
    server_params: ServerParams
    public_json: dict[str, Any]  # what GET /v1/mpc/params serves
    transport_public_pem: str
    sealed_transport_key: bytes = b""

    def transport_private_key(self, sealer: Sealer) -> ec.EllipticCurvePrivateKey:
        der = sealer.open(self.sealed_transport_key, aad=TRANSPORT_AAD)
        key = serialization.load_der_private_key(der, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key


class ParamsStore:
    """Per worker: loads the row once (it never changes) and makes it if it does not exist."""

    def __init__(self, ctx: Context, config: MpcConfig, data_dir: Path | None) -> None:
        self._ctx = ctx
        self._config = config
        self._lock_path = data_dir / LOCK_FILE if data_dir is not None else None
        self._mutex = threading.Lock()
        self._loaded: LoadedParams | None = None

    def get(self) -> LoadedParams:
        loaded = self._loaded
        if loaded is not None:
            return loaded
        with self._mutex:
            if self._loaded is None:
                row = self._read() or self._make()
                self._loaded = _to_loaded(row)
            return self._loaded

    def ready(self) -> bool:
        return self._loaded is not None or self._read() is not None

    def _read(self) -> MpcParams | None:
        with self._ctx.db.read() as session:
            return session.get(MpcParams, PARAMS_ROW)

    def _make(self) -> MpcParams:
        with _node_lock(self._lock_path):
            row = self._read()  # another process of this node may have made them while we waited
            if row is not None:
                return row
            started = time.monotonic()
            params, secret = _obtain(self._config)
            transport = ec.generate_private_key(ec.SECP256R1())
            row = _new_row(self._ctx.sealer, params, secret, transport)
            try:
                with self._ctx.db.write() as session:
                    if session.get(MpcParams, PARAMS_ROW) is None:
                        session.add(row)
                        session.flush()
                        audit.append(
                            session,
                            self._ctx.sealer.audit_key,
                            [AuditEvent("system", "mpc.params_create", outcome="ok")],
                        )
            except IntegrityError:
                pass  # another node inserted first: use theirs
            log.info("MPC server parameters ready in %.1f s", time.monotonic() - started)
            found = self._read()
            assert found is not None
            return found


def _obtain(config: MpcConfig) -> tuple[ServerParams, RingPedersenSecret]:
    if config.params_file:
        return import_params(Path(config.params_file))
    return make_server_params(config.ring_pedersen_bits)


def _new_row(
    sealer: Sealer, params: ServerParams, secret: RingPedersenSecret, transport: ec.EllipticCurvePrivateKey
) -> MpcParams:
    der = transport.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem = transport.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return MpcParams(
        id=PARAMS_ROW,
        server_params=orjson.dumps(params.to_json()).decode(),
        sealed_ring_pedersen=sealer.seal(orjson.dumps(secret_to_json(secret)), aad=RING_PEDERSEN_AAD),
        transport_public_pem=pem.decode(),
        sealed_transport_key=sealer.seal(der, aad=TRANSPORT_AAD),
        created_at=now_us(),
    )


def _to_loaded(row: MpcParams) -> LoadedParams:
    public = orjson.loads(row.server_params)
    return LoadedParams(
        server_params=ServerParams.from_json(public),
        public_json=public,
        transport_public_pem=row.transport_public_pem,
        sealed_transport_key=row.sealed_transport_key,
    )


# --- the secret's JSON form, and import of pre-generated parameters --------------------------


def secret_to_json(secret: RingPedersenSecret) -> dict[str, Any]:
    to_json = getattr(secret, "to_json", None)
    if callable(to_json):
        out: dict[str, Any] = to_json()
        return out
    return {f.name: format(getattr(secret, f.name), "x") for f in fields(secret)}


def secret_from_json(data: dict[str, Any]) -> RingPedersenSecret:
    from_json = getattr(RingPedersenSecret, "from_json", None)
    if callable(from_json):
        secret: RingPedersenSecret = from_json(data)
        return secret
    return RingPedersenSecret(**{f.name: int(data[f.name], 16) for f in fields(RingPedersenSecret)})


def export_params(params: ServerParams, secret: RingPedersenSecret) -> dict[str, Any]:
    """The file ``SIGIL_MPC_PARAMS_FILE`` reads (holds the secret: keep it 0600, delete after use)."""
    return {"server_params": params.to_json(), "ring_pedersen_secret": secret_to_json(secret)}


def import_params(path: Path) -> tuple[ServerParams, RingPedersenSecret]:
    data = orjson.loads(path.read_bytes())
    params = ServerParams.from_json(data["server_params"])
    verify_server_params(params)  # never serve a proof that does not check
    secret = secret_from_json(data["ring_pedersen_secret"])
    p, q = getattr(secret, "p", None), getattr(secret, "q", None)
    if p is not None and q is not None and p * q != params.ring_pedersen.n:
        raise ValueError(f"{path}: the ring-Pedersen secret does not match the parameters")
    return params, secret


class _node_lock:
    """An exclusive ``flock`` on the data dir's lock file (no-op without a data dir)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> None:
        if self._path is not None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


# --- start-up ------------------------------------------------------------------------------------


def prepare_in_background(db_url: str, data_dir: Path) -> None:
    """Start making the parameters in a separate, low-priority process unless they exist
    (``sigil serve`` calls it from ``prepare``): the first wallet rarely waits, and the key
    service's workers never share a core's GIL with safe-prime search."""
    import multiprocessing

    from sigil.store.db import Database

    db = Database(db_url)
    try:
        with db.read() as session:
            if session.get(MpcParams, PARAMS_ROW) is not None:
                return
    finally:
        db.dispose()
    proc = multiprocessing.get_context("spawn").Process(
        target=_prepare_main, args=(db_url, str(data_dir)), name="sigil-mpc-params", daemon=True
    )
    proc.start()


def _prepare_main(db_url: str, data_dir: str) -> None:
    from contextlib import suppress

    from sigil.keys.context import Limits
    from sigil.store.db import Database
    from sigil.store.generation import Generation
    from sigil.store.masterkey import load_master_key

    with suppress(OSError):
        os.nice(19)
    path = Path(data_dir)
    ctx = Context(
        Database(db_url),
        Sealer(load_master_key(path, create=False)),
        Generation(path / "generation"),
        Limits(),
    )
    try:
        ParamsStore(ctx, MpcConfig.from_env(), path).get()
    except Exception:
        log.exception("making the MPC server parameters failed (the first request will retry)")
    finally:
        ctx.close()
