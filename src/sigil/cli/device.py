"""``sigil device ...``: this machine as a login device (device-key login, ``/v1/auth``).

The device's P-256 private key lives in a passphrase-encrypted keystore under ``$SIGIL_HOME/devices``
(default ``~/.config/sigil``); only its public key is ever sent. The passphrase comes from
``SIGIL_PASSPHRASE``, else a terminal prompt; with neither the command stops with a clear error.
``login`` saves the session token (0600) beside the keystore; ``whoami``, ``list``, ``revoke`` and
``register`` (for a second device of an existing user) use it, or ``--session TOKEN``.
The server is ``SIGIL_URL``, else the one the device registered with. ``SIGIL_TOKEN`` is not used.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from sigil.auth.device import DeviceKey
from sigil.auth.keystore import (
    Keystore,
    KeystoreError,
    is_private_file,
    keystore_path,
    list_keystores,
    load_keystore,
    save_keystore,
    session_path,
)
from sigil.auth.saved_session import SavedSession, load_session, save_session
from sigil.cli.output import (
    JsonOption,
    describe_error,
    fail,
    info,
    print_fields,
    print_json,
    print_table,
)
from sigil.client import ApiError, ClientError
from sigil.client.device import DeviceClient
from sigil.errors import SigilError

app = typer.Typer(help="Use this machine as a login device (device-key login).", no_args_is_help=True)

UserOption = typer.Option(
    None,
    "--user",
    "-u",
    envvar="SIGIL_DEVICE_USER",
    help="Whose keystore to use (default: the only one in $SIGIL_HOME/devices).",
)
SessionOption = typer.Option(
    None, "--session", help="A session token (default: the one `sigil device login` saved)."
)
DEVICE_COLUMNS = ["device_id", "name", "kind", "created_at", "revoked"]


# --- helpers -----------------------------------------------------------------------------------------


def describe(exc: ClientError) -> str:
    """One line for an SDK error; 401s here are about sessions and device keys, not API tokens."""
    if isinstance(exc, ApiError) and exc.status in (401, 403):
        text = exc.title
        if exc.detail and exc.detail != exc.title:
            text += f": {exc.detail}"
        return f"{text} [{exc.code}, HTTP {exc.status}]"
    return describe_error(exc)


@contextlib.contextmanager
def clean_errors() -> Iterator[None]:
    """Keystore and SDK errors become one ``error:`` line and exit status 1."""
    try:
        yield
    except KeystoreError as exc:
        fail(str(exc.detail))
    except SigilError as exc:
        fail(str(exc.detail))
    except ClientError as exc:
        fail(describe(exc))


def read_passphrase(*, confirm: bool = False) -> str:
    """``SIGIL_PASSPHRASE``, else a prompt on the terminal; never waits on a non-terminal stdin."""
    env = os.environ.get("SIGIL_PASSPHRASE")
    if env is not None:
        if not env:
            fail("SIGIL_PASSPHRASE is empty")
        return env
    if not sys.stdin.isatty():
        fail("no passphrase: set SIGIL_PASSPHRASE or run on a terminal")
    try:
        passphrase = getpass.getpass("Keystore passphrase: ")
        if confirm and getpass.getpass("Repeat the passphrase: ") != passphrase:
            fail("the passphrases do not match")
    except (EOFError, KeyboardInterrupt):
        fail("no passphrase given")
    if not passphrase:
        fail("the passphrase must not be empty")
    return passphrase


def open_keystore(user: str | None) -> tuple[Keystore, Path]:
    """The keystore of ``user``, or the only one there is."""
    if user:
        path = keystore_path(user)
        if not path.exists():
            fail(f"no keystore for {user!r} at {path} (run `sigil device init --user {user}`)")
        return _load(path), path
    paths = list_keystores()
    if not paths:
        fail("no device keystore (run `sigil device init --user NAME`)")
    if len(paths) > 1:
        names = ", ".join(_load(p).user for p in paths)
        fail(f"several keystores ({names}): pass --user")
    return _load(paths[0]), paths[0]


def _load(path: Path) -> Keystore:
    with clean_errors():
        keystore = load_keystore(path)
    if not is_private_file(path):
        info(f"warning: {path} is readable by other users; run `chmod 600 {path}`")
    return keystore


def server_url(keystore: Keystore) -> str | None:
    """``SIGIL_URL``, else the server this device registered with (else the SDK default)."""
    return os.environ.get("SIGIL_URL") or keystore.server_url or None


def readable(row: dict[str, Any]) -> dict[str, Any]:
    """``expires_at`` given in unix seconds shown as ISO-8601 UTC (human output only)."""
    value = row.get("expires_at")
    if isinstance(value, int) and not isinstance(value, bool):
        return {**row, "expires_at": datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")}
    return row


def require_device_id(keystore: Keystore) -> str:
    if not keystore.device_id:
        fail(f"the device of {keystore.user!r} is not registered yet (run `sigil device register`)")
    return keystore.device_id


def resolve_session(user: str, given: str | None) -> str:
    if given:
        return given
    saved = load_session(user)
    if saved is None:
        fail(f"no session for {user!r}: run `sigil device login` first, or pass --session")
    return saved.session_token


# --- commands ----------------------------------------------------------------------------------------


@app.command("init")
def init(
    user: str = typer.Option(..., "--user", "-u", help="The user this device logs in as."),
    force: bool = typer.Option(False, "--force", help="Replace an existing keystore for this user."),
    as_json: bool = JsonOption,
) -> None:
    """Generate this device's P-256 key and store it in a passphrase-encrypted keystore (0600)."""
    with clean_errors():
        path = keystore_path(user)
    if path.exists() and not force:
        fail(f"a keystore for {user!r} already exists at {path} (pass --force to replace it)")
    passphrase = read_passphrase(confirm=True)
    key = DeviceKey.generate()
    with clean_errors():
        keystore = key.seal(passphrase, user=user)
        save_keystore(keystore, path)
    with contextlib.suppress(FileNotFoundError):
        session_path(user).unlink()  # a session of a replaced key must not linger
    result: dict[str, Any] = {
        "user": user,
        "public_key_hex": key.public_key_hex,
        "public_key_jwk": key.public_key_jwk,
        "public_key_pem": key.public_key_pem,
        "keystore": str(path),
    }
    if as_json:
        print_json(result)
        return
    print_fields(result, ["user", "public_key_hex", "keystore"])
    info("Next: `sigil device register` to register the public key with the server.")


@app.command("register")
def register(
    user: str | None = UserOption,
    name: str | None = typer.Option(None, "--name", "-n", help="A name for this device."),
    session: str | None = SessionOption,
    as_json: bool = JsonOption,
) -> None:
    """Register this device's public key (a new user needs open registration; another device of an
    existing user needs that user's session)."""
    keystore, path = open_keystore(user)
    passphrase = read_passphrase()
    url = server_url(keystore)
    bearer = session or _saved_session_token(keystore.user)
    with clean_errors():
        key = DeviceKey.unlock(keystore, passphrase)  # proves the keystore holds the key we register
        with DeviceClient(url) as client:
            try:
                reg = client.register(key, user=keystore.user, name=name, session=bearer)
            except ApiError as exc:
                if exc.status == 401 and not bearer:
                    fail(
                        f"user {keystore.user!r} already exists: log in on one of its devices and pass "
                        f"--session TOKEN [{exc.code}, HTTP 401]"
                    )
                raise
            registered_url = client.url
        save_keystore(keystore.with_registration(reg.device_id, registered_url), path)
    result = {**reg.to_dict(), "name": name, "server_url": registered_url, "keystore": str(path)}
    if as_json:
        print_json(result)
        return
    print_fields(result, ["device_id", "user", "name", "server_url"])
    info("Next: `sigil device login`.")


def _saved_session_token(user: str) -> str | None:
    saved = load_session(user)
    return saved.session_token if saved else None


@app.command("login")
def login(user: str | None = UserOption, as_json: bool = JsonOption) -> None:
    """Log in: fetch a challenge, sign it with the device key, get a session token (saved, 0600)."""
    keystore, _ = open_keystore(user)
    device_id = require_device_id(keystore)
    passphrase = read_passphrase()
    with clean_errors():
        key = DeviceKey.unlock(keystore, passphrase)
        with DeviceClient(server_url(keystore)) as client:
            result = client.login(key, user=keystore.user, device_id=device_id)
            url = client.url
        saved = save_session(
            SavedSession(
                user=keystore.user,
                device_id=device_id,
                session_token=result.session_token,
                expires_at=None if result.expires_at is None else str(result.expires_at),
                server_url=url,
            )
        )
    if as_json:
        print_json({**result.to_dict(), "session_file": str(saved)})
        return
    print_fields(
        readable({**result.to_dict(), "session_file": str(saved)}),
        ["user", "device_id", "expires_at", "session_file"],
    )
    info("Logged in; the session token is saved in session_file (print it with --json).")


@app.command("whoami")
def whoami(
    user: str | None = UserOption, session: str | None = SessionOption, as_json: bool = JsonOption
) -> None:
    """Who the session is for (GET /v1/auth/session)."""
    keystore, _ = open_keystore(user)
    token = resolve_session(keystore.user, session)
    with clean_errors(), DeviceClient(server_url(keystore), session=token) as client:
        me = client.whoami()
    if as_json:
        print_json(me)
        return
    print_fields(readable(me.to_dict()), ["user", "device_id", "expires_at"])


@app.command("list")
def list_devices(
    user: str | None = UserOption, session: str | None = SessionOption, as_json: bool = JsonOption
) -> None:
    """The user's devices."""
    keystore, _ = open_keystore(user)
    token = resolve_session(keystore.user, session)
    with clean_errors(), DeviceClient(server_url(keystore), session=token) as client:
        devices = client.list_devices()
    if as_json:
        print_json({"devices": devices})
        return
    print_table([d.to_dict() for d in devices], DEVICE_COLUMNS, title="devices")


@app.command("revoke")
def revoke(
    device_id: str = typer.Argument(..., help="The device to revoke (dev_...)."),
    user: str | None = UserOption,
    session: str | None = SessionOption,
    as_json: bool = JsonOption,
) -> None:
    """Revoke one of the user's devices; it can no longer log in."""
    keystore, _ = open_keystore(user)
    token = resolve_session(keystore.user, session)
    with clean_errors(), DeviceClient(server_url(keystore), session=token) as client:
        answer = client.revoke_device(device_id)
    if device_id == keystore.device_id:
        with contextlib.suppress(FileNotFoundError):
            session_path(keystore.user).unlink()
        info("This device is revoked: it can no longer log in, and its saved session was removed.")
    if as_json:
        print_json(answer)
        return
    print_fields(answer, ["device_id", "revoked"])
