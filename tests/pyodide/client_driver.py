"""The client side of sigil.mpc behind a JSON-lines interface; runs inside Pyodide (see run_client.mjs).

One request per line, ``{"op": ..., ...}``; one answer per line. The client's secrets (DKG coefficients,
shares, the Paillier key, k1) stay in this process, exactly as in a browser; the CPython test plays the
server and only ever sees protocol messages. Each answer carries ``elapsed_ms`` for the timing report.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from sigil.mpc import arith, keygen, pairing, ringpedersen, shares, sign
from sigil.mpc.errors import MpcError, SignatureFailed

_STATE: dict[str, Any] = {"locked": set()}


def _hello(req: dict[str, Any]) -> dict[str, Any]:
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("gmpy2", "coincurve", "cryptography"))
    return {"backend": arith.BACKEND, "python": sys.version.split()[0], "native_modules": loaded}


def _dkg_round(req: dict[str, Any]) -> dict[str, Any]:
    session_id = bytes.fromhex(req["session_id"])
    state, message = keygen.client_dkg_round(session_id, keygen.DkgCommitment.from_json(req["commitment"]))
    _STATE["dkg"] = state
    return {"message": message.to_json()}


def _dkg_finish(req: dict[str, Any]) -> dict[str, Any]:
    public, x1, x3 = keygen.client_dkg_finish(
        _STATE.pop("dkg"), keygen.DkgServerMessage.from_json(req["message"])
    )
    _STATE["public"] = public
    _STATE["shares"] = {shares.CLIENT: x1, shares.BACKUP: x3}
    return {"wallet_public": public.to_json()}


def _pair(req: dict[str, Any]) -> dict[str, Any]:
    context = pairing.PairingContext.from_json(req["context"])
    if context.public_key != _STATE["public"].public_key:
        raise MpcError("pairing context is for another wallet")
    params = ringpedersen.ServerParams.from_json(req["params"])
    index = context.client_index
    w1 = shares.additive_share(index, _STATE["shares"][index], (index, shares.SERVER))
    timings: dict[str, float] = {}
    start = time.perf_counter()
    client_pairing, request = pairing.client_pair(context, w1, params)
    timings["client_pair_ms"] = round((time.perf_counter() - start) * 1000, 1)
    _STATE.setdefault("pairings", {})[context.pairing_id] = client_pairing
    return {"request": request.to_json(), **timings}


def _sign_nonce(req: dict[str, Any]) -> dict[str, Any]:
    ctx = sign.SignContext.from_json(req["ctx"])
    if ctx.pairing_id in _STATE["locked"]:
        return {"error": "PairingLocked", "detail": "this pairing is locked after a failed signature"}
    state, nonce = sign.client_sign_nonce(ctx, sign.SignCommitment.from_json(req["commitment"]))
    _STATE["sign"] = state
    return {"nonce": nonce.to_json()}


def _sign_finish(req: dict[str, Any]) -> dict[str, Any]:
    state = _STATE.pop("sign")
    client_pairing = _STATE["pairings"][state.ctx.pairing_id]
    reveal = sign.ServerReveal.from_json(req["reveal"])
    try:
        signature = sign.client_sign_finish(state, reveal, client_pairing, _STATE["public"].public_key)
    except SignatureFailed as exc:
        _STATE["locked"].add(state.ctx.pairing_id)  # what every client must do (CVE-2023-33242)
        return {"error": "SignatureFailed", "detail": str(exc)}
    return {"signature": signature.to_json()}


_OPS = {
    "hello": _hello,
    "dkg_round": _dkg_round,
    "dkg_finish": _dkg_finish,
    "pair": _pair,
    "sign_nonce": _sign_nonce,
    "sign_finish": _sign_finish,
}


def handle(line: str) -> str:
    """One request line in, one answer line out; protocol errors come back as {"error": class name}."""
    start = time.perf_counter()
    try:
        req = json.loads(line)
        answer = _OPS[req["op"]](req)
    except MpcError as exc:
        answer = {"error": type(exc).__name__, "detail": str(exc)}
    answer["elapsed_ms"] = round((time.perf_counter() - start) * 1000, 1)
    return json.dumps(answer)
