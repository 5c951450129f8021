"""The client side of sigil.mpc under Pyodide (Node.js), against the server side in CPython.

Node runs ``run_client.mjs``: Pyodide from ``node_modules/pyodide`` (offline), the pure-Python backend, and
the client's half of DKG, pairing (Paillier key + Π_mod, Π_fac, Π_log*, and the check of the server's Π_prm)
and signing. This process plays the server with the native backend. The messages cross a pipe as JSON lines,
exactly the JSON the HTTP API carries; the signature that comes out must verify here. Timings are printed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import selectors
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import coincurve
import pytest

from sigil.mpc import keygen, sign
from sigil.mpc.paillier import PaillierPublicKey
from sigil.mpc.pairing import PairingContext, PairingRequest, server_verify_pairing
from sigil.mpc.ringpedersen import ServerParams, make_server_params
from sigil.mpc.shares import BACKUP, CLIENT, SERVER, WalletPublic, additive_share

pytestmark = [pytest.mark.slow, pytest.mark.pyodide]

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src" / "sigil"
STEP_TIMEOUT = 600.0  # seconds for one client step (pairing is the long one)


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js (`node`) is not installed; the Pyodide client test needs it")
    if not (HERE / "node_modules" / "pyodide" / "pyodide.mjs").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(
                "`npm` is missing, so the pinned `pyodide` package cannot be installed (tests/pyodide)"
            )
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=900)
    return node


class NodeClient:
    """The Pyodide process: one JSON line per request and per answer."""

    def __init__(self, node: str) -> None:
        self.proc = subprocess.Popen(
            [node, str(HERE / "run_client.mjs"), str(SRC)],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        if not self._sel.select(STEP_TIMEOUT):
            raise TimeoutError("the Pyodide client did not answer")
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"the Pyodide client exited: {err[-4000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def client() -> Iterator[NodeClient]:
    c = NodeClient(_node())
    yield c
    c.close()


@pytest.fixture(scope="module")
def server_params(request: pytest.FixtureRequest) -> ServerParams:
    """The server's ring-Pedersen parameters with Π_prm; cached across runs, as the server keeps them."""
    key = "sigil-mpc-pyodide/server-params-2048"
    cache = getattr(request.config, "cache", None)
    cached = cache.get(key, None) if cache is not None else None
    if cached is not None:
        return ServerParams.from_json(cached)
    params, _secret = make_server_params(2048)
    if cache is not None:
        cache.set(key, params.to_json())
    return params


def _report(timings: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print("\nPyodide client timings (ms):", json.dumps(timings))


def test_client_under_pyodide_against_cpython_server(
    client: NodeClient, server_params: ServerParams, capsys: pytest.CaptureFixture[str]
) -> None:
    timings: dict[str, Any] = {
        "pyodide_load": client.ready["load_ms"],
        "import_sigil_mpc": client.ready["import_ms"],
    }
    hello = client.call("hello")
    assert hello["backend"] == "python" and hello["native_modules"] == [], hello

    # --- DKG: the server commits first; the client's shares never leave the Pyodide process ----------
    start = time.perf_counter()
    session_id = secrets.token_bytes(16)
    server_state, commitment = keygen.server_dkg_start(session_id)
    answer = client.call("dkg_round", session_id=session_id.hex(), commitment=commitment.to_json())
    timings["dkg_client_round"] = answer["elapsed_ms"]
    public, x2, reply = keygen.server_dkg_finish(
        server_state, keygen.DkgClientMessage.from_json(answer["message"])
    )
    answer = client.call("dkg_finish", message=reply.to_json())
    timings["dkg_client_finish"] = answer["elapsed_ms"]
    timings["dkg_total"] = round((time.perf_counter() - start) * 1000, 1)
    assert WalletPublic.from_json(answer["wallet_public"]) == public

    for index in (CLIENT, BACKUP):
        pair = (index, SERVER)
        # --- pairing: Paillier key + proofs made under Pyodide, checked here --------------------------
        context = PairingContext(
            wallet_id="wallet-pyodide",
            pairing_id=f"pairing-{index}-{secrets.token_hex(4)}",
            nonce=secrets.token_bytes(32),
            client_index=index,
            public_key=public.public_key,
        )
        start = time.perf_counter()
        answer = client.call("pair", context=context.to_json(), params=server_params.to_json())
        assert "error" not in answer, answer
        request = PairingRequest.from_json(answer["request"])
        verify_start = time.perf_counter()
        server_pairing = server_verify_pairing(
            context, request, public.pair_public(index, pair), server_params
        )
        timings[f"pair{index}_client"] = answer["client_pair_ms"]
        timings[f"pair{index}_server_verify"] = round((time.perf_counter() - verify_start) * 1000, 1)
        timings[f"pair{index}_total"] = round((time.perf_counter() - start) * 1000, 1)
        w2 = additive_share(SERVER, x2, pair)

        # --- signing: two round trips; the signature must verify here ---------------------------------
        for i in range(2):
            message_hash = hashlib.sha256(f"pyodide {index} {i}".encode()).digest()
            start = time.perf_counter()
            ctx = sign.SignContext(
                secrets.token_bytes(16), context.pairing_id, context.wallet_id, message_hash
            )
            state, sign_commitment = sign.server_sign_commit(ctx)
            answer = client.call("sign_nonce", ctx=ctx.to_json(), commitment=sign_commitment.to_json())
            nonce_ms = answer["elapsed_ms"]
            reveal = sign.server_sign_respond(
                state, sign.ClientNonce.from_json(answer["nonce"]), server_pairing, w2
            )
            answer = client.call("sign_finish", reveal=reveal.to_json())
            assert "error" not in answer, answer
            timings[f"sign{index}_{i}"] = {
                "client_nonce": nonce_ms,
                "client_finish": answer["elapsed_ms"],
                "total": round((time.perf_counter() - start) * 1000, 1),
            }
            signature = sign.RecoverableSignature.from_json(answer["signature"])
            assert sign.verify_signature(public.public_key, message_hash, signature.r, signature.s)
            recovered = coincurve.PublicKey.from_signature_and_message(
                signature.to_rsv(), message_hash, hasher=None
            )
            assert recovered.format() == public.public_key.to_bytes()

    # --- a malicious c3 makes the Pyodide client fail and lock that pairing ----------------------------
    ctx = sign.SignContext(secrets.token_bytes(16), context.pairing_id, context.wallet_id, bytes(32))
    state, sign_commitment = sign.server_sign_commit(ctx)
    answer = client.call("sign_nonce", ctx=ctx.to_json(), commitment=sign_commitment.to_json())
    reveal = sign.server_sign_respond(state, sign.ClientNonce.from_json(answer["nonce"]), server_pairing, w2)
    pk = PaillierPublicKey(server_pairing.paillier_n)
    evil = sign.ServerReveal(reveal.r2, reveal.proof, reveal.opening, pk.add(reveal.c3, pk.encrypt(1)))
    assert client.call("sign_finish", reveal=evil.to_json())["error"] == "SignatureFailed"
    ctx = sign.SignContext(secrets.token_bytes(16), context.pairing_id, context.wallet_id, bytes(32))
    _, sign_commitment = sign.server_sign_commit(ctx)
    assert client.call("sign_nonce", ctx=ctx.to_json(), commitment=sign_commitment.to_json())["error"] == (
        "PairingLocked"
    )
    _report(timings, capsys)
