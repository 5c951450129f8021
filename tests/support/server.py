"""A real ``sigil serve`` process for API tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

SIGIL_BIN = Path(sys.executable).with_name("sigil")
ADMIN_TOKEN = "sgl_test-admin-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """Starts ``sigil serve`` on a free port; ``stop()`` (SIGTERM) or ``kill()`` (SIGKILL) it."""

    def __init__(
        self,
        *,
        db_url: str | None = None,
        data_dir: Path | None = None,
        workers: int = 1,
        env: dict[str, str] | None = None,
        port: int = 0,
    ) -> None:
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="sigil-test-"))
        self.db_url = db_url
        self.workers = workers
        self.admin_token = ADMIN_TOKEN
        self.extra_env = env or {}
        self.fixed_port = port  # 0: a free one, picked by each start()
        self.port = port
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "server.log"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.port = self.fixed_port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            str(SIGIL_BIN),
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(self.workers),
        ]
        if self.db_url:
            cmd += ["--db", self.db_url]
        # No background MPC parameter search (tens of CPU seconds, and an audit entry landing in the
        # middle of a test's before/after snapshot); MPC tests import a cached file instead.
        env = {
            **os.environ,
            "SIGIL_ADMIN_TOKEN": self.admin_token,
            "SIGIL_MPC_PREPARE": "0",
            **self.extra_env,
        }
        if "SIGIL_MASTER_KEY" not in self.extra_env:  # the data dir's own master.key, not the caller's
            env.pop("SIGIL_MASTER_KEY", None)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sigil serve exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"sigil serve did not become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 20.0) -> None:
        self._signal(signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)
