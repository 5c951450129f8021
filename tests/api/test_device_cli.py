"""``sigil device ...`` end to end, as subprocesses, against a real server with open registration.

Each test gets its own ``SIGIL_HOME`` (keystores, saved sessions) and user names, so the tests share one
server. The private key is read back from the keystore only to check it never reached the server.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import signal
import stat
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sigil.auth.keystore import keystore_path, load_keystore, session_path
from support.cli import SIGIL_BIN, Run, run_cli
from support.server import ServerProcess

PASSPHRASE = "device test passphrase"


@pytest.fixture(scope="module")
def auth_server() -> Iterator[ServerProcess]:
    proc = ServerProcess(env={"SIGIL_OPEN_REGISTRATION": "1"}).start()
    yield proc
    proc.stop()


class Device:
    """One machine: a SIGIL_HOME of its own, the CLI run with it."""

    def __init__(self, server: ServerProcess, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self.home = home
        self.monkeypatch = monkeypatch

    def run(self, *args: str, passphrase: str | None = PASSPHRASE) -> Run:
        self.monkeypatch.setenv("SIGIL_HOME", str(self.home))
        if passphrase is None:
            self.monkeypatch.delenv("SIGIL_PASSPHRASE", raising=False)
        else:
            self.monkeypatch.setenv("SIGIL_PASSPHRASE", passphrase)
        # stdin is a pipe (not the terminal pytest may run in): the CLI must never wait for a prompt.
        return run_cli(["device", *args], url=self.server.url, stdin=b"")

    def ok(self, *args: str) -> Any:
        run = self.run(*args, "--json")
        assert run.code == 0, run.stderr
        return run.json()

    def private_scalar(self, user: str) -> bytes:
        self.monkeypatch.setenv("SIGIL_HOME", str(self.home))
        return load_keystore(keystore_path(user)).unlock(PASSPHRASE).scalar_bytes()


@pytest.fixture
def machines(
    auth_server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Device, Device]:
    return (
        Device(auth_server, tmp_path / "laptop", monkeypatch),
        Device(auth_server, tmp_path / "phone", monkeypatch),
    )


def new_user() -> str:
    return "u" + uuid.uuid4().hex[:12]


def fails(run: Run, *needles: str) -> None:
    """Exit 1, one clear ``error:`` line, no traceback (run_cli already asserts that)."""
    assert run.code == 1, (run.stdout, run.stderr)
    assert "error:" in run.stderr
    for needle in needles:
        assert needle in run.stderr, run.stderr


def test_init_register_login_whoami_list_revoke(machines: tuple[Device, Device]) -> None:
    laptop, phone = machines
    user = new_user()

    created = laptop.ok("init", "--user", user)
    assert created["user"] == user
    assert created["public_key_hex"].startswith("04") and len(created["public_key_hex"]) == 130
    path = Path(created["keystore"])
    assert path == laptop.home / "devices" / f"{user}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    fails(laptop.run("init", "--user", user), "already exists")

    reg = laptop.ok("register", "--name", "laptop")
    assert reg["user"] == user and reg["device_id"].startswith("dev_")
    assert json.loads(path.read_text())["device_id"] == reg["device_id"]

    login = laptop.ok("login")
    token = login["session_token"]
    assert token.count(".") == 2  # a compact JWT
    assert (login["user"], login["device_id"]) == (user, reg["device_id"])
    session_file = session_path(user, laptop.home)
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    assert json.loads(session_file.read_text())["session_token"] == token

    me = laptop.ok("whoami")
    assert (me["user"], me["device_id"]) == (user, reg["device_id"])
    human = laptop.run("whoami")
    assert human.code == 0 and user in human.stdout and token not in human.stdout

    # A second device of the same user: refused without a session, accepted with the laptop's.
    phone.ok("init", "--user", user)
    fails(phone.run("register"), "already exists", "--session")
    reg2 = phone.ok("register", "--name", "phone", "--session", token)
    assert reg2["device_id"] != reg["device_id"]
    assert phone.ok("login")["device_id"] == reg2["device_id"]

    devices = {d["device_id"]: d for d in laptop.ok("list")["devices"]}
    assert set(devices) == {reg["device_id"], reg2["device_id"]}
    assert devices[reg2["device_id"]]["name"] == "phone"
    assert not any(d["revoked"] for d in devices.values())
    assert "phone" in laptop.run("list").stdout

    revoked = laptop.ok("revoke", reg2["device_id"])
    assert revoked["device_id"] == reg2["device_id"] and revoked["revoked"] is True
    listed = {d["device_id"]: d["revoked"] for d in laptop.ok("list")["devices"]}
    assert listed[reg2["device_id"]] is True

    refused = phone.run("login", "--json")
    fails(refused, "device_revoked")
    assert refused.stdout == ""
    assert laptop.ok("login")["user"] == user  # the other device is unaffected


def test_private_key_never_reaches_the_server(machines: tuple[Device, Device]) -> None:
    laptop, _ = machines
    user = new_user()
    laptop.ok("init", "--user", user)
    laptop.ok("register")
    for _ in range(3):
        laptop.ok("login")
    laptop.ok("whoami")
    laptop.ok("list")

    d = laptop.private_scalar(user)
    forms = [
        d,
        d.hex().encode(),
        d.hex().upper().encode(),
        str(int.from_bytes(d, "big")).encode(),
        base64.b64encode(d).rstrip(b"="),
        base64.urlsafe_b64encode(d).rstrip(b"="),
    ]
    server = laptop.server
    scanned = 0
    for file in server.data_dir.rglob("*"):  # the database (and its WAL), the audit data, the log
        if file.is_file():
            data = file.read_bytes()
            scanned += 1
            for form in forms:
                assert form not in data, f"private key material in {file}"
    assert scanned >= 2
    log = server.log().encode()
    assert all(form not in log for form in forms)
    assert PASSPHRASE.encode() not in log


def test_no_passphrase_and_no_terminal_is_a_clear_error(machines: tuple[Device, Device]) -> None:
    laptop, _ = machines
    user = new_user()
    fails(laptop.run("init", "--user", user, passphrase=None), "SIGIL_PASSPHRASE")
    assert not keystore_path(user, laptop.home).exists()
    laptop.ok("init", "--user", user)
    fails(laptop.run("register", passphrase=None), "no passphrase", "SIGIL_PASSPHRASE")
    laptop.ok("register")
    fails(laptop.run("login", passphrase=None), "no passphrase", "SIGIL_PASSPHRASE")
    assert not session_path(user, laptop.home).exists()
    fails(laptop.run("init", "--user", new_user(), passphrase=""), "SIGIL_PASSPHRASE is empty")


def test_wrong_passphrase_and_missing_steps_are_clear_errors(machines: tuple[Device, Device]) -> None:
    laptop, phone = machines
    fails(laptop.run("login"), "no device keystore")
    user = new_user()
    laptop.ok("init", "--user", user)
    fails(laptop.run("login"), "not registered")
    fails(laptop.run("register", passphrase="not the passphrase"), "Wrong passphrase")
    laptop.ok("register")
    fails(laptop.run("login", passphrase="not the passphrase"), "Wrong passphrase")
    fails(laptop.run("whoami"), "no session", "sigil device login")
    fails(laptop.run("whoami", "--session", "not-a-jwt"), "HTTP 401")
    fails(laptop.run("login", "--user", "nobody-here"), "no keystore")

    laptop.ok("init", "--user", new_user())
    fails(laptop.run("login"), "several keystores", "--user")
    assert laptop.ok("login", "--user", user)["user"] == user

    # A keystore whose bound fields were edited does not open.
    path = keystore_path(user, laptop.home)
    data = json.loads(path.read_text())
    data["user"] = user + "x"
    path.write_text(json.dumps(data))
    os.chmod(path, 0o600)
    fails(laptop.run("login", "--user", user), "Wrong passphrase, or the keystore file was modified")

    # Unknown user at the server: a clear 404, not a traceback.
    stranger = new_user()
    phone.ok("init", "--user", stranger)
    keystore = keystore_path(stranger, phone.home)
    data = json.loads(keystore.read_text())
    data["device_id"] = "dev_00000000000000000000000000"
    keystore.write_text(json.dumps(data))
    fails(phone.run("login"), "HTTP 404")


def run_on_terminal(
    args: list[str], home: Path, answers: list[str], timeout: float = 60.0
) -> tuple[int, str]:
    """Run ``sigil ARGS`` on a pseudo-terminal (its controlling tty), typing ``answers`` at each prompt."""
    env = {k: v for k, v in os.environ.items() if k != "SIGIL_PASSPHRASE"}
    env["SIGIL_HOME"] = str(home)
    command = [str(SIGIL_BIN)] if SIGIL_BIN.exists() else [sys.executable, "-m", "sigil.cli.main"]
    pid, fd = pty.fork()
    if pid == 0:  # child: pty.fork made the pty its controlling terminal
        try:
            os.execve(command[0], [*command, *args], env)
        finally:
            os._exit(127)
    output = b""
    pending = list(answers)
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
                fresh = output[answered:].rstrip()  # only a prompt printed since the last answer
                if pending and fresh.endswith(b":"):
                    os.write(fd, pending.pop(0).encode() + b"\n")
                    answered = len(output)
        else:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_passphrase_prompt_on_a_terminal(tmp_path: Path) -> None:
    code, out = run_on_terminal(
        ["device", "init", "--user", "ttyuser", "--json"], tmp_path, ["tty pass", "tty pass"]
    )
    assert code == 0, out
    assert "passphrase" in out.lower() and "tty pass" not in out  # prompted, not echoed
    keystore = load_keystore(keystore_path("ttyuser", tmp_path))
    assert keystore.unlock("tty pass").public_key().sec1().hex() == keystore.public_key_hex

    code, out = run_on_terminal(["device", "init", "--user", "other"], tmp_path, ["one", "two"])
    assert code == 1 and "do not match" in out, out
    assert not keystore_path("other", tmp_path).exists()
