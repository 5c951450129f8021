"""``ObjectsClient``: PAF signed data objects over HTTP (``/v1/objects/sign``, ``/v1/objects/verify``).

>>> with ObjectsClient() as sigil:                        # SIGIL_URL / SIGIL_TOKEN
...     signed = sigil.sign("identifier", identifier, key_id="key_...")
...     assert sigil.verify("identifier", signed.object, key_id="key_...").valid
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sigil.client.base import BaseClient


@dataclass(frozen=True, slots=True)
class SignedObjectResult:
    """The object with its signature (and signer domain / timestamp) filled in."""

    object: dict[str, Any]
    signature_input: str
    signature: str | None = None
    key_id: str | None = None
    version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class VerifiedObjectResult:
    valid: bool
    signature_input: str
    key_id: str | None = None
    version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _object_fields(
    type_name: str, obj: Mapping[str, Any], profile: str | None, context: Mapping[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_name, "object": dict(obj)}
    if profile is not None:
        body["profile"] = profile
    if context is not None:
        body["context"] = dict(context)
    return body


class ObjectsClient(BaseClient):
    """Synchronous SDK for PAF objects; errors are :class:`~sigil.client.ApiError` and friends."""

    def sign(
        self,
        type_name: str,
        obj: Mapping[str, Any],
        *,
        key_id: str,
        profile: str | None = None,
        context: Mapping[str, Any] | None = None,
        signer_domain: str | None = None,
    ) -> SignedObjectResult:
        body = _object_fields(type_name, obj, profile, context)
        body["key_id"] = key_id
        if signer_domain is not None:
            body["signer_domain"] = signer_domain
        out = self.post("/v1/objects/sign", body)
        return SignedObjectResult(
            object=out["object"],
            signature_input=out["signature_input"],
            signature=out.get("signature"),
            key_id=out.get("key_id"),
            version=out.get("version"),
        )

    def verify(
        self,
        type_name: str,
        obj: Mapping[str, Any],
        *,
        key_id: str | None = None,
        public_key: str | Mapping[str, Any] | None = None,
        profile: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> VerifiedObjectResult:
        """Exactly one of ``key_id`` or ``public_key`` (PEM, JWK or SEC1 hex of a P-256 key)."""
        if (key_id is None) == (public_key is None):
            raise ValueError("give exactly one of key_id, public_key")
        body = _object_fields(type_name, obj, profile, context)
        if key_id is not None:
            body["key_id"] = key_id
        else:
            body["public_key"] = public_key if isinstance(public_key, str) else dict(public_key or {})
        out = self.post("/v1/objects/verify", body)
        return VerifiedObjectResult(
            valid=bool(out["valid"]),
            signature_input=out["signature_input"],
            key_id=out.get("key_id"),
            version=out.get("version"),
        )
