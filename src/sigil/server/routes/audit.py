"""GET /v1/audit and GET /v1/audit/verify (admin)."""

from __future__ import annotations

from dataclasses import asdict

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sigil.errors import BadRequest, Forbidden
from sigil.keys.model import SCOPE_ADMIN
from sigil.server.http import AUTH_ADMIN, Endpoint, authenticate, json, service
from sigil.store.audit import read_entries_in, verify_chain_in

AUDIT_QUERY = (
    ("after", {"type": "integer", "minimum": 0, "default": 0}),
    ("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name, str(default))
    if not raw.isdigit() or len(raw) > 18 or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be an integer {low}..{high}", code="validation_error")
    return int(raw)


async def _admin(request: Request) -> None:
    caller = await authenticate(request)
    if SCOPE_ADMIN not in caller.scopes:
        raise Forbidden("the audit log needs the admin scope")


async def show(request: Request) -> Response:
    await _admin(request)
    after = _int_param(request, "after", 0, 0, 2**62)
    limit = _int_param(request, "limit", 100, 1, 1000)
    ctx = service(request).ctx

    def read() -> list[dict[str, object]]:
        ctx.audit.sync()
        with ctx.db.read() as session:
            return read_entries_in(session, after=after, limit=limit)

    return json({"entries": await run_in_threadpool(read)})


async def verify(request: Request) -> Response:
    await _admin(request)
    ctx = service(request).ctx

    def check() -> dict[str, object]:
        ctx.audit.sync()
        with ctx.db.read() as session:
            return asdict(verify_chain_in(session, ctx.sealer.audit_key))

    return json(await run_in_threadpool(check))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/audit",
        show,
        "Read audit entries after a sequence number",
        "audit",
        auth=AUTH_ADMIN,
        query=AUDIT_QUERY,
        errors=(403,),
    ),
    Endpoint(
        "GET",
        "/v1/audit/verify",
        verify,
        "Check the audit chain end to end",
        "audit",
        auth=AUTH_ADMIN,
        errors=(403,),
    ),
]
