"""``sigil serve``: prepare the data dir, migrate, bootstrap the admin token, start the workers.

Everything that must happen once happens here, in the parent process, before granian spawns the
workers; the workers then read their settings from the environment (``app_from_env``).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path

from sigil.server.settings import Settings
from sigil.store.audit import AuditEvent
from sigil.store.db import default_db_url, migrate
from sigil.store.masterkey import load_master_key, write_secret_file

ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 (a file name, not a secret)


def prepare(data_dir: Path, db_url: str | None) -> Settings:
    """Create the data dir and master key, migrate the schema, and make sure an admin exists.
    Returns the settings the workers will read."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    load_master_key(data_dir, create=True)
    url = db_url or default_db_url(data_dir)
    migrate(url)
    os.environ["SIGIL_DATA_DIR"] = str(data_dir)
    os.environ["SIGIL_DB_URL"] = url
    settings = Settings.from_env()
    _bootstrap_admin(settings)
    _ensure_session_key(settings)
    _prepare_mpc_params(settings)
    return settings


def _prepare_mpc_params(settings: Settings) -> None:
    """Start making the MPC server parameters (10-30 s, once per deployment) in a low-priority
    background process, so the first wallet rarely waits (``sigil.wallets.params``).
    ``SIGIL_MPC_PREPARE=0`` leaves it to the first request that needs them."""
    if os.environ.get("SIGIL_MPC_PREPARE", "1") == "0":
        return
    try:
        from sigil.wallets.params import prepare_in_background

        prepare_in_background(settings.db_url, settings.data_dir)
    except Exception as exc:  # the key service must start whatever happens here
        print(f"MPC parameters: not prepared at start-up ({type(exc).__name__})", file=sys.stderr)


def _ensure_session_key(settings: Settings) -> None:
    """The service's session-token key (``sigil.auth.sessions``), published in the JWKS."""
    from sigil.auth.sessions import ensure_service_key
    from sigil.keys.service import KeyService
    from sigil.server.app import build_context

    ctx = build_context(settings)
    try:
        ensure_service_key(ctx, KeyService(ctx))
    finally:
        ctx.close()


def _bootstrap_admin(settings: Settings) -> None:
    from sigil.keys.tokens import MIN_TOKEN_LEN, TokenService
    from sigil.server.app import build_context

    env_token = os.environ.get("SIGIL_ADMIN_TOKEN") or None
    if env_token is not None and len(env_token) < MIN_TOKEN_LEN:
        raise SystemExit(f"SIGIL_ADMIN_TOKEN must be at least {MIN_TOKEN_LEN} characters")
    ctx = build_context(settings)
    try:
        generated = TokenService(ctx).ensure_admin(env_token)
    finally:
        ctx.close()
    path = settings.data_dir / ADMIN_TOKEN_FILE
    if generated is not None:
        if path.exists():
            path.unlink()
        write_secret_file(path, generated + "\n")
        print(f"admin token (shown once, also saved in {path}): {generated}", file=sys.stderr)
    elif env_token is not None:
        print("admin token: taken from SIGIL_ADMIN_TOKEN", file=sys.stderr)
    elif path.exists():
        print(f"admin token: in {path}", file=sys.stderr)
    else:
        print("admin token: set up earlier (set SIGIL_ADMIN_TOKEN to replace it)", file=sys.stderr)


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8700,
    data_dir: str | Path = "./sigil-data",
    db_url: str | None = None,
    workers: int = 1,
    log_level: str = "warning",
) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    # WebAuthn trusts only the origins listed; by default the server's own localhost origin.
    os.environ.setdefault("SIGIL_WEBAUTHN_ORIGINS", f"http://localhost:{port}")
    settings = prepare(Path(data_dir), db_url)
    db_shown = (
        "SQLite " + settings.db_url.removeprefix("sqlite:///")
        if settings.db_url.startswith("sqlite")
        else _redact(settings.db_url)
    )
    print(
        f"Sigil listening on http://{host}:{port}  (database: {db_shown}, workers: {workers})",
        file=sys.stderr,
    )
    print(f"API docs: http://{host}:{port}/docs", file=sys.stderr)
    sys.stderr.flush()
    relay = _start_audit_relay(settings)
    _start_login_node(settings)
    try:
        Granian(
            "sigil.server.app:app_from_env",
            factory=True,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            log_level=log_level,  # type: ignore[arg-type]
            backlog=2048,
        ).serve()
    finally:
        # The workers have flushed their queues into the relay by now; it drains and exits.
        relay.terminate()
        relay.join(timeout=30)


def _start_audit_relay(settings: Settings) -> BaseProcess:
    """Start the node's audit writer process and point the workers at its socket."""
    path = settings.data_dir / "audit.sock"
    if len(str(path)) > 100:  # sun_path holds 108 bytes
        path = Path(tempfile.mkdtemp(prefix="sigil-")) / "audit.sock"
    ctx = multiprocessing.get_context("spawn")
    relay = ctx.Process(
        target=_relay_main, args=(str(path), settings.db_url, str(settings.data_dir), os.getpid()),
        name="sigil-audit-relay", daemon=False,
    )  # fmt: skip
    relay.start()
    for _ in range(100):
        if path.exists() or not relay.is_alive():
            break
        time.sleep(0.05)
    os.environ["SIGIL_AUDIT_RELAY"] = str(path)
    return relay


def _start_login_node(settings: Settings) -> None:
    """A fresh login state file for this node start (``sigil.auth.nodestate``): a new nonce, so
    challenges issued before the restart are refused; the workers map it."""
    from sigil.auth.nodestate import create

    path = settings.data_dir / "login.node"
    create(path)
    os.environ["SIGIL_LOGIN_NODE"] = str(path)


def _relay_main(path: str, db_url: str, data_dir: str, parent_pid: int) -> None:
    from sigil.store.audit import append_on
    from sigil.store.audit_relay import run_relay, stop_signal_or_orphan
    from sigil.store.db import Database
    from sigil.store.sealing import Sealer

    db = Database(db_url)
    audit_key = Sealer(load_master_key(Path(data_dir), create=False)).audit_key

    def write(events: Sequence[AuditEvent]) -> None:
        with db.batch() as conn:
            append_on(conn, audit_key, events)

    try:
        run_relay(Path(path), write, stop_signal_or_orphan(parent_pid))
    finally:
        db.dispose()


def _redact(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
