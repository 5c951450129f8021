"""Two-party MPC on secp256k1: wallet creation (DKG + pairing), signing latency end to end over
HTTP on loopback, and the "floor" measured in the same run.

The floor is the work no two-party Lindell-style signature can avoid: one Paillier encryption
(a fresh r^N mod N^2), one Paillier decryption (CRT), and the point multiplications the protocol
makes (R1, R2, the two Schnorr proofs and their checks, k1*R2 and k2*R1, the final ECDSA verify).
It is measured with the same Paillier key the pairing uses, so the ratio signing/floor says how
much the protocol, HTTP and the database add on top.

The client side runs in this process with the same ``sigil.mpc`` functions the SDK uses (native
backend: gmpy2 + coincurve); the server is ``sigil serve`` with 2 workers and its SQLite default.
Benchmarks are measurements, not tests: nothing here asserts on timings.

Run alone:  .venv/bin/python bench/bench_mpc.py [--signatures 60] [--wallets 5]
"""

from __future__ import annotations

import argparse
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
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_http import Server, _tool, free_port  # noqa: E402
from bench.loadgen.driver import log  # noqa: E402

from sigil.mpc import arith, keygen, pairing, shares, sign  # noqa: E402
from sigil.mpc.paillier import PaillierSecretKey  # noqa: E402
from sigil.mpc.proofs import schnorr  # noqa: E402
from sigil.mpc.transcript import Transcript  # noqa: E402

GOAL_SIGN_MS = 25.0
GOAL_SIGN_FLOOR_RATIO = 2.0
GOAL_WALLET_S = 1.5
PHASES = ("dkg", "pairing_client", "pairing_server", "total")


def _stats_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(p95 * 1000, 2),
        "min_ms": round(ordered[0] * 1000, 2),
        "n": len(ordered),
    }


def floor_once(paillier: PaillierSecretKey) -> float:
    """One encryption + one decryption + the protocol's point multiplications, in seconds."""
    pk = paillier.public
    t0 = time.perf_counter()
    k1, k2 = arith.random_scalar(), arith.random_scalar()
    r1, r2 = arith.base_mul(k1), arith.base_mul(k2)
    for k, point in ((k1, r1), (k2, r2)):  # each party proves its nonce and checks the other's proof
        t = Transcript("sigil/bench/floor")
        proof = schnorr.prove_dlog(k, point, t.fork())
        schnorr.verify_dlog(point, proof, t.fork())
    arith.point_mul(r1, k2)
    arith.point_mul(r2, k1)
    c = pk.encrypt(arith.random_scalar())
    paillier.decrypt(c)
    # the final ECDSA verification is two more multiplications
    arith.point_mul(arith.G, arith.random_scalar())
    arith.point_mul(r1, arith.random_scalar())
    return time.perf_counter() - t0


def start_server(stack: contextlib.ExitStack, workers: int) -> tuple[Server, str]:
    data_dir = Path(tempfile.mkdtemp(prefix="sigil-bench-mpc-"))
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
        r = c.post("/v1/tokens", json={"name": "bench-mpc"}, headers={"Authorization": f"Bearer {admin}"})
        r.raise_for_status()
        token = r.json()["token"]
    return server, token


def _ok(r: httpx.Response) -> dict[str, Any]:
    if r.status_code >= 400:
        raise RuntimeError(f"{r.request.method} {r.request.url.path} -> {r.status_code} {r.text[:300]}")
    return r.json()


def create_wallet(c: httpx.Client, params: pairing.ServerParams) -> tuple[dict[str, Any], dict[str, float]]:
    """DKG (two round trips) then pairing of the client share (two round trips); returns what the
    signer needs and the time of each phase."""
    t0 = time.perf_counter()
    started = _ok(c.post("/v1/mpc/keygen", json={}))
    session_id = bytes.fromhex(started["session_id"])
    commitment = keygen.DkgCommitment.from_json(started["commitment"])
    state, message = keygen.client_dkg_round(session_id, commitment)
    done = _ok(c.post(f"/v1/mpc/keygen/{started['keygen_id']}", json={"message": message.to_json()}))
    public, x1, _x3 = keygen.client_dkg_finish(state, keygen.DkgServerMessage.from_json(done["message"]))
    t1 = time.perf_counter()
    begun = _ok(c.post(f"/v1/mpc/wallets/{done['wallet_id']}/pairings", json={"client_index": shares.CLIENT}))
    ctx = pairing.PairingContext(
        wallet_id=done["wallet_id"],
        pairing_id=begun["pairing_id"],
        nonce=bytes.fromhex(begun["nonce"]),
        client_index=shares.CLIENT,
        public_key=public.public_key,
    )
    w1 = shares.additive_share(shares.CLIENT, x1, (shares.CLIENT, shares.SERVER))
    client_pairing, request = pairing.client_pair(ctx, w1, params)
    t2 = time.perf_counter()
    _ok(c.post(f"/v1/mpc/pairings/{begun['pairing_id']}", json={"request": request.to_json()}))
    t3 = time.perf_counter()
    wallet = {"wallet_id": done["wallet_id"], "public": public, "pairing": client_pairing}
    return wallet, {"dkg": t1 - t0, "pairing_client": t2 - t1, "pairing_server": t3 - t2, "total": t3 - t0}


def sign_once(c: httpx.Client, wallet: dict[str, Any]) -> float:
    digest = secrets.token_bytes(32)
    client_pairing = wallet["pairing"]
    t0 = time.perf_counter()
    pairing_id = client_pairing.context.pairing_id
    opened = _ok(c.post(f"/v1/mpc/pairings/{pairing_id}/sign", json={"message_hash": digest.hex()}))
    ctx = sign.SignContext(
        session_id=bytes.fromhex(opened["session_id"]),
        pairing_id=pairing_id,
        wallet_id=wallet["wallet_id"],
        message_hash=digest,
    )
    state, nonce = sign.client_sign_nonce(ctx, sign.SignCommitment.from_json(opened["commitment"]))
    answered = _ok(c.post(f"/v1/mpc/sessions/{opened['session_id']}", json={"nonce": nonce.to_json()}))
    signature = sign.client_sign_finish(
        state, sign.ServerReveal.from_json(answered["reveal"]), client_pairing, wallet["public"].public_key
    )
    elapsed = time.perf_counter() - t0
    if not sign.verify_signature(wallet["public"].public_key, digest, signature.r, signature.s):
        raise RuntimeError("a released signature does not verify")
    return elapsed


def run(*, workers: int = 2, signatures: int = 60, wallets: int = 5) -> dict[str, Any]:
    out: dict[str, Any] = {"backend": arith.BACKEND, "workers": workers}
    with contextlib.ExitStack() as stack:
        t_start = time.perf_counter()
        server, token = start_server(stack, workers)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base_url, timeout=120.0, headers=headers) as c:
            raw = _ok(c.get("/v1/mpc/params"))  # waits for the one-time ring-Pedersen generation
            out["server_params_ready_s"] = round(time.perf_counter() - t_start, 2)
            params = pairing.ServerParams.from_json(raw["server_params"])
            log(f"mpc: server params ready after {out['server_params_ready_s']} s")

            phases: dict[str, list[float]] = {k: [] for k in PHASES}
            wallet = None
            for _ in range(wallets):
                wallet, times = create_wallet(c, params)
                for k, v in times.items():
                    phases[k].append(v)
            out["wallet_creation"] = {k: _stats_ms(v) for k, v in phases.items()}
            assert wallet is not None
            log("mpc: wallet creation", json.dumps(out["wallet_creation"]["total"]))

            for _ in range(5):  # warm-up: connections, caches, the server's randomness pool
                sign_once(c, wallet)
            # Signatures and floor samples alternate, so both see the same load on this shared machine.
            latencies, floors = [], []
            for _ in range(signatures):
                latencies.append(sign_once(c, wallet))
                floors.append(floor_once(wallet["pairing"].paillier))
            out["signing"] = _stats_ms(latencies)
            out["floor"] = _stats_ms(floors)
            log("mpc: signing", json.dumps(out["signing"]), "floor", json.dumps(out["floor"]))
    sign_median = out["signing"]["median_ms"]
    floor_median = out["floor"]["median_ms"]
    wallet_median_s = out["wallet_creation"]["total"]["median_ms"] / 1000
    out["signing_over_floor"] = round(sign_median / floor_median, 2)
    out["goals"] = {
        "signing_median_le_25ms": sign_median <= GOAL_SIGN_MS,
        "signing_le_2x_floor": sign_median <= GOAL_SIGN_FLOOR_RATIO * floor_median,
        "wallet_creation_le_1.5s": wallet_median_s <= GOAL_WALLET_S,
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--signatures", type=int, default=60)
    ap.add_argument("--wallets", type=int, default=5)
    a = ap.parse_args()
    print(json.dumps(run(workers=a.workers, signatures=a.signatures, wallets=a.wallets), indent=2))


if __name__ == "__main__":
    main()
