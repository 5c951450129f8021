"""Shared request plumbing: the endpoint registry, body parsing, auth, JSON responses.

Handlers stay thin (STYLE.md §3): parse with ``parse_body``, authenticate with ``principal``,
call the domain, answer with ``json``. Everything here is deliberately cheap; it runs on the sign
path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from sigil.errors import MalformedBody, PayloadTooLarge, Unauthorized
from sigil.keys.model import LoadedKey, Principal
from sigil.keys.service import KeyService
from sigil.server.settings import Settings

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]

AUTH_NONE, AUTH_TOKEN, AUTH_ADMIN = "none", "token", "admin"


@dataclass(frozen=True)
class Endpoint:
    """One API path: what the router mounts and what ``/openapi.json`` documents."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: str = AUTH_TOKEN
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, dict[str, Any]], ...] = ()
    description: str = ""
    extra_responses: dict[int, str] = field(default_factory=dict)


class SigilApp(Starlette):
    """The Starlette app with Sigil's per-worker objects as plain attributes (cheaper on the hot
    path than ``app.state``, and typed)."""

    keys: KeyService
    settings: Settings
    in_flight: dict[tuple[str, str | None], asyncio.Future[Any]]


def service(request: Request) -> KeyService:
    app: SigilApp = request.scope["app"]
    return app.keys


async def read_body(request: Request) -> bytes:
    """The whole body, refused with 413 as soon as it passes the limit (also when streamed
    without a Content-Length). Reads ASGI messages directly: cheaper than ``request.stream()``."""
    limit: int = request.scope["app"].settings.max_body
    declared = raw_header(request, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object (400 ``malformed_body`` otherwise).

    The content type is not checked: every body is parsed as JSON (curl's default form type
    included). Browsers cannot forge these calls cross-site: each state-changing path needs an
    Authorization header, which forces a CORS preflight that this server never answers.
    """
    raw = await read_body(request)
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise MalformedBody("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedBody("the body must be a JSON object")
    return data


async def parse_body(request: Request, model: type[M]) -> M:
    """Parse and validate a JSON object body into ``model`` (422 with field errors otherwise)."""
    return model.model_validate(await read_json(request))


def raw_header(request: Request, name: bytes) -> str | None:
    """One request header straight from the ASGI scope (``name`` in lower case): cheaper than
    building ``request.headers`` on the hot path."""
    for key, value in request.scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def bearer(request: Request) -> str | None:
    header = raw_header(request, b"authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("use Authorization: Bearer <token>")
    return token.strip()


async def authenticate(request: Request) -> Principal:
    """The caller: from the worker's cache when warm, else looked up off the event loop."""
    tokens = service(request).tokens
    token = bearer(request)
    cached = tokens.cached(token)
    if cached is not None:
        return cached
    return await single_flight(request, ("token", token), tokens.authenticate, token)


async def load_key(request: Request, key_id: str) -> LoadedKey | None:
    """A key from the worker's cache, or loaded off the event loop (once, however many wait)."""
    svc = service(request)
    return svc.cache.peek(key_id) or await single_flight(request, ("key", key_id), svc.lifecycle.load, key_id)


async def single_flight(
    request: Request, name: tuple[str, str | None], fn: Callable[..., T], *args: Any
) -> T:
    """Run the blocking ``fn(*args)`` in the thread pool, sharing one run among concurrent callers
    with the same ``name``: when a cache entry expires under load, the database is asked once,
    not once per request in flight."""
    app: SigilApp = request.scope["app"]
    pending = app.in_flight
    future = pending.get(name)
    if future is None:
        future = asyncio.ensure_future(run_in_threadpool(fn, *args))
        pending[name] = future
        future.add_done_callback(lambda _f: pending.pop(name, None))
    result: T = await asyncio.shield(future)
    return result


class JsonBytes(Response):
    """A JSON response from already-serialised bytes, with its two headers built directly
    (``Response.__init__`` renders and inspects headers generically; this runs on every sign)."""

    media_type = "application/json"

    def __init__(self, content: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.body = content
        self.background = None
        self.raw_headers = [
            (b"content-length", str(len(content)).encode()),
            (b"content-type", b"application/json"),
        ]


def json(data: Any, status: int = 200) -> Response:
    return JsonBytes(orjson.dumps(data), status)
