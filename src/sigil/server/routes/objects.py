"""POST /v1/objects/sign and POST /v1/objects/verify: PAF signed data objects.

The rules live in :mod:`sigil.objects` (pure); this module parses the request, picks the key, passes
the clock and shapes the answer. A PAF signature is ECDSA P-256 over SHA-256 of the UTF-8 signature
input, stored as base64 of the 64-byte raw ``r || s``; verification also accepts DER.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sigil.crypto import ecdsa
from sigil.crypto.ecdsa import PublicKey
from sigil.crypto.keys import parse_public_key
from sigil.errors import BadRequest, NotFound, SigilError
from sigil.keys.model import LoadedKey, Principal
from sigil.keys.repository import owned
from sigil.keys.service import KeyService
from sigil.keys.signing import signing_version, verification_versions
from sigil.objects import (
    ALL_PROFILES,
    DEFAULT_PROFILE,
    OBJECT_TYPES,
    SignedObject,
    get_type,
    sign_object,
    signature_input,
    verify_object,
)
from sigil.objects.rules import resolve
from sigil.server.http import AUTH_NONE, Endpoint, authenticate, json, parse_body, service
from sigil.server.schemas import Open, Strict
from sigil.store.audit import AuditEvent

PAF_CURVE = "P-256"
PAF_HASH = "SHA-256"
AUDIT_ACTION = "objects.sign"
MAX_NAME = 64


# --- request and response models ----------------------------------------------------------------


class ObjectFields(Strict):
    type: str = Field(..., max_length=MAX_NAME, json_schema_extra={"enum": list(OBJECT_TYPES)})
    profile: str = Field(
        DEFAULT_PROFILE,
        max_length=MAX_NAME,
        description="signature rules",
        json_schema_extra={"enum": list(ALL_PROFILES)},
    )
    object: dict[str, Any] = Field(..., description="the PAF object (REST or redirect form for requests)")
    context: dict[str, Any] | None = Field(
        None,
        description="what the rule reads beside the object: origin, referer/return_url, identifiers, seed",
    )


class ObjectSignRequest(ObjectFields):
    key_id: str = Field(..., max_length=MAX_NAME, description="a P-256 key of the caller")
    signer_domain: str | None = Field(
        None, max_length=253, description="fill source.domain (or sender) with this domain; default: as given"
    )


class ObjectVerifyRequest(ObjectFields):
    key_id: str | None = Field(None, max_length=MAX_NAME, description="verify with this key's live versions")
    public_key: str | dict[str, Any] | None = Field(
        None, description="P-256 public key: PEM SPKI, JWK object, or SEC1 hex"
    )


class ObjectSignResponse(Open):
    object: dict[str, Any]
    signature_input: str
    signature: str
    key_id: str
    version: int


class ObjectVerifyResponse(Open):
    valid: bool
    signature_input: str
    key_id: str | None = None
    version: int | None = None


# --- sign ---------------------------------------------------------------------------------------


def _timestamp_missing(type_name: str, obj: Mapping[str, Any]) -> bool:
    """Whether the signed message in ``obj`` (the inner request of a redirect) has no timestamp."""
    object_type = get_type(type_name)
    message: object = obj
    if object_type.wrapper is not None and object_type.wrapper in obj and "sender" not in obj:
        message = obj[object_type.wrapper]
    if not isinstance(message, Mapping):
        return False  # the core reports the wrong type
    try:
        [(_where, value)] = resolve(message, object_type.timestamp_path)
    except BadRequest:
        return True
    return value is None


@dataclass
class _KeySigner:
    """The ``sign`` callable for :func:`sigil.objects.sign_object`: the key's newest enabled version
    signs (raw ``r || s``) and the event is audited. Called only once the input is built, so a
    malformed object never touches the key."""

    svc: KeyService
    caller: Principal
    key: LoadedKey
    version: int = 0

    def __call__(self, message: bytes) -> bytes:
        try:
            version = signing_version(self.key, None)
            private = self.svc.cache.private_key(self.key, version)
        except SigilError as exc:
            self._audit(outcome=exc.code)
            raise
        raw = ecdsa.sign(private, message=message, hash_name=PAF_HASH, encoding="raw")
        self.version = version.version
        self._audit(message_sha256=hashlib.sha256(message).hexdigest())
        return raw

    def _audit(self, *, outcome: str = "ok", message_sha256: str | None = None) -> None:
        event = AuditEvent(
            self.caller.name,
            AUDIT_ACTION,
            outcome=outcome,
            key_id=self.key.key_id,
            version=self.version or None,
            message_sha256=message_sha256,
        )
        self.svc.ctx.audit.record(event)


def _require_p256(key: LoadedKey) -> None:
    if key.curve.name != PAF_CURVE:
        raise BadRequest(
            f"PAF objects are signed with ECDSA P-256; key {key.key_id!r} is {key.curve.name}",
            code="unsupported_key_curve",
        )


def _sign(svc: KeyService, caller: Principal, body: ObjectSignRequest, now: int) -> tuple[SignedObject, int]:
    key = owned(svc.lifecycle.load(body.key_id), caller, body.key_id)
    _require_p256(key)
    signer = _KeySigner(svc, caller, key)
    signed = sign_object(
        body.type,
        body.object,
        sign=signer,
        profile=body.profile,
        context=body.context,
        signer_domain=body.signer_domain,
        timestamp=now if _timestamp_missing(body.type, body.object) else None,
    )
    return signed, signer.version


async def sign(request: Request) -> Response:
    caller = await authenticate(request)
    body = await parse_body(request, ObjectSignRequest)
    now = int(time.time())  # PAF timestamps are seconds since the epoch
    signed, version = await run_in_threadpool(_sign, service(request), caller, body, now)
    return json(
        {
            "object": signed.object,
            "signature_input": signed.signature_input,
            "signature": signed.signature,
            "key_id": body.key_id,
            "version": version,
        }
    )


# --- verify -------------------------------------------------------------------------------------


def _verify_with_key(svc: KeyService, body: ObjectVerifyRequest) -> dict[str, Any]:
    """Try the key's live versions, newest first; a destroyed key cannot verify (409)."""
    assert body.key_id is not None
    key = svc.lifecycle.load(body.key_id)
    if key is None:
        raise NotFound(f"no key {body.key_id!r}")
    candidates = verification_versions(key, None)
    _require_p256(key)
    text = signature_input(body.type, body.object, profile=body.profile, context=body.context)
    for version in candidates:
        if _check(body, version.public_key):
            return {"valid": True, "signature_input": text, "key_id": key.key_id, "version": version.version}
    return {"valid": False, "signature_input": text, "key_id": key.key_id, "version": None}


def _check(body: ObjectVerifyRequest, public_key: PublicKey) -> bool:
    result = verify_object(
        body.type, body.object, public_key=public_key, profile=body.profile, context=body.context
    )
    return result.valid


async def verify(request: Request) -> Response:
    body = await parse_body(request, ObjectVerifyRequest)
    if (body.key_id is None) == (body.public_key is None):
        raise BadRequest("give exactly one of key_id, public_key", code="validation_error")
    if body.key_id is not None:
        return json(await run_in_threadpool(_verify_with_key, service(request), body))
    assert body.public_key is not None
    public = parse_public_key(body.public_key, curve=PAF_CURVE)
    result = verify_object(
        body.type, body.object, public_key=public, profile=body.profile, context=body.context
    )
    return json({"valid": result.valid, "signature_input": result.signature_input})


_TYPES_HELP = (
    f"Types: {', '.join(OBJECT_TYPES)}. Profiles: {', '.join(ALL_PROFILES)} (default {DEFAULT_PROFILE}). "
    "See docs/objects.md for each rule and the context it reads."
)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/objects/sign",
        sign,
        "Sign a PAF object with one of your P-256 keys (signature = base64 raw r||s)",
        "objects",
        body=ObjectSignRequest,
        response=ObjectSignResponse,
        errors=(404, 409),
        description="Fills the signature, the signer domain (signer_domain) and, when the object has "
        "none, the timestamp (seconds, from the server clock). " + _TYPES_HELP,
    ),
    Endpoint(
        "POST",
        "/v1/objects/verify",
        verify,
        "Verify a PAF object with a key id or a P-256 public key (no token)",
        "objects",
        auth=AUTH_NONE,
        body=ObjectVerifyRequest,
        response=ObjectVerifyResponse,
        errors=(404, 409),
        description="Accepts raw r||s (64 bytes) and DER signatures. A signature that does not verify is "
        "200 {valid: false}; only malformed requests are 4xx. " + _TYPES_HELP,
    ),
]
