"""Device-key login: ``/v1/auth/*`` (docs/auth.md). Thin handlers over ``sigil.auth``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sigil.auth import devices, login, sessions
from sigil.auth.config import RATE_WINDOW_S, AuthConfig
from sigil.auth.ratelimit import hit
from sigil.auth.registration import check_device_name, check_user_name, parse_device_key
from sigil.auth.sessions import SessionClaims
from sigil.errors import NotFound, Unauthorized
from sigil.keys.model import iso_time
from sigil.server.http import AUTH_NONE, Endpoint, bearer, json, parse_body, service
from sigil.server.schemas import Open, Strict
from sigil.server.settings import Settings

AUTH_SESSION = "session"
DEVICE_PATH = "/v1/auth/devices/{device_id}"


# --- request / response models ----------------------------------------------------------------


class RegisterDeviceRequest(Strict):
    user: str = Field(..., min_length=1, max_length=64, description="user name (new with open registration)")
    public_key: str | dict[str, Any] = Field(..., description="P-256 public key: PEM SPKI, JWK, or SEC1 hex")
    name: str | None = Field(None, max_length=100, description="a label for the device")


class ChallengeRequest(Strict):
    user: str = Field(..., min_length=1, max_length=64)


class VerifyLoginRequest(Strict):
    challenge_id: str = Field(..., max_length=64)
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
    await run_in_threadpool(hit, svc.ctx, f"rg:a:{client_address(request)}", cfg.rate_addr, RATE_WINDOW_S)
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
    body = await parse_body(request, ChallengeRequest)
    user = check_user_name(body.user)
    ctx = service(request).ctx
    row = await run_in_threadpool(
        lambda: login.begin_login(ctx, config(request), user=user, client=client_address(request))
    )
    return json(
        {
            "challenge_id": row.id,
            "challenge": b64url(row.challenge),
            "domain": row.domain,
            "expires_at": iso_time(row.expires_at),
        }
    )


async def verify(request: Request) -> Response:
    body = await parse_body(request, VerifyLoginRequest)
    svc, cfg = service(request), config(request)
    result = await run_in_threadpool(
        lambda: login.complete_login(
            svc.ctx,
            svc,
            cfg,
            challenge_id=body.challenge_id,
            device_id=body.device_id,
            signature=body.signature,
            client=client_address(request),
        )
    )
    return json({"session_token": result.token, "expires_at": result.expires_at})


async def whoami(request: Request) -> Response:
    claims = await session_claims(request)
    return json({"user": claims.user, "device_id": claims.device_id, "expires_at": claims.expires_at})


def b64url(data: bytes) -> str:
    from sigil.crypto.encoding import b64url_encode

    return b64url_encode(data)


ENDPOINTS = [
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
