"""Pick and drive the load generator: ``wrk`` (preferred) or the Python fallback in pyload.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LUA = HERE / "post.lua"
PYLOAD = HERE / "pyload.py"


def log(*parts: object) -> None:
    print("[bench]", *parts, file=sys.stderr, flush=True)


@dataclass
class LoadGen:
    kind: str  # "wrk" or "python-asyncio"
    path: str
    version: str
    note: str = ""

    def describe(self) -> dict:
        d = {"tool": self.kind, "path": self.path, "version": self.version}
        if self.note:
            d["note"] = self.note
        return d


def _wrk_version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].strip() if first else "unknown"


def _apt_candidate() -> str | None:
    out = subprocess.run(["apt-cache", "policy", "wrk"], capture_output=True, text=True, check=False)
    m = re.search(r"Candidate:\s*(\S+)", out.stdout)
    if not m or m.group(1) == "(none)":
        return None
    return m.group(1)


def _try_install_wrk() -> str:
    """Install Debian's wrk when running as root with apt; return a note of what happened."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "wrk not found and not running as root: not installing it"
    if not shutil.which("apt-get") or not shutil.which("apt-cache"):
        return "wrk not found and apt-get is unavailable"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if _apt_candidate() is None:
        log("apt-cache knows no wrk candidate: running apt-get update once")
        subprocess.run(["apt-get", "update"], stdout=sys.stderr, stderr=sys.stderr, env=env, check=False)
        if _apt_candidate() is None:
            return "apt has no wrk package"
    log("installing wrk with apt-get")
    r = subprocess.run(
        ["apt-get", "install", "-y", "wrk"], stdout=sys.stderr, stderr=sys.stderr, env=env, check=False
    )
    return "" if r.returncode == 0 else f"apt-get install wrk failed (exit {r.returncode})"


def find_loadgen(install: bool = True, force_python: bool = False) -> LoadGen:
    if not force_python:
        path = shutil.which("wrk")
        note = ""
        if path is None and install:
            note = _try_install_wrk()
            path = shutil.which("wrk")
        if path is not None:
            return LoadGen("wrk", path, _wrk_version(path))
    else:
        note = "python load generator forced by --python-loadgen"
    return LoadGen(
        "python-asyncio",
        sys.executable + " " + str(PYLOAD),
        sys.version.split()[0],
        note=(note + "; " if note else "")
        + "wrk unavailable: used the single-process Python asyncio client, which competes with the "
        "server for CPU and may cap the numbers (both sides alike)",
    )


def run_load(
    lg: LoadGen,
    url: str,
    body_file: Path,
    token: str = "",
    connections: int = 32,
    duration: float = 8.0,
    threads: int = 1,
    timeout_s: int = 30,
    probe: Callable[[], object] | None = None,
) -> dict:
    """Run one load test; return wrk's summary dict plus ``rps`` and ``errors`` (non-2xx + socket).

    ``probe``, if given, is called once a second into the run and its result stored as ``probe``.
    """
    env = dict(os.environ, WRK_BODY_FILE=str(body_file), WRK_TOKEN=token)
    if lg.kind == "wrk":
        cmd = [
            lg.path,
            "-t", str(max(1, min(threads, connections))),
            "-c", str(connections),
            "-d", f"{max(1, round(duration))}s",
            "--timeout", f"{timeout_s}s",
            "-s", str(LUA),
            url,
        ]  # fmt: skip
    else:
        cmd = [
            sys.executable, str(PYLOAD), "--url", url, "--body-file", str(body_file),
            "--token", token, "-c", str(connections), "-d", str(duration),
        ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    probed: object = None
    try:
        if probe is not None and duration > 1.5:
            time.sleep(1.0)
            probed = probe()
        stdout, stderr = proc.communicate(timeout=duration + timeout_s + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    line = next((ln for ln in stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(
            f"load generator failed (exit {proc.returncode}): {stderr.strip()[-500:]} {stdout.strip()[-500:]}"
        )
    res = json.loads(line[len("WRKJSON ") :])
    if probe is not None:
        res["probe"] = probed
    secs = res["duration_us"] / 1e6
    res["rps"] = round(res["requests"] / secs, 1) if secs else 0.0
    sock = res["socket_errors"]
    res["errors"] = res["non2xx"] + sock["connect"] + sock["read"] + sock["write"] + sock["timeout"]
    return res
