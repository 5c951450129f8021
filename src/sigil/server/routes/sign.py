"""POST /v1/keys/{key_id}/sign (single and batch) and POST /v1/verify.

The sign handler is the hot path: with the caller's token and the key in this worker's cache it
runs entirely on the event loop (no thread hop, no database); the audit event is queued.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from sigil.crypto.encoding import b64decode, b64encode
from sigil.crypto.keys import parse_public_key
from sigil.errors import BadRequest, InvalidEncoding, NotFound, PayloadTooLarge
from sigil.keys.repository import owned
from sigil.keys.signing import Message, SignOptions, verify_signature
from sigil.server.http import (
    AUTH_NONE,
    Endpoint,
    authenticate,
    json,
    load_key,
    parse_body,
    read_json,
    service,
)
from sigil.server.routes.keys import KEY_PATH, key_id_of
from sigil.server.schemas import MAX_TEXT, SignRequest, SignResponse, VerifyRequest, VerifyResponse

DEFAULT_OPTIONS = SignOptions()


async def sign(request: Request) -> Response:
    caller = await authenticate(request)
    key_id = key_id_of(request)
    raw = await read_json(request)
    svc = service(request)
    key = owned(await load_key(request, key_id), caller, key_id)
    text = raw.get("data")
    if len(raw) == 1 and type(text) is str and len(text) <= MAX_TEXT:
        # The common request, {"data": "..."}, is what SignRequest would accept with every default;
        # building the model for it costs more than the rest of this handler.
        signed = svc.signer.sign_with(caller, key, [Message(message=text.encode())], DEFAULT_OPTIONS)
        return json({"key_id": key_id, "version": signed.version, "encoding": "der",
                     "hash": signed.hash_name, "signature": b64encode(signed.signatures[0])})  # fmt: skip
    body = SignRequest.model_validate(raw)
    messages = _messages(body, body.hash or key.curve.default_hash, svc.ctx.limits.max_batch_items)
    signed = svc.signer.sign_with(caller, key, messages, body.options())
    out = {"key_id": key_id, "version": signed.version, "encoding": signed.encoding, "hash": signed.hash_name}
    if body.items is not None:
        out["signatures"] = [b64encode(s) for s in signed.signatures]
    else:
        out["signature"] = b64encode(signed.signatures[0])
    return json(out)


def _messages(body: SignRequest, hash_name: str, max_items: int) -> list[Message]:
    if body.items is None:
        return [body.to_message(hash_name)]
    if any(getattr(body, f) is not None for f in ("data", "data_b64", "digest")):
        raise BadRequest("give either items or one of data, data_b64, digest", code="validation_error")
    if len(body.items) > max_items:
        raise PayloadTooLarge(f"a batch holds at most {max_items} items")
    return [item.to_message(hash_name) for item in body.items]


async def verify(request: Request) -> Response:
    body = await parse_body(request, VerifyRequest)
    if (body.key_id is None) == (body.public_key is None):
        raise BadRequest("give exactly one of key_id, public_key", code="validation_error")
    signature = _signature_bytes(body.signature)
    opts = body.options()
    if body.key_id is not None:
        svc = service(request)
        key = await load_key(request, body.key_id)
        if key is None:
            raise NotFound(f"no key {body.key_id!r}")
        message = body.to_message(body.hash or key.curve.default_hash)
        valid, version = svc.signer.verify_with_key(key, body.version, message, signature, opts)
        return json({"valid": valid, "key_id": body.key_id, "version": version})
    if body.version is not None:
        raise BadRequest("version applies only with key_id", code="validation_error")
    public = parse_public_key(body.public_key, curve=body.curve)  # type: ignore[arg-type]
    hash_name = body.hash or public.curve.default_hash
    message = body.to_message(hash_name)
    return json({"valid": verify_signature(public, message, signature, hash_name, opts)})


def _signature_bytes(value: str) -> bytes:
    try:
        return b64decode(value)
    except InvalidEncoding:
        raise InvalidEncoding("signature is not valid base64") from None


ENDPOINTS = [
    Endpoint(
        "POST",
        KEY_PATH + "/sign",
        sign,
        "Sign a message, a digest, or a batch of up to 1,000",
        "sign",
        body=SignRequest,
        response=SignResponse,
        errors=(409, 413),
    ),
    Endpoint(
        "POST",
        "/v1/verify",
        verify,
        "Verify a signature with a key id or a public key (no token)",
        "sign",
        auth=AUTH_NONE,
        body=VerifyRequest,
        response=VerifyResponse,
        errors=(409,),
    ),
]
