"""Batch sign benchmark: signatures/s through HTTP (1,000 items per request) vs raw in-process signing.

- ``raw``: the machine's ceiling — one process per worker (2), each signing small messages in a loop
  with ``cryptography`` directly (P-256, SHA-256, RFC 6979), rates summed.
- ``sigil``: ``POST /v1/keys/{key_id}/sign`` with ``{"items": [{"data": ...} x 1000]}``, 2 granian workers,
  several concurrent keep-alive connections from wrk; signatures/s = requests/s x 1000.
- ``reference`` (context only): the same batch body through the bare reference app, to tell the cost
  of HTTP + JSON from Sigil's own overhead.

ratio = sigil / raw (goal >= 0.6). Runs alternate raw, reference, sigil per round; best of each counts.

Run alone:  .venv/bin/python bench/bench_batch.py [--rounds 2] [--target reference]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_http import Target, start_pair  # noqa: E402
from bench.loadgen.driver import LoadGen, find_loadgen, log, run_load  # noqa: E402

BATCH_SIZE = 1000


def batch_body(n: int = BATCH_SIZE) -> dict:
    return {"items": [{"data": f"sigil batch benchmark item {i:05d}"} for i in range(n)]}


def _raw_worker(duration: float, barrier: mp.synchronize.Barrier, out: mp.queues.Queue) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    alg = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    msgs = [f"sigil batch benchmark item {i:05d}".encode() for i in range(BATCH_SIZE)]
    sign = key.sign
    for m in msgs[:200]:  # warm-up
        sign(m, alg)
    barrier.wait()
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + duration
    while True:
        for m in msgs[:100]:
            sign(m, alg)
        n += 100
        if time.perf_counter() >= deadline:
            break
    out.put((n, time.perf_counter() - t0))


def raw_rate(processes: int = 2, duration: float = 5.0) -> dict:
    """Signatures/s of ``processes`` processes signing with cryptography in a loop at the same time."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(processes)
    out = ctx.Queue()
    procs = [ctx.Process(target=_raw_worker, args=(duration, barrier, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=duration + 60) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    per_proc = [n / secs for n, secs in results]
    return {"sig_per_s": round(sum(per_proc), 1), "per_process": [round(r, 1) for r in per_proc]}


def check_batch(target: Target, body: dict) -> dict:
    r = httpx.post(target.sign_url, content=json.dumps(body), headers=target.headers(), timeout=60.0)
    if r.status_code != 200:
        raise RuntimeError(f"{target.name}: batch sign -> {r.status_code} {r.text[:300]}")
    sigs = r.json()["signatures"]
    if len(sigs) != len(body["items"]):
        raise RuntimeError(f"{target.name}: {len(sigs)} signatures for {len(body['items'])} items")
    verified = None
    pem = target.info.get("public_key_pem")
    if pem:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        pub = serialization.load_pem_public_key(pem.encode())
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        verified = True
        for i in (0, len(sigs) - 1):
            try:
                pub.verify(
                    base64.b64decode(sigs[i]), body["items"][i]["data"].encode(), ec.ECDSA(hashes.SHA256())
                )
            except InvalidSignature:
                verified = False
    return {"status": r.status_code, "signatures": len(sigs), "verified_first_and_last": verified}


def _http_summary(runs: list[dict]) -> dict:
    rates = [round(r["rps"] * BATCH_SIZE, 1) for r in runs]
    best = max(runs, key=lambda r: r["rps"])
    return {
        "sig_per_s_best": max(rates),
        "sig_per_s_median": round(statistics.median(rates), 1),
        "sig_per_s_runs": rates,
        "requests": sum(r["requests"] for r in runs),
        "latency_ms_of_best": {k: round(v / 1000, 2) for k, v in best["latency_us"].items()},
        "non2xx": sum(r["non2xx"] for r in runs),
        "socket_errors": sum(r["errors"] - r["non2xx"] for r in runs),
        "first_bad": next((r["first_bad"] for r in runs if r["first_bad"]), ""),
        "connections_per_worker": [sorted(r.get("probe", {}).values(), reverse=True) for r in runs],
    }


def measure(
    reference: Target | None,
    subject: Target,
    lg: LoadGen,
    *,
    workers: int = 2,
    connections: int = 4,
    duration: float = 8.0,
    warmup: float = 2.0,
    raw_duration: float = 5.0,
    rounds: int = 2,
) -> dict:
    body = batch_body()
    checks = {"subject": check_batch(subject, body)}
    if reference is not None:
        checks["reference"] = check_batch(reference, body)
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(json.dumps(body).encode())
        body_file = Path(f.name)
    raws: list[dict] = []
    runs: dict[str, list[dict]] = {"reference": [], "subject": []}
    warm_errors = 0
    try:
        for i in range(rounds):
            raw = raw_rate(workers, raw_duration)
            log(f"batch round {i + 1}/{rounds} raw x{workers}: {raw['sig_per_s']:.0f} sig/s")
            raws.append(raw)
            for role, t in (("reference", reference), ("subject", subject)):
                if t is None:
                    continue
                if warmup > 0:
                    warm_errors += run_load(lg, t.sign_url, body_file, t.token, connections, warmup)["errors"]
                res = run_load(
                    lg, t.sign_url, body_file, t.token, connections, duration,
                    probe=t.server.connections_per_process,
                )  # fmt: skip
                runs[role].append(res)
                log(
                    f"batch round {i + 1}/{rounds} {t.name}: {res['rps'] * BATCH_SIZE:.0f} sig/s "
                    f"({res['rps']:.1f} req/s), errors {res['errors']}, "
                    f"connections per worker {sorted(res['probe'].values(), reverse=True)}"
                )
    finally:
        body_file.unlink(missing_ok=True)
    raw_best = max(r["sig_per_s"] for r in raws)
    sub = _http_summary(runs["subject"])
    ref = _http_summary(runs["reference"]) if runs["reference"] else None
    errors = sub["non2xx"] + sub["socket_errors"] + (ref["non2xx"] + ref["socket_errors"] if ref else 0)
    return {
        "subject": subject.name,
        "subject_sig_per_s": sub["sig_per_s_best"],
        "raw_sig_per_s": raw_best,
        "ratio": round(sub["sig_per_s_best"] / raw_best, 3) if raw_best else None,
        "ratio_median": round(sub["sig_per_s_median"] / statistics.median(r["sig_per_s"] for r in raws), 3),
        "goal_ratio": 0.6,
        "reference_app_sig_per_s": ref["sig_per_s_best"] if ref else None,
        "reference_app_ratio_to_raw": round(ref["sig_per_s_best"] / raw_best, 3)
        if ref and raw_best
        else None,
        "valid": errors == 0 and sub["requests"] > 0,
        "errors": errors,
        "warmup_errors": warm_errors,
        "detail": {"subject": sub, "reference": ref, "raw_runs": raws},
        "sanity_check": checks,
        "setup": {
            "batch_size": BATCH_SIZE,
            "connections": connections,
            "workers": workers,
            "raw_processes": workers,
            "duration_s": duration,
            "raw_duration_s": raw_duration,
            "warmup_s": warmup,
            "rounds": rounds,
            "order": "raw, reference, subject per round; headline = best run of each",
            "item": body["items"][0],
        },
    }


def run(
    *,
    workers: int = 2,
    connections: int = 4,
    duration: float = 8.0,
    warmup: float = 2.0,
    rounds: int = 2,
    target: str = "sigil",
    lg: LoadGen | None = None,
) -> dict:
    lg = lg or find_loadgen()
    with contextlib.ExitStack() as stack:
        ref, sub = start_pair(stack, workers, target)
        out = measure(
            ref,
            sub,
            lg,
            workers=workers,
            connections=connections,
            duration=duration,
            warmup=warmup,
            rounds=rounds,
        )
    out["loadgen"] = lg.describe()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--target", choices=["sigil", "reference"], default="sigil")
    ap.add_argument("--python-loadgen", action="store_true")
    a = ap.parse_args()
    lg = find_loadgen(force_python=a.python_loadgen)
    res = run(
        workers=a.workers,
        connections=a.connections,
        duration=a.duration,
        warmup=a.warmup,
        rounds=a.rounds,
        target=a.target,
        lg=lg,
    )
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
