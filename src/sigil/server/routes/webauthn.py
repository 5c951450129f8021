"""/v1/webauthn/*: passkey (ES256) registration and login.

Handlers parse, call the ceremony flows of :mod:`sigil.auth.passkeys` (the relying-party checks
are in :mod:`sigil.auth.webauthn`) and shape the answer. Every rejection, from an unparseable body
to a cloned authenticator, is a problem+json 4xx with its code, recorded in the audit log
(``webauthn.register`` / ``webauthn.login``, outcome = the code), and changes nothing stored.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sigil.auth import passkeys
from sigil.auth.passkeys import Attempt
from sigil.auth.sessions import issue_session, verify_session
from sigil.auth.webauthn import RelyingParty
from sigil.errors import SigilError
from sigil.server.http import AUTH_NONE, Endpoint, SigilApp, bearer, json, parse_body, service
from sigil.server.routes.auth import rate_limit
from sigil.server.schemas import Open, Strict

RATE_WINDOW_S = 60
Step = Callable[[Request, Attempt], Awaitable[Response]]


class RegisterOptionsRequest(Strict):
    user: str = Field(
        ..., max_length=64, description="the user name (new: open registration; else its session)"
    )
    name: str | None = Field(None, max_length=100, description="a label for the passkey (pass it to verify)")


class RegisterVerifyRequest(Strict):
    challenge_id: str = Field(..., max_length=64)
    credential: dict[str, Any] = Field(
        ..., description="PublicKeyCredential JSON from navigator.credentials.create()"
    )
    name: str | None = Field(None, max_length=100, description="a label for the passkey")


class LoginOptionsRequest(Strict):
    user: str | None = Field(None, max_length=64, description="omit for a discoverable passkey")


class LoginVerifyRequest(Strict):
    challenge_id: str = Field(..., max_length=64)
    credential: dict[str, Any] = Field(
        ..., description="PublicKeyCredential JSON from navigator.credentials.get()"
    )


class OptionsResponse(Open):
    challenge_id: str
    options: dict[str, Any]


class RegisteredResponse(Open):
    device_id: str
    user: str


class SessionResponse(Open):
    session_token: str
    expires_at: int
    user: str
    device_id: str


def _rp(request: Request) -> RelyingParty:
    settings = request.scope["app"].settings
    return RelyingParty(
        rp_id=settings.rp_id,
        rp_name=settings.rp_name,
        origins=tuple(settings.webauthn_origins),
        user_verification=settings.webauthn_user_verification,
        timeout_ms=settings.challenge_ttl * 1000,
    )


def audited(action: str) -> Callable[[Step], Callable[[Request], Awaitable[Response]]]:
    """Record every rejection of ``step`` (problem code as the outcome) before it is answered."""

    def wrap(step: Step) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(step)
        async def handler(request: Request) -> Response:
            attempt = Attempt()
            try:
                return await step(request, attempt)
            except (SigilError, ValidationError) as exc:
                code = exc.code if isinstance(exc, SigilError) else "validation_error"
                passkeys.record_failure(service(request).ctx, action, attempt, code)
                raise

        return handler

    return wrap


async def _limit(request: Request, what: str) -> None:
    """Per client address, on the node's counters (see docs/auth.md, rate limits)."""
    app: SigilApp = request.scope["app"]
    address = request.client.host if request.client else "unknown"
    rate_limit(request, f"webauthn:{what}:addr:{address}", app.settings.auth_rate_addr)


def _limit_user(request: Request, what: str, user: str | None) -> None:
    """Per user, on the steps that name one (the options steps: every ceremony starts there)."""
    if user is not None:
        app: SigilApp = request.scope["app"]
        rate_limit(request, f"webauthn:{what}:user:{user}", app.settings.auth_rate_user)


async def _session_user(request: Request) -> str | None:
    token = bearer(request)
    if token is None:
        return None
    svc = service(request)
    claims = await run_in_threadpool(verify_session, svc.ctx, svc, token)
    return claims.user


@audited(passkeys.ACTION_REGISTER)
async def register_options(request: Request, attempt: Attempt) -> Response:
    await _limit(request, "register")
    body = await parse_body(request, RegisterOptionsRequest)
    _limit_user(request, "register", body.user)
    settings = request.scope["app"].settings
    started = await run_in_threadpool(
        functools.partial(
            passkeys.start_registration,
            service(request).ctx,
            _rp(request),
            user=body.user,
            session_user=await _session_user(request),
            open_registration=settings.open_registration,
            ttl=settings.challenge_ttl,
            attempt=attempt,
        )
    )
    return json({"challenge_id": started.challenge_id, "options": started.options})


@audited(passkeys.ACTION_REGISTER)
async def register_verify(request: Request, attempt: Attempt) -> Response:
    await _limit(request, "register")
    body = await parse_body(request, RegisterVerifyRequest)
    registered = await run_in_threadpool(
        functools.partial(
            passkeys.finish_registration,
            service(request).ctx,
            _rp(request),
            challenge_id=body.challenge_id,
            credential=body.credential,
            name=body.name,
            session_user=await _session_user(request),
            open_registration=request.scope["app"].settings.open_registration,
            attempt=attempt,
        )
    )
    return json({"device_id": registered.device_id, "user": registered.user}, 201)


@audited(passkeys.ACTION_LOGIN)
async def login_options(request: Request, attempt: Attempt) -> Response:
    await _limit(request, "login")
    body = await parse_body(request, LoginOptionsRequest)
    _limit_user(request, "login", body.user)
    started = await run_in_threadpool(
        functools.partial(
            passkeys.start_login,
            service(request).ctx,
            _rp(request),
            user=body.user,
            ttl=request.scope["app"].settings.challenge_ttl,
            attempt=attempt,
        )
    )
    return json({"challenge_id": started.challenge_id, "options": started.options})


@audited(passkeys.ACTION_LOGIN)
async def login_verify(request: Request, attempt: Attempt) -> Response:
    await _limit(request, "login")
    body = await parse_body(request, LoginVerifyRequest)
    svc = service(request)
    ctx = svc.ctx
    done = await run_in_threadpool(
        functools.partial(
            passkeys.finish_login,
            ctx,
            _rp(request),
            challenge_id=body.challenge_id,
            credential=body.credential,
            attempt=attempt,
        )
    )
    ttl = request.scope["app"].settings.session_ttl
    token, expires_at = await run_in_threadpool(
        functools.partial(issue_session, ctx, svc, user=done.user, device_id=done.device_id, ttl=ttl)
    )
    return json(
        {"session_token": token, "expires_at": expires_at, "user": done.user, "device_id": done.device_id}
    )


_REJECTIONS = (
    "Rejections (problem+json, audited, no state change): webauthn_malformed (400), webauthn_invalid, "
    "origin_mismatch, rp_id_mismatch, challenge_mismatch, user_presence_missing, user_verification_missing, "
    "signature_invalid, sign_count_regressed, credential_unknown, device_revoked (401), challenge_used, "
    "credential_exists (409), challenge_expired (410), unsupported_algorithm (422)."
)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/webauthn/register/options",
        register_options,
        "Passkey registration options (ES256 only) and their challenge",
        "webauthn",
        auth=AUTH_NONE,
        body=RegisterOptionsRequest,
        response=OptionsResponse,
        errors=(401, 403, 429),
        description="A new user needs open registration (SIGIL_OPEN_REGISTRATION=1); adding a passkey to "
        "an existing user needs that user's session (Authorization: Bearer <session token>).",
    ),
    Endpoint(
        "POST",
        "/v1/webauthn/register/verify",
        register_verify,
        "Verify navigator.credentials.create() and store the passkey",
        "webauthn",
        auth=AUTH_NONE,
        body=RegisterVerifyRequest,
        response=RegisteredResponse,
        status=201,
        errors=(400, 401, 403, 404, 409, 410),
        description=_REJECTIONS,
    ),
    Endpoint(
        "POST",
        "/v1/webauthn/login/options",
        login_options,
        "Passkey login options (the user's passkeys, or none for a discoverable one)",
        "webauthn",
        auth=AUTH_NONE,
        body=LoginOptionsRequest,
        response=OptionsResponse,
        errors=(404, 429),
    ),
    Endpoint(
        "POST",
        "/v1/webauthn/login/verify",
        login_verify,
        "Verify navigator.credentials.get() and issue a session token",
        "webauthn",
        auth=AUTH_NONE,
        body=LoginVerifyRequest,
        response=SessionResponse,
        errors=(400, 401, 404, 409, 410, 429),
        description=_REJECTIONS,
    ),
]
