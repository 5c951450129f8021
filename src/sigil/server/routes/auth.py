"""Device-key login: ``/v1/auth/*`` (docs/auth.md). Thin handlers over ``sigil.auth``."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any, TypeVar

from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sigil.auth import devices, login, sessions
from sigil.auth.config import RATE_WINDOW_S, AuthConfig
from sigil.auth.login import LoginNode
from sigil.auth.registration import check_device_name, check_user_name, parse_device_key
from sigil.auth.sessions import SessionClaims
from sigil.errors import NotFound, Unauthorized
from sigil.keys.model import iso_time
from sigil.server.http import AUTH_NONE, Endpoint, bearer, json, parse_body, read_json, service
from sigil.server.schemas import Open, Strict
from sigil.server.settings import Settings

T = TypeVar("T")
AUTH_SESSION = "session"
MAX_USER = 64
DEVICE_PATH = "/v1/auth/devices/{device_id}"


# --- request / response models ----------------------------------------------------------------


class RegisterDeviceRequest(Strict):
    user: str = Field(..., min_length=1, max_length=64, description="user name (new with open registration)")
    public_key: str | dict[str, Any] = Field(..., description="P-256 public key: PEM SPKI, JWK, or SEC1 hex")
    name: str | None = Field(None, max_length=100, description="a label for the device")


class ChallengeRequest(Strict):
    user: str = Field(..., min_length=1, max_length=MAX_USER)


class VerifyLoginRequest(Strict):
    challenge_id: str = Field(..., max_length=512)
    device_id: str = Field(..., max_length=64)
    signature: str = Field(
        ..., max_length=200, description="ECDSA P-256/SHA-256 over H; DER or raw r||s, base64 or base64url"
    )


class RegisteredDevice(Open):
    device_id: str
    user: str


class DeviceInfo(Open):
    device_id: str
    name: str | None = None
    kind: str
    created_at: str | None = None
    revoked: bool


class DeviceList(Open):
    devices: list[DeviceInfo]


class RevokedDevice(Open):
    device_id: str
    revoked: bool


class ChallengeResponse(Open):
    challenge_id: str
    challenge: str
    domain: str
    expires_at: str


class SessionResponse(Open):
    session_token: str
    expires_at: int


class WhoAmI(Open):
    user: str
    device_id: str
    expires_at: int


# --- helpers -----------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def auth_config(settings: Settings) -> AuthConfig:
    return AuthConfig(
        domain=settings.auth_domain,
        challenge_ttl=settings.challenge_ttl,
        session_ttl=settings.session_ttl,
        open_registration=settings.open_registration,
        rate_user=settings.auth_rate_user,
        rate_addr=settings.auth_rate_addr,
    )


def config(request: Request) -> AuthConfig:
    return auth_config(request.scope["app"].settings)


def login_node(request: Request) -> LoginNode:
    """This worker's view of the node's login state (challenge key, ledger, rate counters)."""
    return login.login_node(service(request).ctx, request.scope["app"].settings.login_node)


def rate_limit(request: Request, key: str, limit: int) -> None:
    """One hit on the node's counter ``key`` (429 over ``limit`` per minute). Shared memory: no
    database, no thread hop."""
    login_node(request).state.hit([(key, limit, RATE_WINDOW_S)], time.time())


async def run_step(node: LoginNode, step: Callable[[], T]) -> T:
    """A login step on the event loop where it does no network I/O (SQLite), else in the pool."""
    return step() if node.inline else await run_in_threadpool(step)


def client_address(request: Request) -> str:
    """The peer's address (proxies' X-Forwarded-For is not trusted: see docs/auth.md)."""
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


async def session_claims(request: Request) -> SessionClaims:
    """The caller's session (401 without a valid one). Exposed for the other auth routes."""
    token = bearer(request)
    if not token:
        raise Unauthorized("a session token is required: Authorization: Bearer <session token>")
    svc = service(request)
    return await run_in_threadpool(sessions.verify_session, svc.ctx, svc, token)


# --- handlers ----------------------------------------------------------------------------------


async def register_device(request: Request) -> Response:
    body = await parse_body(request, RegisterDeviceRequest)
    user, name = check_user_name(body.user), check_device_name(body.name)
    public_key = parse_device_key(body.public_key)
    caller = await session_claims(request) if bearer(request) else None
    svc, cfg = service(request), config(request)
    rate_limit(request, f"rg:a:{client_address(request)}", cfg.rate_addr)
    device, _user = await run_in_threadpool(
        lambda: devices.register_device(
            svc.ctx,
            user=user,
            public_key=public_key,
            name=name,
            session_user=None if caller is None else caller.user,
            open_registration=cfg.open_registration,
        )
    )
    return json({"device_id": device.id, "user": user}, 201)


async def list_devices(request: Request) -> Response:
    claims = await session_claims(request)
    found = await run_in_threadpool(devices.list_devices, service(request).ctx, claims.user)
    return json({"devices": [{**d.summary(), "created_at": iso_time(d.created_at)} for d in found]})


async def revoke_device(request: Request) -> Response:
    claims = await session_claims(request)
    device_id: str = request.path_params["device_id"]
    if not device_id.startswith("dev_") or len(device_id) > 32:
        raise NotFound(f"no device {device_id!r}")
    ctx = service(request).ctx
    device = await run_in_threadpool(
        lambda: devices.revoke_device(ctx, user=claims.user, device_id=device_id)
    )
    return json({"device_id": device.id, "revoked": True})


async def challenge(request: Request) -> Response:
    raw = await read_json(request)
    name = raw.get("user")
    if not (len(raw) == 1 and type(name) is str and 1 <= len(name) <= MAX_USER):
        # The usual body is what the model accepts; build it only to explain what is wrong.
        name = ChallengeRequest.model_validate(raw).user
    user = check_user_name(name)
    ctx, node = service(request).ctx, login_node(request)
    issued = await run_step(
        node,
        partial(login.begin_login, ctx, node, config(request), user=user, client=client_address(request)),
    )
    row = issued.row
    return json(
        {
            "challenge_id": row.id,
            "challenge": b64url(row.challenge),
            "domain": row.domain,
            "expires_at": _iso_us(row.expires_at),
        }
    )


def _iso_us(us: int) -> str:
    """``iso_time`` for a challenge's expiry, in integer arithmetic (a datetime costs ~10 µs more,
    on every login); the same text, e.g. ``2026-11-22T05:46:11.123456Z``."""
    seconds, micros = divmod(us, 1_000_000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{micros:06d}Z"


async def verify(request: Request) -> Response:
    raw = await read_json(request)
    if not _usual_verify_body(raw):
        # The model is strict (no coercion, no extra fields): what it accepts is ``raw`` as is.
        VerifyLoginRequest.model_validate(raw)
    svc, cfg, node = service(request), config(request), login_node(request)
    result = await run_step(
        node,
        partial(
            login.complete_login,
            svc.ctx,
            svc,
            node,
            cfg,
            challenge_id=raw["challenge_id"],
            device_id=raw["device_id"],
            signature=raw["signature"],
            client=client_address(request),
        ),
    )
    return json({"session_token": result.token, "expires_at": result.expires_at})


def _usual_verify_body(raw: dict[str, Any]) -> bool:
    """The usual verify body, checked against the model's limits without building the model (on
    every login); False when anything is off, to let the model say what."""
    if len(raw) != len(_VERIFY_LIMITS):
        return False
    for name, limit in _VERIFY_LIMITS:
        value = raw.get(name)
        if type(value) is not str or len(value) > limit:
            return False
    return True


_VERIFY_LIMITS = tuple(
    (name, next(m.max_length for m in info.metadata if getattr(m, "max_length", None) is not None))
    for name, info in VerifyLoginRequest.model_fields.items()
)


async def whoami(request: Request) -> Response:
    claims = await session_claims(request)
    return json({"user": claims.user, "device_id": claims.device_id, "expires_at": claims.expires_at})


def b64url(data: bytes) -> str:
    from sigil.crypto.encoding import b64url_encode

    return b64url_encode(data)


# The two login steps first: Starlette tries routes in order.
ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/auth/challenge",
        challenge,
        "A single-use login challenge H = SHA-256(random || domain)",
        "auth",
        auth=AUTH_NONE,
        body=ChallengeRequest,
        response=ChallengeResponse,
        errors=(404, 429),
    ),
    Endpoint(
        "POST",
        "/v1/auth/verify",
        verify,
        "Log in: the device's signature over the challenge -> a session JWT (ES256)",
        "auth",
        auth=AUTH_NONE,
        body=VerifyLoginRequest,
        response=SessionResponse,
        errors=(401, 409, 410, 429),
    ),
    Endpoint(
        "POST",
        "/v1/auth/devices",
        register_device,
        "Register a device's P-256 public key (new user: open registration; else the user's session)",
        "auth",
        auth=AUTH_NONE,
        body=RegisterDeviceRequest,
        response=RegisteredDevice,
        status=201,
        errors=(401, 403, 409, 429),
    ),
    Endpoint(
        "GET",
        "/v1/auth/devices",
        list_devices,
        "The session user's devices",
        "auth",
        auth=AUTH_SESSION,
        response=DeviceList,
        errors=(401,),
    ),
    Endpoint(
        "DELETE",
        DEVICE_PATH,
        revoke_device,
        "Revoke one of the session user's devices (its sessions end too)",
        "auth",
        auth=AUTH_SESSION,
        response=RevokedDevice,
        errors=(401,),
    ),
    Endpoint(
        "GET",
        "/v1/auth/session",
        whoami,
        "Who the session token belongs to",
        "auth",
        auth=AUTH_SESSION,
        response=WhoAmI,
        errors=(401,),
    ),
]
