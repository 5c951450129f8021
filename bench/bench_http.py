"""HTTP single-message sign benchmark: Sigil's ``POST /v1/keys/{key_id}/sign`` vs a bare reference app.

Both are served the same way (granian, ASGI interface, the same number of workers, 127.0.0.1) and loaded
by the same load generator (wrk, keep-alive, 32 connections) in alternating runs. Sigil runs with
everything a real call has: bearer-token auth, key lookup (ownership, state, version) and the audit log.

Run alone:  .venv/bin/python bench/bench_http.py [--rounds 3] [--duration 8] [--target reference]
(``--target reference`` puts a second copy of the reference app in Sigil's place to check the harness:
the ratio should then be about 1.0.)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.loadgen.driver import LoadGen, find_loadgen, log, run_load  # noqa: E402

SIGN_MESSAGE = "sigil benchmark: a small message to sign, 0001"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tool(name: str) -> list[str]:
    exe = VENV_BIN / name
    if exe.exists():
        return [str(exe)]
    found = shutil.which(name)
    if found:
        return [found]
    return [sys.executable, "-m", name]


class Server:
    """A server subprocess in its own process group; always stopped with ``stop()`` (idempotent)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
                 port: int = 0) -> None:  # fmt: skip
        self.name = name
        self.cmd = cmd
        self.env = env
        self.cwd = cwd
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        fd, self.log_path = tempfile.mkstemp(prefix=f"sigil-bench-{name}-", suffix=".log")
        self._log = os.fdopen(fd, "wb")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        log(f"starting {self.name}: {' '.join(self.cmd)}")
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        return self

    def log_tail(self, n: int = 2000) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-n:]

    def wait_ready(self, timeout: float = 90.0, path: str = "/healthz") -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                r = httpx.get(self.base_url + path, timeout=2.0)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as e:
                last = repr(e)
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout}s ({last}): {self.log_tail()}")

    def pids(self) -> list[int]:
        """The server's main pid and all its descendants (the granian workers)."""
        if self.proc is None:
            return []
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def connections_per_process(self) -> dict[str, int]:
        """Established client connections to our port held by each server process (pid -> count).

        Shows how the kernel/granian spread the load generator's keep-alive connections over the
        workers; a lopsided spread with few connections leaves a core idle.
        """
        inodes: set[str] = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    rows = f.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                cols = row.split()
                if cols[3] == "01" and int(cols[1].rsplit(":", 1)[1], 16) == self.port:
                    inodes.add(cols[9])
        counts: dict[str, int] = {}
        for pid in self.pids():
            n = 0
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        link = os.readlink(f"/proc/{pid}/fd/{fd}")
                        if link.startswith("socket:[") and link[8:-1] in inodes:
                            n += 1
            if n:
                counts[str(pid)] = n
        return counts

    def stop(self) -> None:
        try:
            self._stop()
        finally:
            # Server logs are only for errors (their tail goes into the exception); keep them on request.
            self._log.close()
            if not os.environ.get("SIGIL_BENCH_KEEP_LOGS"):
                with contextlib.suppress(OSError):
                    os.unlink(self.log_path)

    def _stop(self) -> None:
        proc = self.proc
        if proc is None or (proc.poll() is not None and not self._group_alive()):
            return
        log(f"stopping {self.name}")
        self._signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        deadline = time.monotonic() + 5
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._group_alive():
            log(f"{self.name} did not stop on SIGTERM: SIGKILL")
            self._signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def _group_alive(self) -> bool:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A zombie leader still counts as a member; reap it first.
        self.proc.poll()
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True


@dataclass
class Target:
    """One thing to load: where to POST, with which token, and the server behind it."""

    name: str
    server: Server
    sign_path: str
    token: str = ""
    info: dict = field(default_factory=dict)

    @property
    def sign_url(self) -> str:
        return self.server.base_url + self.sign_path

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h


def granian_reference_cmd(port: int, workers: int) -> list[str]:
    return [
        *_tool("granian"), "--interface", "asgi", "--workers", str(workers), "--host", "127.0.0.1",
        "--port", str(port), "--backlog", "2048", "--no-access-log", "--log-level", "warning",
        "--working-dir", str(BENCH), "reference_app:app",
    ]  # fmt: skip


def start_reference(stack: contextlib.ExitStack, workers: int, name: str = "reference") -> Target:
    port = free_port()
    server = Server(name, granian_reference_cmd(port, workers), env=dict(os.environ), port=port)
    stack.callback(server.stop)
    server.start().wait_ready()
    return Target(name, server, "/sign", info={"command": " ".join(server.cmd)})


def start_sigil(stack: contextlib.ExitStack, workers: int, curve: str = "P-256") -> Target:
    """Start ``sigil serve`` on a fresh data dir; make a principal token and a key for it."""
    data_dir = Path(tempfile.mkdtemp(prefix="sigil-bench-data-"))
    stack.callback(shutil.rmtree, data_dir, True)
    port = free_port()
    admin = "sgl_bench_admin_" + secrets.token_hex(16)
    env = dict(os.environ, SIGIL_ADMIN_TOKEN=admin)
    cmd = [*_tool("sigil"), "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
           "--workers", str(workers)]  # fmt: skip
    server = Server("sigil", cmd, env=env, port=port)
    stack.callback(server.stop)
    server.start().wait_ready()
    with httpx.Client(base_url=server.base_url, timeout=30.0) as c:
        r = c.post("/v1/tokens", json={"name": "bench-" + secrets.token_hex(4), "scopes": ["keys"]},
                   headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
        if r.status_code not in (200, 201):
            raise RuntimeError(f"POST /v1/tokens -> {r.status_code} {r.text[:300]}")
        token = r.json()["token"]
        r = c.post("/v1/keys", json={"curve": curve, "label": "bench"},
                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        if r.status_code not in (200, 201):
            raise RuntimeError(f"POST /v1/keys -> {r.status_code} {r.text[:300]}")
        key = r.json()
    return Target(
        "sigil", server, f"/v1/keys/{key['key_id']}/sign", token=token,
        info={"command": " ".join(cmd), "key_id": key["key_id"], "curve": curve,
              "public_key_pem": key.get("public_key_pem")},
    )  # fmt: skip


def check_single(target: Target, body: dict) -> dict:
    """One request by hand: 200, a signature, and (when the public key is known) that it verifies."""
    r = httpx.post(target.sign_url, content=json.dumps(body), headers=target.headers(), timeout=30.0)
    if r.status_code != 200:
        raise RuntimeError(f"{target.name}: sign -> {r.status_code} {r.text[:300]}")
    sig = base64.b64decode(r.json()["signature"])
    pem = target.info.get("public_key_pem")
    verified = None
    if pem:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        pub = serialization.load_pem_public_key(pem.encode())
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        try:
            pub.verify(sig, body["data"].encode(), ec.ECDSA(hashes.SHA256()))
            verified = True
        except InvalidSignature:
            verified = False
    return {"status": r.status_code, "signature_bytes": len(sig), "verified": verified}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by ``pids`` (fields 14 and 15 of /proc/PID/stat)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _summary(runs: list[dict]) -> dict:
    rates = [r["rps"] for r in runs]
    best = max(runs, key=lambda r: r["rps"])
    return {
        "rps_best": max(rates),
        "rps_median": round(statistics.median(rates), 1),
        "rps_runs": rates,
        "latency_ms_of_best": {k: round(v / 1000, 2) for k, v in best["latency_us"].items()},
        "requests": sum(r["requests"] for r in runs),
        "non2xx": sum(r["non2xx"] for r in runs),
        "socket_errors": sum(r["errors"] - r["non2xx"] for r in runs),
        "first_bad": next((r["first_bad"] for r in runs if r["first_bad"]), ""),
        "connections_per_worker": [sorted(r.get("probe", {}).values(), reverse=True) for r in runs],
    }


def measure(
    reference: Target,
    subject: Target,
    lg: LoadGen,
    *,
    connections: int = 32,
    duration: float = 8.0,
    warmup: float = 2.0,
    rounds: int = 3,
    threads: int = 1,
) -> dict:
    """Alternate reference/subject runs (ref, subject, ref, subject, ...); report best and median."""
    body = {"data": SIGN_MESSAGE}
    checks = {"reference": check_single(reference, body), "subject": check_single(subject, body)}
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(json.dumps(body).encode())
        body_file = Path(f.name)
    runs: dict[str, list[dict]] = {"reference": [], "subject": []}
    warm_errors = 0
    try:
        for i in range(rounds):
            for role, t in (("reference", reference), ("subject", subject)):
                if warmup > 0:
                    w = run_load(lg, t.sign_url, body_file, t.token, connections, warmup, threads)
                    warm_errors += w["errors"]
                pids = t.server.pids()
                cpu_before = cpu_seconds(pids)
                res = run_load(
                    lg, t.sign_url, body_file, t.token, connections, duration, threads,
                    probe=t.server.connections_per_process,
                )  # fmt: skip
                cpu = round(cpu_seconds(pids) - cpu_before, 3)
                res["server_cpu_s"] = cpu
                res["requests_per_cpu_s"] = round(res["requests"] / cpu, 1) if cpu else None
                log(f"http_sign round {i + 1}/{rounds} {t.name}: {res['rps']:.0f} req/s, "
                    f"p99 {res['latency_us']['p99'] / 1000:.1f} ms, errors {res['errors']}")  # fmt: skip
                runs[role].append(res)
    finally:
        body_file.unlink(missing_ok=True)
    ref, sub = _summary(runs["reference"]), _summary(runs["subject"])
    errors = ref["non2xx"] + ref["socket_errors"] + sub["non2xx"] + sub["socket_errors"]
    # Each round's two runs are adjacent in time, so their ratio shares the machine's state of the
    # moment; the headline is the median of those paired ratios (the shared machine swings the
    # reference alone by +-20% from one run to the next, which best-of-each exaggerates).
    pairs = list(zip(runs["reference"], runs["subject"], strict=True))
    paired = [round(s["rps"] / r["rps"], 3) for r, s in pairs if r["rps"]]
    # CPU efficiency: requests per CPU-second of the server's processes (from /proc), which does not
    # move when the hypervisor steals time from the whole machine; a second view of the same cost.
    per_cpu = [
        round(s["requests_per_cpu_s"] / r["requests_per_cpu_s"], 3)
        for r, s in pairs
        if r.get("requests_per_cpu_s") and s.get("requests_per_cpu_s")
    ]
    return {
        "subject": subject.name,
        "subject_rps": sub["rps_median"],
        "reference_rps": ref["rps_median"],
        "ratio": round(statistics.median(paired), 3) if paired else None,
        "ratio_paired_runs": paired,
        "cpu_efficiency_ratio": round(statistics.median(per_cpu), 3) if per_cpu else None,
        "cpu_efficiency_paired_runs": per_cpu,
        "ratio_best_of_each": round(sub["rps_best"] / ref["rps_best"], 3) if ref["rps_best"] else None,
        "ratio_median": round(sub["rps_median"] / ref["rps_median"], 3) if ref["rps_median"] else None,
        "goal_ratio": 0.8,
        "valid": errors == 0 and sub["requests"] > 0 and ref["requests"] > 0,
        "errors": errors,
        "warmup_errors": warm_errors,
        "detail": {"subject": sub, "reference": ref},
        "sanity_check": checks,
        "setup": {
            "connections": connections, "duration_s": duration, "warmup_s": warmup, "rounds": rounds,
            "order": "reference, subject alternating; headline = median of the per-round ratios",
            "loadgen_threads": threads, "keep_alive": True, "body": body,
            "subject_path": subject.sign_path.replace(subject.info.get("key_id", "\0"), "{key_id}"),
            "subject_auth": bool(subject.token),
            "subject_command": subject.info.get("command"),
            "reference_command": reference.info.get("command"),
        },
    }  # fmt: skip


def start_pair(stack: contextlib.ExitStack, workers: int, target: str) -> tuple[Target, Target]:
    """The reference app and the subject (Sigil, or a second reference app for a harness check)."""
    ref = start_reference(stack, workers)
    if target == "sigil":
        return ref, start_sigil(stack, workers)
    return ref, start_reference(stack, workers, "reference-2")


def run(
    *,
    workers: int = 2,
    connections: int = 32,
    duration: float = 8.0,
    warmup: float = 2.0,
    rounds: int = 3,
    threads: int = 1,
    target: str = "sigil",
    lg: LoadGen | None = None,
) -> dict:
    lg = lg or find_loadgen()
    with contextlib.ExitStack() as stack:
        ref, sub = start_pair(stack, workers, target)
        out = measure(ref, sub, lg, connections=connections, duration=duration, warmup=warmup,
                      rounds=rounds, threads=threads)  # fmt: skip
    out["loadgen"] = lg.describe()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--target", choices=["sigil", "reference"], default="sigil")
    ap.add_argument("--python-loadgen", action="store_true")
    a = ap.parse_args()
    lg = find_loadgen(force_python=a.python_loadgen)
    res = run(workers=a.workers, connections=a.connections, duration=a.duration, warmup=a.warmup,
              rounds=a.rounds, threads=a.threads, target=a.target, lg=lg)  # fmt: skip
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
