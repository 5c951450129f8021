"""Device-key logins per second over HTTP: ``POST /v1/auth/challenge`` then ``POST /v1/auth/verify``
(the device signs H with ECDSA P-256/SHA-256 in between), against ``sigil serve`` with 2 workers,
reported beside the single-message sign rate of the same server in the same run.

The login load comes from many concurrent clients on raw asyncio keep-alive connections (one
device and one user per connection; the signature is made by ``cryptography``, as a device
would). wrk cannot sign, so it cannot drive the login; it drives the sign measurement, as in
bench_http. The Python client costs CPU on the same machine, so the ratio is a lower bound.

Run alone:  .venv/bin/python bench/bench_login.py [--duration 8] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_http import SIGN_MESSAGE, Server, _tool, cpu_seconds, free_port  # noqa: E402
from bench.loadgen.driver import LoadGen, find_loadgen, log, run_load  # noqa: E402

GOAL = 0.4
ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def start_server(stack: contextlib.ExitStack, workers: int) -> tuple[Server, str, str]:
    """``sigil serve`` with open registration and rate limits out of the way; returns the server,
    a principal's token and a P-256 key id (for the sign measurement)."""
    data_dir = Path(tempfile.mkdtemp(prefix="sigil-bench-login-"))
    stack.callback(shutil.rmtree, data_dir, True)
    port = free_port()
    admin = "sgl_bench_admin_" + secrets.token_hex(16)
    env = dict(
        os.environ,
        SIGIL_ADMIN_TOKEN=admin,
        SIGIL_OPEN_REGISTRATION="1",
        SIGIL_AUTH_RATE_USER="100000000",
        SIGIL_AUTH_RATE_ADDR="100000000",
        # No MPC parameter search (a background process of 10-30 s of CPU on a fresh data dir):
        # it would run during the measurement and count as server CPU.
        SIGIL_MPC_PREPARE="0",
    )
    cmd = [*_tool("sigil"), "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir),
           "--workers", str(workers)]  # fmt: skip
    server = Server("sigil", cmd, env=env, port=port)
    stack.callback(server.stop)
    server.start().wait_ready()
    with httpx.Client(base_url=server.base_url, timeout=30.0) as c:
        r = c.post("/v1/tokens", json={"name": "bench-login"}, headers={"Authorization": f"Bearer {admin}"})
        r.raise_for_status()
        token = r.json()["token"]
        r = c.post("/v1/keys", json={"curve": "P-256"}, headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()
        key_id = r.json()["key_id"]
    return server, token, key_id


def register_devices(base_url: str, n: int) -> list[tuple[str, str, ec.EllipticCurvePrivateKey]]:
    """``n`` users, each with one device: (user, device_id, private key)."""
    out = []
    with httpx.Client(base_url=base_url, timeout=30.0) as c:
        for i in range(n):
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            user = f"bench-{i}-{secrets.token_hex(3)}"
            r = c.post("/v1/auth/devices", json={"user": user, "public_key": pem.decode()})
            r.raise_for_status()
            out.append((user, r.json()["device_id"], key))
    return out


def _request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _device_loop(
    host: str,
    port: int,
    device: tuple[str, str, ec.EllipticCurvePrivateKey],
    stop: float,
    measure_from: float,
    stats: dict,
    latencies: list[float],
) -> None:
    user, device_id, key = device
    reader, writer = await asyncio.open_connection(host, port)
    challenge_req = _request(host, port, "/v1/auth/challenge", orjson.dumps({"user": user}))
    try:
        while (t0 := time.perf_counter()) < stop:
            writer.write(challenge_req)
            status, body = await _read(reader)
            if status != 200:
                stats["errors"] += 1
                stats["first_bad"] = stats["first_bad"] or f"challenge {status} {body[:200]!r}"
                continue
            ch = orjson.loads(body)
            h = base64.urlsafe_b64decode(ch["challenge"] + "==")
            signature = base64.b64encode(key.sign(h, ECDSA_SHA256)).decode()
            payload = {"challenge_id": ch["challenge_id"], "device_id": device_id, "signature": signature}
            writer.write(_request(host, port, "/v1/auth/verify", orjson.dumps(payload)))
            status, body = await _read(reader)
            if status != 200 or b"session_token" not in body:
                stats["errors"] += 1
                stats["first_bad"] = stats["first_bad"] or f"verify {status} {body[:200]!r}"
                continue
            if t0 >= measure_from:
                stats["logins"] += 1
                latencies.append(time.perf_counter() - t0)
    finally:
        writer.close()


async def _login_load(base_url: str, devices: list, duration: float, warmup: float) -> dict:
    host, port = base_url.removeprefix("http://").split(":")
    start = time.perf_counter()
    measure_from, stop = start + warmup, start + warmup + duration
    stats = {"logins": 0, "errors": 0, "first_bad": ""}
    latencies: list[float] = []
    await asyncio.gather(
        *(_device_loop(host, int(port), d, stop, measure_from, stats, latencies) for d in devices)
    )
    latencies.sort()

    def pct(p: float) -> float:
        return (
            round(latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000, 2) if latencies else 0.0
        )

    return {
        "logins": stats["logins"],
        "logins_per_s": round(stats["logins"] / duration, 1),
        "errors": stats["errors"],
        "first_bad": stats["first_bad"],
        "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99)},
    }


def measure_sign(
    server: Server, token: str, key_id: str, lg: LoadGen, duration: float, warmup: float
) -> dict:
    """Single-message sign over HTTP on the same server (wrk, 32 keep-alive connections)."""
    url = f"{server.base_url}/v1/keys/{key_id}/sign"
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(json.dumps({"data": SIGN_MESSAGE}).encode())
        body_file = Path(f.name)
    try:
        run_load(lg, url, body_file, token, 32, warmup)
        pids = server.pids()
        cpu_before = cpu_seconds(pids)
        res = run_load(lg, url, body_file, token, 32, duration)
        cpu = cpu_seconds(pids) - cpu_before
    finally:
        body_file.unlink(missing_ok=True)
    per = round(cpu / res["requests"] * 1e6, 1) if res.get("requests") else None
    return {"rps": round(res["rps"], 1), "errors": res["errors"], "server_cpu_us_per_request": per}


def measure_login(server: Server, devices: list, duration: float, warmup: float) -> dict:
    """One login run, with the CPU the server processes (workers and audit relay) and this
    client process spent per login."""
    asyncio.run(_login_load(server.base_url, devices, warmup, 0.0))
    pids = server.pids()
    cpu_before, client_before = cpu_seconds(pids), time.process_time()
    res = asyncio.run(_login_load(server.base_url, devices, duration, 0.0))
    cpu, client = cpu_seconds(pids) - cpu_before, time.process_time() - client_before
    # Logins counted are those started inside the window; CPU covers the whole window.
    done = res["logins"] or 1
    res["server_cpu_us_per_login"] = round(cpu / done * 1e6, 1)
    res["client_cpu_us_per_login"] = round(client / done * 1e6, 1)
    return res


def run(
    *,
    workers: int = 2,
    connections: int = 32,
    duration: float = 8.0,
    warmup: float = 2.0,
    rounds: int = 2,
    lg: LoadGen | None = None,
) -> dict:
    """Alternate sign and login runs on one server; report medians and their ratio."""
    lg = lg or find_loadgen()
    with contextlib.ExitStack() as stack:
        server, token, key_id = start_server(stack, workers)
        devices = register_devices(server.base_url, connections)
        signs, logins = [], []
        for i in range(rounds):
            signs.append(measure_sign(server, token, key_id, lg, duration, warmup))
            logins.append(measure_login(server, devices, duration, warmup))
            last = logins[-1]
            cpu_login, cpu_sign = last["server_cpu_us_per_login"], signs[-1]["server_cpu_us_per_request"]
            log(f"login round {i + 1}/{rounds}: {last['logins_per_s']:.0f} logins/s, "
                f"sign {signs[-1]['rps']:.0f} req/s, login p99 {last['latency_ms']['p99']} ms, "
                f"server CPU {cpu_login} µs/login, {cpu_sign} µs/sign")  # fmt: skip
    sign_rps = statistics.median(s["rps"] for s in signs)
    login_rate = statistics.median(r["logins_per_s"] for r in logins)
    paired = [round(r["logins_per_s"] / s["rps"], 3) for r, s in zip(logins, signs, strict=True) if s["rps"]]
    errors = sum(r["errors"] for r in logins) + sum(s["errors"] for s in signs)
    cpu_pairs = [
        round(s["server_cpu_us_per_request"] / r["server_cpu_us_per_login"], 3)
        for r, s in zip(logins, signs, strict=True)
        if s.get("server_cpu_us_per_request") and r.get("server_cpu_us_per_login")
    ]
    return {
        "logins_per_s": login_rate,
        "single_sign_rps": sign_rps,
        "ratio": round(statistics.median(paired), 3) if paired else None,
        "ratio_paired_runs": paired,
        # Logins per server CPU-second / sign requests per server CPU-second (the client's and
        # wrk's CPU left out): what the server spends, less moved by other load on the machine.
        "cpu_efficiency_ratio": round(statistics.median(cpu_pairs), 3) if cpu_pairs else None,
        "cpu_efficiency_paired_runs": cpu_pairs,
        "goal_ratio": GOAL,
        "goal_met": bool(paired and statistics.median(paired) >= GOAL and errors == 0),
        "valid": errors == 0 and login_rate > 0,
        "errors": errors,
        "first_bad": next((r["first_bad"] for r in logins if r["first_bad"]), ""),
        "runs": {"login": logins, "sign": signs},
        "setup": {
            "workers": workers, "login_clients": connections, "duration_s": duration, "warmup_s": warmup,
            "rounds": rounds, "database": "SQLite (default)",
            "login": "POST /v1/auth/challenge + device signs H (cryptography) + POST /v1/auth/verify",
            "login_client": "raw asyncio keep-alive HTTP/1.1, one process, one user+device per connection",
            "sign": "POST /v1/keys/{key_id}/sign {data}, wrk 32 connections", "loadgen": lg.describe(),
        },
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    res = run(
        workers=a.workers, connections=a.connections, duration=a.duration, warmup=a.warmup, rounds=a.rounds
    )
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
