"""JWT issuing and JWKS publication."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sigil.server.http import AUTH_NONE, Endpoint, authenticate, json, parse_body, service
from sigil.server.routes.keys import KEY_PATH, key_id_of
from sigil.server.schemas import Jwks, JwtRequest, JwtResponse


async def issue_jwt(request: Request) -> Response:
    caller = await authenticate(request)
    key_id = key_id_of(request)
    body = await parse_body(request, JwtRequest)
    signer = service(request).signer
    token, kid, alg = await run_in_threadpool(signer.issue_jwt, caller, key_id, body.claims, body.expires_in)
    return json({"token": token, "kid": kid, "alg": alg})


async def key_jwks(request: Request) -> Response:
    return json(await run_in_threadpool(service(request).signer.jwks_for, key_id_of(request)))


async def service_jwks(request: Request) -> Response:
    return json(await run_in_threadpool(service(request).service_jwks))


ENDPOINTS = [
    Endpoint(
        "POST",
        KEY_PATH + "/jwt",
        issue_jwt,
        "Issue a compact JWS (ES256/ES384/ES256K), kid = key_id:version",
        "jwt",
        body=JwtRequest,
        response=JwtResponse,
        errors=(409,),
    ),
    Endpoint(
        "GET",
        KEY_PATH + "/jwks.json",
        key_jwks,
        "JWKS of one key's live versions",
        "jwt",
        auth=AUTH_NONE,
        response=Jwks,
    ),
    Endpoint(
        "GET",
        "/.well-known/jwks.json",
        service_jwks,
        "JWKS of every key created with jwt: true",
        "jwt",
        auth=AUTH_NONE,
        response=Jwks,
    ),
]
