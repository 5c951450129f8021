"""One place that turns errors into RFC 9457 ``application/problem+json`` responses."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from sigil.errors import SigilError

log = logging.getLogger("sigil.server")
PROBLEM_TYPE = "https://sigil.dev/problems/"

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    body = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json")


async def sigil_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SigilError)
    if exc.status >= 500:
        log.error("internal error: %s (%s)", exc.code, type(exc).__name__)
    return problem(exc.status, exc.code, exc.title, exc.detail)


def validation_problem(exc: ValidationError) -> Response:
    errors = [
        {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(first["loc"]) or "body"
    return problem(422, "validation_error", "Invalid request", f"{where}: {first['msg']}", errors=errors)


async def http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return problem(exc.status_code, code, str(exc.detail), str(exc.detail))


async def unexpected_error(_request: Request, exc: Exception) -> Response:
    # Never echo the exception: it may carry data we do not control.
    log.exception("unhandled %s", type(exc).__name__)
    return problem(500, "internal_error", "Internal error", "the server failed; see its log")
