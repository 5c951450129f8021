"""Sigil benchmarks: ``make bench`` (= ``.venv/bin/python bench/run.py``).

Prints ONE JSON document on stdout; progress goes to stderr. Everything is measured in the same run on
this machine:

- ``crypto``:     ``bench.bench_crypto.run()`` — library sign/verify rates vs the raw backend call;
- ``http_sign``:  Sigil's single-message sign over HTTP vs a bare Starlette+orjson reference app, both
                  on granian with the same workers, loaded by wrk (keep-alive, 32 connections);
- ``batch_sign``: signatures/s of 1,000-item batch requests vs raw in-process signing on all workers;
- ``login``:      device-key logins/s (challenge + verify over HTTP, 2 workers) beside the single-sign
                  rate of the same server in the same run (``bench.bench_login``; goal ratio >= 0.4).
- ``mpc``:        two-party secp256k1 wallets (``bench.bench_mpc``): wallet creation (DKG + pairing) and
                  signing latency over HTTP (medians and p95), beside the "floor" (one Paillier encryption
                  + one decryption + the protocol's point multiplications) sampled alternately in the same
                  run; goals: signing median <= 25 ms and <= 2x the floor, wallet creation <= 1.5 s.

Benchmarks are measurements, not tests: nothing here asserts on timings. See bench/README.md.

Options: ``--quick`` (short runs, to try the harness), ``--only http,batch``, ``--target reference``
(a second reference app stands in for Sigil: the HTTP ratio should come out near 1.0), ``--profile``
(py-spy on one Sigil worker under load; adds a hot-function summary), ``--python-loadgen``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import importlib.metadata as md
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import bench_batch, bench_http, bench_login, bench_mpc  # noqa: E402
from bench.loadgen.driver import LoadGen, find_loadgen, log, run_load  # noqa: E402


def _sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def machine_info() -> dict:
    versions = {}
    for dist in (
        "sigil",
        "cryptography",
        "coincurve",
        "granian",
        "starlette",
        "orjson",
        "pydantic",
        "SQLAlchemy",
    ):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        openssl = backend.openssl_version_text()
    except Exception as e:  # pragma: no cover - informational only
        openssl = f"unknown ({e!r})"
    cpu = None
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), None)
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "nproc": int(nproc) if nproc.isdigit() else os.cpu_count(),
        "cpu_model": cpu,
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "platform": platform.platform(),
        "openssl": openssl,
        "versions": versions,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def run_crypto() -> dict:
    try:
        mod = importlib.import_module("bench.bench_crypto")
    except Exception as e:
        return {"error": f"bench.bench_crypto not importable: {e!r}"}
    try:
        res = mod.run()
        return res if isinstance(res, dict) else {"result": res}
    except Exception as e:
        return {
            "error": f"bench.bench_crypto.run() failed: {e!r}",
            "traceback": traceback.format_exc()[-2000:],
        }


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "sign (sigil/server/routes/keys.py:42)"; drop the line number.
    name, _, loc = frame.partition(" (")
    loc = loc.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python"):
        if marker in loc:
            loc = loc.split(marker, 1)[1]
    return f"{name} ({loc})" if loc else name


IDLE_LEAVES = ("Condition.wait", "EpollSelector.select", "select (selectors.py)", "Event.wait", "Thread.join")
BOILERPLATE = ("typer/", "granian/", "multiprocessing/", "threading.py", "asyncio/", "<module>", "sigil/cli/",
               "sigil/server/runner.py", "click/")  # fmt: skip


def profile_sigil(
    target: bench_http.Target, lg: LoadGen, seconds: float, connections: int, body: dict
) -> dict:
    """py-spy record on one Sigil worker while wrk loads the sign route with ``body``.

    Returns per-thread busy shares and the top self / inclusive functions over busy samples
    (idle waits dropped; process bootstrap frames left out of the inclusive list).
    """
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        return {"error": "py-spy not found"}
    main_pid = target.server.proc.pid  # type: ignore[union-attr]
    pids = [p for p in target.server.pids() if p != main_pid] or [main_pid]
    with tempfile.TemporaryDirectory(prefix="sigil-bench-prof-") as tmp:
        body_file = Path(tmp) / "body.json"
        body_file.write_text(json.dumps(body))
        out = Path(tmp) / "stacks.txt"
        pid = pids[-1]
        cmd = [pyspy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "100", "-f", "raw", "-t",
               "-o", str(out)]  # fmt: skip
        log(f"profiling sigil worker {pid}: {' '.join(cmd)}")
        prof = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(0.5)
            load = run_load(lg, target.sign_url, body_file, target.token, connections, seconds + 1)
            _, err = prof.communicate(timeout=seconds + 30)
        finally:
            if prof.poll() is None:
                prof.kill()
                prof.wait()
        if not out.exists():
            return {"error": f"py-spy produced nothing: {err.strip()[-500:]}"}
        self_c: Counter[str] = Counter()
        incl: Counter[str] = Counter()
        per_thread: Counter[str] = Counter()
        total = idle = 0
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            raw = stack.split(";")
            thread = next((f for f in raw if f.startswith("thread ")), "thread ?")
            frames = [_frame_name(f) for f in raw if not f.startswith(("process ", "thread "))]
            if not frames:
                continue
            if frames[-1].startswith(IDLE_LEAVES):
                idle += n
                continue
            total += n
            # Name the thread by its outermost project/library function (e.g. AuditWriter._run).
            label = next(
                (f for f in frames if "sigil/" in f and "cli/" not in f and "runner" not in f), thread
            )
            per_thread["main loop" if "run_until_complete" in stack else label] += n
            self_c[frames[-1]] += n
            for f in set(frames):
                if not any(b in f for b in BOILERPLATE):
                    incl[f] += n
    if not total:
        return {"error": "no busy samples"}

    def top(c: Counter[str], k: int) -> list[list[object]]:
        return [[name, round(100 * n / total, 1)] for name, n in c.most_common(k)]

    return {
        "worker_pid": pid,
        "seconds": seconds,
        "load_rps_while_profiled": load["rps"],
        "busy_samples": total,
        "idle_samples_dropped": idle,
        "busy_pct_by_thread": top(per_thread, 5),
        "self_pct_top": top(self_c, 20),
        "inclusive_pct_top": top(incl, 30),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short runs (harness check, not for figures)")
    ap.add_argument(
        "--only", default="crypto,http,batch,login,mpc", help="comma list of crypto,http,batch,login,mpc"
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds for http (default 5)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per measured run (default 8)")
    ap.add_argument("--target", choices=["sigil", "reference"], default="sigil")
    ap.add_argument("--profile", action="store_true", help="py-spy a Sigil worker under load")
    ap.add_argument("--python-loadgen", action="store_true", help="skip wrk; use bench/loadgen/pyload.py")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, _sigterm)

    only = {s.strip() for s in a.only.split(",") if s.strip()}
    duration = a.duration or (3.0 if a.quick else 6.0)
    warmup = 1.0 if a.quick else 2.0
    http_rounds = a.rounds or (1 if a.quick else 5)
    batch_rounds = a.rounds or (1 if a.quick else 2)
    started = time.time()
    doc: dict = {
        "benchmark": "sigil",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if a.quick else "full",
        "machine": machine_info(),
    }
    log("machine:", json.dumps(doc["machine"]))

    if "crypto" in only:
        log("crypto: running bench.bench_crypto.run()")
        doc["crypto"] = run_crypto()

    if only & {"http", "batch"}:
        lg = find_loadgen(force_python=a.python_loadgen)
        doc["loadgen"] = lg.describe()
        log("load generator:", json.dumps(doc["loadgen"]))
        with contextlib.ExitStack() as stack:
            ref = sub = None
            try:
                ref = bench_http.start_reference(stack, a.workers)
                if a.target == "sigil":
                    sub = bench_http.start_sigil(stack, a.workers)
                else:
                    sub = bench_http.start_reference(stack, a.workers, "reference-2")
            except Exception as e:
                err = f"could not start servers: {e!r}"
                log(err)
                for key, name in (("http_sign", "http"), ("batch_sign", "batch")):
                    if name in only:
                        doc[key] = {"error": err}
            if ref is not None and sub is not None:
                if "http" in only:
                    try:
                        doc["http_sign"] = bench_http.measure(
                            ref, sub, lg, connections=32, duration=duration, warmup=warmup, rounds=http_rounds
                        )
                    except Exception as e:
                        doc["http_sign"] = {"error": repr(e), "traceback": traceback.format_exc()[-2000:]}
                if "batch" in only:
                    try:
                        doc["batch_sign"] = bench_batch.measure(
                            ref, sub, lg, workers=a.workers, connections=4, duration=duration,
                            warmup=warmup, raw_duration=min(5.0, duration), rounds=batch_rounds,
                        )  # fmt: skip
                    except Exception as e:
                        doc["batch_sign"] = {"error": repr(e), "traceback": traceback.format_exc()[-2000:]}
                if a.profile and a.target == "sigil":
                    secs = 6.0 if a.quick else 10.0
                    for key, body, conns in (
                        ("profile_sigil_sign", {"data": bench_http.SIGN_MESSAGE}, 32),
                        ("profile_sigil_batch", bench_batch.batch_body(), 4),
                    ):
                        try:
                            doc[key] = profile_sigil(sub, lg, secs, conns, body)
                        except Exception as e:
                            doc[key] = {"error": repr(e), "traceback": traceback.format_exc()[-2000:]}

    if "login" in only:
        log("login: running bench.bench_login.run()")
        try:
            lg = find_loadgen(force_python=a.python_loadgen)
            res = bench_login.run(
                workers=a.workers, duration=min(duration, 5.0), warmup=1.0, rounds=1 if a.quick else 2, lg=lg
            )
            doc["login"] = {
                "logins_per_s": res["logins_per_s"],
                "single_sign_rps": res["single_sign_rps"],
                "ratio": res["ratio"],
                "http_sign_subject_rps": doc.get("http_sign", {}).get("subject_rps"),
                **{k: v for k, v in res.items() if k not in ("logins_per_s", "single_sign_rps", "ratio")},
            }
        except Exception as e:
            doc["login"] = {"error": repr(e), "traceback": traceback.format_exc()[-2000:]}

    if "mpc" in only:
        log("mpc: running bench.bench_mpc.run()")
        try:
            doc["mpc"] = bench_mpc.run(
                workers=a.workers, signatures=20 if a.quick else 100, wallets=2 if a.quick else 7
            )
        except Exception as e:
            doc["mpc"] = {"error": repr(e), "traceback": traceback.format_exc()[-2000:]}

    summary: dict = {}
    http = doc.get("http_sign", {})
    if "ratio" in http:
        summary["http_sign_ratio"] = http["ratio"]
        summary["http_sign_goal_0.8_met"] = bool(http["valid"] and http["ratio"] >= 0.8)
        summary["http_sign_valid"] = http["valid"]
    batch = doc.get("batch_sign", {})
    if "ratio" in batch:
        summary["batch_sign_ratio"] = batch["ratio"]
        summary["batch_sign_goal_0.6_met"] = bool(batch["valid"] and batch["ratio"] >= 0.6)
        summary["batch_sign_valid"] = batch["valid"]
    login = doc.get("login", {})
    if "ratio" in login:
        summary["login_ratio"] = login["ratio"]
        summary["login_goal_0.4_met"] = bool(login["valid"] and (login["ratio"] or 0) >= 0.4)
        summary["logins_per_s"] = login["logins_per_s"]
    mpc = doc.get("mpc", {})
    if "goals" in mpc:
        summary["mpc_sign_median_ms"] = mpc["signing"]["median_ms"]
        summary["mpc_sign_p95_ms"] = mpc["signing"]["p95_ms"]
        summary["mpc_floor_median_ms"] = mpc["floor"]["median_ms"]
        summary["mpc_sign_over_floor"] = mpc["signing_over_floor"]
        summary["mpc_wallet_creation_median_ms"] = mpc["wallet_creation"]["total"]["median_ms"]
        summary["mpc_goals_met"] = mpc["goals"]
    crypto = doc.get("crypto")
    if isinstance(crypto, dict) and "error" in crypto:
        summary["crypto_error"] = crypto["error"]
    doc["summary"] = summary
    doc["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc["elapsed_s"] = round(time.time() - started, 1)
    print(json.dumps(doc, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
