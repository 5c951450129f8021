"""POST /v1/tokens: create a principal and its bearer token (admin only)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sigil.errors import Forbidden
from sigil.keys.model import SCOPE_ADMIN
from sigil.server.http import AUTH_ADMIN, Endpoint, authenticate, json, parse_body, service
from sigil.server.schemas import TokenRequest, TokenResponse


async def create_token(request: Request) -> Response:
    caller = await authenticate(request)
    if SCOPE_ADMIN not in caller.scopes:
        raise Forbidden("creating tokens needs the admin scope")
    body = await parse_body(request, TokenRequest)
    issued = await run_in_threadpool(service(request).tokens.create, caller, body.name, body.scopes)
    p = issued.principal
    return json(
        {"token": issued.token, "name": p.name, "principal_id": p.id, "scopes": sorted(p.scopes)}, 201
    )


ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/tokens",
        create_token,
        "Create a principal and its token (shown once)",
        "tokens",
        auth=AUTH_ADMIN,
        body=TokenRequest,
        response=TokenResponse,
        status=201,
        errors=(403, 409),
    ),
]
