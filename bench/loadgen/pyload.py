"""Fallback load generator: keep-alive HTTP/1.1 POSTs over raw asyncio sockets, one process.

Used only when ``wrk`` cannot be had. It is much slower than wrk per request (Python parses every
response), so on a small machine it steals more CPU from the server under test and can cap the
numbers; the benchmark output says which load generator was used.

    python bench/loadgen/pyload.py --url http://127.0.0.1:8800/sign --body-file body.json \
        [--token T] [-c 32] [-d 8]

Prints one line ``WRKJSON {...}`` with the same fields as bench/loadgen/post.lua.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def _conn(host: str, port: int, request: bytes, deadline: float, stats: dict, lat: list) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        stats["connect"] += 1
        return
    try:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            chunked = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                body = b""
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    chunk = await reader.readexactly(size + 2)
                    if size == 0:
                        break
                    body += chunk[:-2]
            else:
                body = await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            stats["requests"] += 1
            stats["bytes"] += len(head) + len(body)
            if not 200 <= status <= 299:
                stats["non2xx"] += 1
                if not stats["first_bad"]:
                    stats["first_bad"] = f"{status} {body[:200].decode(errors='replace')}"
    except (OSError, asyncio.IncompleteReadError, ValueError):
        stats["read"] += 1
    finally:
        writer.close()


async def _main(args: argparse.Namespace) -> dict:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    with open(args.body_file, "rb") as f:
        body = f.read()
    headers = [
        f"POST {url.path or '/'} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if args.token:
        headers.append(f"Authorization: Bearer {args.token}")
    request = ("\r\n".join(headers) + "\r\n\r\n").encode() + body
    stats = {"requests": 0, "bytes": 0, "non2xx": 0, "first_bad": "", "connect": 0, "read": 0}
    lat: list[float] = []
    start = time.perf_counter()
    deadline = start + args.duration
    await asyncio.gather(*(_conn(host, port, request, deadline, stats, lat) for _ in range(args.connections)))
    elapsed = time.perf_counter() - start
    lat.sort()

    def pct(p: float) -> int:
        return int(lat[min(len(lat) - 1, int(len(lat) * p / 100))] * 1e6) if lat else 0

    return {
        "requests": stats["requests"],
        "duration_us": int(elapsed * 1e6),
        "bytes": stats["bytes"],
        "non2xx": stats["non2xx"],
        "first_bad": stats["first_bad"],
        "socket_errors": {"connect": stats["connect"], "read": stats["read"], "write": 0, "timeout": 0},
        "wrk_status_errors": 0,
        "latency_us": {
            "mean": (sum(lat) / len(lat) * 1e6) if lat else 0.0,
            "min": pct(0),
            "max": int(lat[-1] * 1e6) if lat else 0,
            "p50": pct(50),
            "p75": pct(75),
            "p90": pct(90),
            "p99": pct(99),
            "p99.9": pct(99.9),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--body-file", required=True)
    ap.add_argument("--token", default="")
    ap.add_argument("-c", "--connections", type=int, default=32)
    ap.add_argument("-d", "--duration", type=float, default=8.0)
    args = ap.parse_args()
    print("WRKJSON " + json.dumps(asyncio.run(_main(args))), flush=True)


if __name__ == "__main__":
    main()
