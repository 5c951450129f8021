"""Key lifecycle paths: create, list, show, public, rotate, disable, enable, delete, cancel-deletion."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sigil.errors import BadRequest, NotFound
from sigil.keys.model import DESTROYED, public_fields
from sigil.server.http import AUTH_NONE, Endpoint, authenticate, json, load_key, parse_body, service
from sigil.server.schemas import (
    CreatedKey,
    CreateKeyRequest,
    KeyList,
    KeyMetadata,
    PublicKeys,
    VersionRequest,
)

KEY_PATH = "/v1/keys/{key_id}"
DELETE_QUERY = (("pending_days", {"type": "integer", "minimum": 7, "maximum": 30, "default": 30}),)


def key_id_of(request: Request) -> str:
    key_id: str = request.path_params["key_id"]
    if not key_id.startswith("key_") or len(key_id) > 40:
        raise NotFound(f"no key {key_id!r}")
    return key_id


async def create_key(request: Request) -> Response:
    caller = await authenticate(request)
    body = await parse_body(request, CreateKeyRequest)
    meta = await run_in_threadpool(
        service(request).lifecycle.create, caller, body.curve, body.label, body.jwt
    )
    latest = meta["versions"][-1]
    return json(
        {
            **meta,
            **{
                k: latest[k]
                for k in ("version", "public_key_pem", "public_key_jwk", "public_key_hex", "address")
            },
        },
        201,
    )


async def list_keys(request: Request) -> Response:
    caller = await authenticate(request)
    return json({"keys": await run_in_threadpool(service(request).lifecycle.list, caller)})


async def show_key(request: Request) -> Response:
    caller = await authenticate(request)
    return json(await run_in_threadpool(service(request).lifecycle.get, caller, key_id_of(request)))


async def public_key(request: Request) -> Response:
    key_id = key_id_of(request)
    key = await load_key(request, key_id)
    if key is None:
        raise NotFound(f"no key {key_id!r}")
    versions = [public_fields(key, v) for v in key.live_versions()]
    return json(
        {
            "key_id": key.key_id,
            "curve": key.curve.name,
            "state": key.state,
            "versions": versions,
            "destroyed": key.state == DESTROYED,
        }
    )


async def rotate(request: Request) -> Response:
    caller = await authenticate(request)
    return json(await run_in_threadpool(service(request).lifecycle.rotate, caller, key_id_of(request)))


async def _set_enabled(request: Request, enabled: bool) -> Response:
    caller = await authenticate(request)
    key_id = key_id_of(request)
    body = await parse_body(request, VersionRequest)
    lifecycle = service(request).lifecycle
    return json(await run_in_threadpool(lifecycle.set_enabled, caller, key_id, enabled, body.version))


async def disable(request: Request) -> Response:
    return await _set_enabled(request, False)


async def enable(request: Request) -> Response:
    return await _set_enabled(request, True)


async def schedule_deletion(request: Request) -> Response:
    caller = await authenticate(request)
    key_id = key_id_of(request)
    raw = request.query_params.get("pending_days", "30")
    if not raw.isdigit() or len(raw) > 4:
        raise BadRequest("pending_days must be an integer 7..30", code="validation_error")
    lifecycle = service(request).lifecycle
    return json(await run_in_threadpool(lifecycle.schedule_deletion, caller, key_id, int(raw)))


async def cancel_deletion(request: Request) -> Response:
    caller = await authenticate(request)
    return json(
        await run_in_threadpool(service(request).lifecycle.cancel_deletion, caller, key_id_of(request))
    )


ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/keys",
        create_key,
        "Create a key pair; the private key stays sealed",
        "keys",
        body=CreateKeyRequest,
        response=CreatedKey,
        status=201,
    ),
    Endpoint("GET", "/v1/keys", list_keys, "List the caller's keys", "keys", response=KeyList),
    Endpoint("GET", KEY_PATH, show_key, "A key's metadata with every version", "keys", response=KeyMetadata),
    Endpoint(
        "GET",
        KEY_PATH + "/public",
        public_key,
        "A key's public keys (no token needed)",
        "keys",
        auth=AUTH_NONE,
        response=PublicKeys,
    ),
    Endpoint(
        "POST",
        KEY_PATH + "/rotate",
        rotate,
        "Add a new version; it becomes the signing version",
        "keys",
        response=KeyMetadata,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        KEY_PATH + "/disable",
        disable,
        "Stop signing with the key or one version",
        "keys",
        body=VersionRequest,
        response=KeyMetadata,
        errors=(409,),
    ),
    Endpoint(
        "POST",
        KEY_PATH + "/enable",
        enable,
        "Sign again with the key or one version",
        "keys",
        body=VersionRequest,
        response=KeyMetadata,
        errors=(409,),
    ),
    Endpoint(
        "DELETE",
        KEY_PATH,
        schedule_deletion,
        "Schedule destruction after 7-30 days (cancellable)",
        "keys",
        response=KeyMetadata,
        errors=(409,),
        query=DELETE_QUERY,
    ),
    Endpoint(
        "POST",
        KEY_PATH + "/cancel-deletion",
        cancel_deletion,
        "Cancel a scheduled deletion (key ends disabled)",
        "keys",
        response=KeyMetadata,
        errors=(409,),
    ),
]
