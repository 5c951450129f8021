"""Running the ``sigil`` command as a subprocess in tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SIGIL_BIN = Path(sys.executable).parent / "sigil"


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)


def run_cli(
    args: list[str], *, url: str, token: str = "", stdin: bytes | None = None, cwd: Path | None = None
) -> Run:
    """Run ``sigil ARGS`` with SIGIL_URL/SIGIL_TOKEN set; a traceback on stderr fails the test."""
    env = {**os.environ, "SIGIL_URL": url, "SIGIL_TOKEN": token}
    command = [str(SIGIL_BIN)] if SIGIL_BIN.exists() else [sys.executable, "-m", "sigil.cli.main"]
    proc = subprocess.run(
        [*command, *args], input=stdin, capture_output=True, env=env, cwd=cwd, timeout=120, check=False
    )
    out = Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    assert "Traceback" not in out.stderr, out.stderr
    return out
