"""The signed-objects domain API: signature input, sign, verify, audit a chain.

Pure: no I/O and no clock (the caller passes ``timestamp``); signing goes through a callable so
the key service (or a test) decides which key signs. PAF signatures are ECDSA P-256 over SHA-256
of the UTF-8 signature input, written as base64 of the 64-byte raw ``r || s``; verification also
accepts DER (the reference implementation switched to ``node:crypto`` DER on 2022-09-01).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sigil.crypto import ecdsa
from sigil.crypto.ecdsa import PublicKey
from sigil.crypto.encoding import b64decode, b64encode
from sigil.errors import BadRequest, InvalidPublicKey, MissingField, WrongFieldType
from sigil.objects.profiles import DEFAULT_PROFILE, check_profile
from sigil.objects.rules import build_input, format_value, json_type, resolve
from sigil.objects.types import ObjectType, get_type

RAW_SIGNATURE_SIZE = 64  # P-256 r || s, 32 bytes each (IEEE P1363)
HASH_NAME = "SHA-256"
CURVE_NAME = "P-256"

Signer = Callable[[bytes], bytes]


@dataclass(frozen=True)
class SignedObject:
    """A copy of the input object with its signature (and signer domain / timestamp) filled."""

    object: dict[str, Any]
    signature_input: str
    signature: str


@dataclass(frozen=True)
class VerifiedObject:
    """``valid`` is the answer; a malformed object raises instead of returning ``valid=False``."""

    valid: bool
    signature_input: str


# --- the object and its context -----------------------------------------------------------------


def _as_object(obj: object, what: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise WrongFieldType(f"{what} must be a JSON object, not {json_type(obj)}")
    return obj


def _is_redirect(object_type: ObjectType, obj: Mapping[str, Any]) -> bool:
    """The redirect form ``{"returnUrl": ..., "request": {...}}`` of a request type."""
    return object_type.wrapper is not None and object_type.wrapper in obj and "sender" not in obj


def _message_and_context(
    object_type: ObjectType, obj: object, context: object
) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """The signed message inside ``obj`` and the context its rule reads.

    For the redirect form, the wrapper's ``returnUrl`` is the context's ``return_url`` unless the
    caller gave one explicitly.
    """
    outer = _as_object(obj, "object")
    ctx = dict(_as_object(context, "context")) if context is not None else {}
    if not _is_redirect(object_type, outer):
        return outer, ctx
    assert object_type.wrapper is not None
    message = _as_object(outer[object_type.wrapper], f"'{object_type.wrapper}'")
    return_url = outer.get("returnUrl")
    if return_url is not None and "return_url" not in ctx and "returnUrl" not in ctx:
        ctx["return_url"] = return_url
    return message, ctx


def signature_input(
    type_name: str,
    obj: Mapping[str, Any],
    *,
    profile: str = DEFAULT_PROFILE,
    context: Mapping[str, Any] | None = None,
) -> str:
    """The exact string a PAF signer signs for ``obj`` (fields joined with U+2063)."""
    object_type = get_type(type_name)
    rule = object_type.rule(check_profile(profile))
    message, ctx = _message_and_context(object_type, obj, context)
    return build_input(rule, message, ctx)


# --- sign ------------------------------------------------------------------------------------------


def _set_path(target: dict[str, Any], path: str, value: object) -> None:
    *parents, last = path.split(".")
    node = target
    for name in parents:
        child = node.get(name)
        if child is None:
            child = {}
            node[name] = child
        elif not isinstance(child, dict):
            raise WrongFieldType(f"'{name}' must be a JSON object, not {json_type(child)}")
        node = child
    node[last] = value


def _plain_copy(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy, so filling fields never touches the caller's object."""
    return copy.deepcopy(dict(obj))


def sign_object(
    type_name: str,
    obj: Mapping[str, Any],
    *,
    sign: Signer,
    profile: str = DEFAULT_PROFILE,
    context: Mapping[str, Any] | None = None,
    signer_domain: str | None = None,
    timestamp: int | None = None,
) -> SignedObject:
    """Fill ``obj``'s signer domain and timestamp (when given), compute its input and sign it.

    ``sign`` receives the UTF-8 signature input and returns the 64-byte raw ``r || s`` ECDSA P-256
    / SHA-256 signature; it is stored as standard base64 (the PAF format).
    """
    object_type = get_type(type_name)
    rule = object_type.rule(check_profile(profile))
    result = _plain_copy(_as_object(obj, "object"))
    if _is_redirect(object_type, result):
        assert object_type.wrapper is not None
        inner = _plain_copy(_as_object(result[object_type.wrapper], f"'{object_type.wrapper}'"))
        result[object_type.wrapper] = inner
    else:
        inner = result
    if signer_domain is not None:
        _set_path(inner, object_type.domain_path, format_value(signer_domain, "str", "signer_domain"))
    if timestamp is not None:
        format_value(timestamp, "int", "timestamp")
        _set_path(inner, object_type.timestamp_path, timestamp)
    message, ctx = _message_and_context(object_type, result, context)
    text = build_input(rule, message, ctx)
    raw = sign(text.encode("utf-8"))
    if not isinstance(raw, bytes) or len(raw) != RAW_SIGNATURE_SIZE:
        raise ValueError("the signer must return a 64-byte raw r||s P-256 signature")
    signature = b64encode(raw)
    _set_path(inner, object_type.signature_path, signature)
    return SignedObject(object=result, signature_input=text, signature=signature)


def private_key_signer(private_key: ecdsa.PrivateKey) -> Signer:
    """A :data:`Signer` over a local P-256 private key (tests, offline CLI)."""
    _check_curve(private_key.curve.name)

    def sign(message: bytes) -> bytes:
        return ecdsa.sign(private_key, message=message, hash_name=HASH_NAME, encoding="raw")

    return sign


# --- verify ----------------------------------------------------------------------------------------


def _check_curve(curve_name: str) -> None:
    if curve_name != CURVE_NAME:
        raise InvalidPublicKey(f"PAF signatures use ECDSA P-256; this key is on {curve_name}")


def _signature_bytes(object_type: ObjectType, message: Mapping[str, Any]) -> bytes:
    [(where, value)] = resolve(message, object_type.signature_path)
    if value is None or value == "":
        raise MissingField(f"missing field '{where}'")
    text = format_value(value, "str", where)
    return b64decode(text)


def verify_object(
    type_name: str,
    obj: Mapping[str, Any],
    *,
    public_key: PublicKey,
    profile: str = DEFAULT_PROFILE,
    context: Mapping[str, Any] | None = None,
) -> VerifiedObject:
    """Recompute ``obj``'s signature input and check its signature with ``public_key``.

    The signature is base64 of raw ``r || s`` (exactly 64 bytes) or of DER (anything else).
    Malformed objects, contexts and non-base64 signatures raise ``BadRequest`` subclasses; a
    signature that decodes but does not verify gives ``valid=False``.
    """
    object_type = get_type(type_name)
    rule = object_type.rule(check_profile(profile))
    _check_curve(public_key.curve.name)
    message, ctx = _message_and_context(object_type, obj, context)
    text = build_input(rule, message, ctx)
    signature = _signature_bytes(object_type, message)
    encoding = "raw" if len(signature) == RAW_SIGNATURE_SIZE else "der"
    valid = ecdsa.verify(
        public_key, signature, message=text.encode("utf-8"), hash_name=HASH_NAME, encoding=encoding
    )
    return VerifiedObject(valid=valid, signature_input=text)


# --- audit chain -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainLink:
    """One signed object of an audit chain.

    ``key`` names the entry of ``keys`` that must have signed it; by default the signer's domain
    (``source.domain``, or ``sender`` for messages), as PAF participants publish keys per domain.
    ``context`` overrides what :func:`verify_chain` derives from the other links.
    """

    type_name: str
    object: Mapping[str, Any]
    label: str | None = None
    key: str | None = None
    profile: str = DEFAULT_PROFILE
    context: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class LinkResult:
    label: str
    type_name: str
    key: str
    valid: bool
    signature_input: str
    reason: str | None = None


@dataclass(frozen=True)
class ChainReport:
    links: tuple[LinkResult, ...] = field(default_factory=tuple)

    @property
    def valid(self) -> bool:
        return all(link.valid for link in self.links)

    @property
    def failed(self) -> tuple[str, ...]:
        """Labels of the links whose signature does not verify, in chain order."""
        return tuple(link.label for link in self.links if not link.valid)


def _chain_context(links: Sequence[ChainLink]) -> dict[str, Any]:
    """What later links read from earlier ones: every identifier, the preferences, the seed."""
    derived: dict[str, Any] = {"identifiers": []}
    for link in links:
        if link.type_name == "identifier":
            derived["identifiers"].append(link.object)
        elif link.type_name in ("preferences", "seed"):
            derived[link.type_name] = link.object
    return derived


_CHAIN_NEEDS: Mapping[str, tuple[str, ...]] = {
    "preferences": ("identifiers",),
    "seed": ("identifiers", "preferences"),
    "transmission_response": ("seed",),
    "transmission_result": ("seed",),
}


def _link_context(link: ChainLink, derived: Mapping[str, Any]) -> dict[str, Any] | None:
    if link.context is not None:
        return dict(link.context)
    needs = _CHAIN_NEEDS.get(link.type_name, ())
    return {name: derived[name] for name in needs if name in derived} if needs else None


def verify_chain(links: Sequence[ChainLink], keys: Mapping[str, PublicKey]) -> ChainReport:
    """Verify every link of an audit chain (identifier -> preferences -> seed -> transmission
    responses -> transmission results) and say, per link, whether its signature verifies.

    Each link's context comes from the other links: preferences bind the identifiers' signatures,
    a seed binds the identifiers and preferences, transmissions bind the seed's signature. So a
    changed field fails its own link's signature, and a changed signature also fails every link
    that signed over it. A link that cannot be checked (a field missing, no key for its signer) is
    reported as failed with the reason; an unknown type or profile still raises.
    """
    derived = _chain_context(links)
    results: list[LinkResult] = []
    for index, link in enumerate(links):
        object_type = get_type(link.type_name)
        check_profile(link.profile)
        label = link.label or f"{index}:{link.type_name}"
        try:
            results.append(_verify_link(object_type, link, label, _link_context(link, derived), keys))
        except BadRequest as exc:  # one malformed link is a finding of the audit, not a crash
            key_name = link.key or "?"
            results.append(
                LinkResult(label, link.type_name, key_name, False, "", f"{exc.code}: {exc.detail}")
            )
    return ChainReport(tuple(results))


def _verify_link(
    object_type: ObjectType,
    link: ChainLink,
    label: str,
    context: Mapping[str, Any] | None,
    keys: Mapping[str, PublicKey],
) -> LinkResult:
    text = signature_input(link.type_name, link.object, profile=link.profile, context=context)
    key_name = link.key
    if key_name is None:
        message, _ = _message_and_context(object_type, link.object, None)
        [(where, value)] = resolve(message, object_type.domain_path)
        key_name = format_value(value, "str", where)
    public_key = keys.get(key_name)
    if public_key is None:
        return LinkResult(label, link.type_name, key_name, False, text, f"no public key for {key_name!r}")
    verified = verify_object(
        link.type_name, link.object, public_key=public_key, profile=link.profile, context=context
    )
    reason = None if verified.valid else "signature does not verify"
    return LinkResult(label, link.type_name, key_name, verified.valid, text, reason)
