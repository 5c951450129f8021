"""Two-party MPC ECDSA: ``/v1/mpc/*`` (docs/api.md "MPC wallets"). Thin handlers over ``sigil.wallets``.

The protocol messages inside the bodies (``message``, ``request``, ``nonce``, ``feldman``, ...) are
``sigil.mpc`` JSON objects; pydantic checks only that they are objects, and their own ``from_json``
validates every field (422 ``mpc_invalid_message``).
"""

from __future__ import annotations

import re
import threading
from typing import Any, Literal

from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sigil.server.http import (
    AUTH_NONE,
    Endpoint,
    JsonBytes,
    SigilApp,
    authenticate,
    json,
    parse_body,
    service,
)
from sigil.server.schemas import Open, Strict
from sigil.wallets.service import MpcService

TAG = "mpc"
WALLET_PATH = "/v1/mpc/wallets/{wallet_id}"
PAIRING_PATH = "/v1/mpc/pairings/{pairing_id}"
_HEX32 = re.compile(r"^[0-9a-fA-F]{64}$")
_lock = threading.Lock()

# --- request / response models ----------------------------------------------------------------

MpcObject = dict[str, Any]


class KeygenStartRequest(Strict):
    pass


class KeygenFinishRequest(Strict):
    message: MpcObject = Field(..., description="DkgClientMessage (sigil.mpc.keygen)")
    label: str | None = Field(None, max_length=200)


class DealerWalletRequest(Strict):
    mode: Literal["dealer"] = Field(..., description="the client dealt the shares (Feldman-checked)")
    feldman: MpcObject = Field(..., description="Feldman commitments {c0, c1}")
    encrypted_share: MpcObject = Field(..., description="share 2 sealed to the server transport key")
    label: str | None = Field(None, max_length=200)


class PairingStartRequest(Strict):
    client_index: int = Field(
        ..., description="1 = the client's share, 3 = the backup share", json_schema_extra={"enum": [1, 3]}
    )


class PairingFinishRequest(Strict):
    request: MpcObject = Field(..., description="PairingRequest: Paillier N, c_key, Π_mod, Π_fac, Π_log*")


class SignStartRequest(Strict):
    message_hash: str = Field(..., min_length=64, max_length=64, description="the 32-byte digest, hex")


class SessionRequest(Strict):
    nonce: MpcObject = Field(..., description="ClientNonce: R1 with its Schnorr proof")


class LockRequest(Strict):
    reason: str | None = Field(None, max_length=200)


class MpcParamsResponse(Open):
    curve: str
    server_params: dict[str, Any]
    transport_key_pem: str


class KeygenStarted(Open):
    keygen_id: str
    session_id: str
    commitment: dict[str, Any]
    expires_at: str


class PairingSummary(Open):
    pairing_id: str
    client_index: int
    state: str


class WalletInfo(Open):
    wallet_id: str
    address: str
    public_key: str
    public_shares: dict[str, str]
    label: str | None = None
    created_at: str | None = None
    pairings: list[PairingSummary] = Field(default_factory=list)


class WalletCreated(Open):
    wallet_id: str
    address: str
    public_key: str
    public_shares: dict[str, str]
    message: dict[str, Any] | None = None


class WalletList(Open):
    wallets: list[WalletInfo]


class PairingStarted(Open):
    pairing_id: str
    nonce: str
    expires_at: str


class PairingState(Open):
    pairing_id: str
    state: str


class SignStarted(Open):
    session_id: str
    commitment: dict[str, Any]
    expires_at: str


class SessionReveal(Open):
    reveal: dict[str, Any]


# --- helpers -----------------------------------------------------------------------------------


def mpc(request: Request) -> MpcService:
    """This worker's MPC service, made on first use beside the key service (same database,
    sealer and audit writer)."""
    app: SigilApp = request.scope["app"]
    found: MpcService | None = getattr(app, "mpc_service", None)
    if found is None:
        with _lock:
            found = getattr(app, "mpc_service", None)
            if found is None:
                found = MpcService(service(request).ctx, data_dir=app.settings.data_dir)
                app.mpc_service = found  # type: ignore[attr-defined]
    return found


def message_hash(value: str) -> bytes:
    from sigil.errors import BadRequest

    if not _HEX32.match(value):
        raise BadRequest("message_hash must be 64 hex characters (32 bytes)", code="validation_error")
    return bytes.fromhex(value)


# --- handlers ----------------------------------------------------------------------------------


async def get_params(request: Request) -> Response:
    return JsonBytes(await run_in_threadpool(mpc(request).public_params))


async def start_keygen(request: Request) -> Response:
    caller = await authenticate(request)
    await parse_body(request, KeygenStartRequest)
    return json(await run_in_threadpool(mpc(request).start_keygen, caller), 201)


async def finish_keygen(request: Request) -> Response:
    caller = await authenticate(request)
    body = await parse_body(request, KeygenFinishRequest)
    keygen_id: str = request.path_params["keygen_id"]
    svc = mpc(request)
    return json(await run_in_threadpool(svc.finish_keygen, caller, keygen_id, body.message, body.label), 201)


async def create_wallet(request: Request) -> Response:
    caller = await authenticate(request)
    body = await parse_body(request, DealerWalletRequest)
    svc = mpc(request)
    out = await run_in_threadpool(svc.create_dealt, caller, body.feldman, body.encrypted_share, body.label)
    return json(out, 201)


async def list_wallets(request: Request) -> Response:
    caller = await authenticate(request)
    return json({"wallets": await run_in_threadpool(mpc(request).list_wallets, caller)})


async def show_wallet(request: Request) -> Response:
    caller = await authenticate(request)
    wallet_id: str = request.path_params["wallet_id"]
    return json(await run_in_threadpool(mpc(request).get_wallet, caller, wallet_id))


async def start_pairing(request: Request) -> Response:
    caller = await authenticate(request)
    body = await parse_body(request, PairingStartRequest)
    wallet_id: str = request.path_params["wallet_id"]
    return json(
        await run_in_threadpool(mpc(request).start_pairing, caller, wallet_id, body.client_index), 201
    )


async def finish_pairing(request: Request) -> Response:
    caller = await authenticate(request)
    body = await parse_body(request, PairingFinishRequest)
    pairing_id: str = request.path_params["pairing_id"]
    return json(await run_in_threadpool(mpc(request).finish_pairing, caller, pairing_id, body.request))


async def lock_pairing(request: Request) -> Response:
    caller = await authenticate(request)
    body = await parse_body(request, LockRequest)
    pairing_id: str = request.path_params["pairing_id"]
    return json(await run_in_threadpool(mpc(request).lock_pairing, caller, pairing_id, body.reason))


async def start_sign(request: Request) -> Response:
    caller = await authenticate(request)
    body = await parse_body(request, SignStartRequest)
    pairing_id: str = request.path_params["pairing_id"]
    digest = message_hash(body.message_hash)
    return json(await run_in_threadpool(mpc(request).start_sign, caller, pairing_id, digest))


async def respond(request: Request) -> Response:
    caller = await authenticate(request)
    body = await parse_body(request, SessionRequest)
    session_id: str = request.path_params["session_id"]
    return json(await run_in_threadpool(mpc(request).respond, caller, session_id, body.nonce))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/mpc/params",
        get_params,
        "The server's ring-Pedersen parameters with their Π_prm proof, and its transport key",
        TAG,
        auth=AUTH_NONE,
        response=MpcParamsResponse,
    ),
    Endpoint(
        "POST",
        "/v1/mpc/keygen",
        start_keygen,
        "Start a distributed keygen: the server's commitment to its polynomial",
        TAG,
        body=KeygenStartRequest,
        response=KeygenStarted,
        status=201,
    ),
    Endpoint(
        "POST",
        "/v1/mpc/keygen/{keygen_id}",
        finish_keygen,
        "Finish a distributed keygen: the client's commitments, proof and share -> the wallet",
        TAG,
        body=KeygenFinishRequest,
        response=WalletCreated,
        status=201,
        errors=(404, 409),
    ),
    Endpoint(
        "POST",
        "/v1/mpc/wallets",
        create_wallet,
        "Create a wallet from shares the client dealt (share 2 sealed to the transport key)",
        TAG,
        body=DealerWalletRequest,
        response=WalletCreated,
        status=201,
    ),
    Endpoint("GET", "/v1/mpc/wallets", list_wallets, "The caller's MPC wallets", TAG, response=WalletList),
    Endpoint(
        "GET",
        WALLET_PATH,
        show_wallet,
        "One wallet with its pairings",
        TAG,
        response=WalletInfo,
        errors=(404,),
    ),
    Endpoint(
        "POST",
        WALLET_PATH + "/pairings",
        start_pairing,
        "Start pairing a client share (1) or the backup share (3) with the server's",
        TAG,
        body=PairingStartRequest,
        response=PairingStarted,
        status=201,
        errors=(404,),
    ),
    Endpoint(
        "POST",
        PAIRING_PATH,
        finish_pairing,
        "Finish a pairing: Paillier N, c_key and the proofs Π_mod, Π_fac, Π_log*",
        TAG,
        body=PairingFinishRequest,
        response=PairingState,
        errors=(404, 409),
    ),
    Endpoint(
        "POST",
        PAIRING_PATH + "/sign",
        start_sign,
        "Signing round 1: the server's commitment to R2 (a single-use session)",
        TAG,
        body=SignStartRequest,
        response=SignStarted,
        errors=(404, 409),
    ),
    Endpoint(
        "POST",
        PAIRING_PATH + "/lock",
        lock_pairing,
        "Lock a pairing for good (the client saw a signature that does not verify)",
        TAG,
        body=LockRequest,
        response=PairingState,
        errors=(404,),
    ),
    Endpoint(
        "POST",
        "/v1/mpc/sessions/{session_id}",
        respond,
        "Signing round 2: R1 with its proof -> the opening, R2's proof and c3 (single use)",
        TAG,
        body=SessionRequest,
        response=SessionReveal,
        errors=(404, 409),
    ),
]
