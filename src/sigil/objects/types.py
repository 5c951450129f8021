"""The PAF object types and their signature rules, per profile.

Sources (facts only, re-expressed in :mod:`sigil.objects.rules` form):

- specification: OneKey-Network/addressability-framework ``mvp-spec/json-schemas/*.json``, the
  "Signature based on input" text of each ``source`` / ``signature`` property;
- implementation: OneKey-Network/OneKey-implementation ``paf-mvp-core-js/src/signing-definition/``
  (``identifier-``, ``ids-prefs-``, ``request-``, ``response-``, ``seed-`` and
  ``transmission-result-signing-definition.ts``).

``docs/objects.md`` has the same rules as a table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sigil.errors import UnknownObjectType
from sigil.objects.profiles import ALL_PROFILES, IMPLEMENTATION, LEGACY, PREBINDING, SPEC
from sigil.objects.rules import Each, Entries, Field, RequestContext, Rule


@dataclass(frozen=True)
class ObjectType:
    """One signed PAF object type.

    ``signature_path``, ``domain_path`` and ``timestamp_path`` say where the signature, the
    signer's domain and the signing time live in the object. ``wrapper`` names the key under which
    the redirect form of a request carries the request (``{"returnUrl": ..., "request": {...}}``).
    ``context`` lists what the rule reads from the caller's context, for help texts.
    """

    name: str
    signature_path: str
    domain_path: str
    timestamp_path: str
    rules: Mapping[str, Rule]
    context: str = ""
    wrapper: str | None = None

    def rule(self, profile: str) -> Rule:
        return self.rules[profile]


def _every_profile(rule: Rule) -> dict[str, Rule]:
    return dict.fromkeys(ALL_PROFILES, rule)


def _rule(*parts: Field | Each | Entries | RequestContext) -> Rule:
    return Rule(tuple(parts))


# --- identity: identifier, preferences ----------------------------------------------------------

_DOMAIN = Field("source.domain")
_TIME = Field("source.timestamp", "int")

IDENTIFIER = ObjectType(
    name="identifier",
    signature_path="source.signature",
    domain_path="source.domain",
    timestamp_path="source.timestamp",
    rules=_every_profile(_rule(_DOMAIN, _TIME, Field("type"), Field("value"))),
)

_PAF_ID_SIGNATURE = Field("identifiers[type=paf_browser_id].source.signature", context=True)

PREFERENCES = ObjectType(
    name="preferences",
    signature_path="source.signature",
    domain_path="source.domain",
    timestamp_path="source.timestamp",
    rules={
        SPEC: _rule(_DOMAIN, _TIME, _PAF_ID_SIGNATURE, Entries("data", "text")),
        IMPLEMENTATION: _rule(_DOMAIN, _TIME, _PAF_ID_SIGNATURE, Entries("data", "json")),
        LEGACY: _rule(_DOMAIN, _TIME, _PAF_ID_SIGNATURE, Entries("data", "json")),
        PREBINDING: _rule(_DOMAIN, _TIME, Entries("data", "json")),
    },
    context="identifiers: the identifier objects (the paf_browser_id one's signature is signed)",
)

# --- transmission: seed, transmission request / response / result --------------------------------

SEED = ObjectType(
    name="seed",
    signature_path="source.signature",
    domain_path="source.domain",
    timestamp_path="source.timestamp",
    rules=_every_profile(
        _rule(
            _DOMAIN,
            _TIME,
            Field("transaction_ids[*]"),
            Field("publisher"),
            Field("identifiers[*].source.signature", context=True),
            Field("preferences.source.signature", context=True),
        )
    ),
    context="identifiers and preferences: the PAF data the seed was made for",
)


def _transmission_rule(seed_signature: Field) -> Rule:
    return _rule(
        Field("receiver"),
        Field("status"),
        _DOMAIN,
        _TIME,
        seed_signature,
        Each("contents", ("transaction_id", "content_id")),
    )


def _transmission(name: str, seed_signature: Field, context: str) -> ObjectType:
    return ObjectType(
        name=name,
        signature_path="source.signature",
        domain_path="source.domain",
        timestamp_path="source.timestamp",
        rules=_every_profile(_transmission_rule(seed_signature)),
        context=context,
    )


TRANSMISSION_REQUEST = _transmission("transmission_request", Field("seed.source.signature"), "")
TRANSMISSION_RESPONSE = _transmission(
    "transmission_response",
    Field("seed.source.signature", context=True),
    "seed: the seed object the transmission is for",
)
TRANSMISSION_RESULT = _transmission(
    "transmission_result",
    Field("seed.source.signature", context=True),
    "seed: the seed object the transmission is for",
)

# --- operator API messages -----------------------------------------------------------------------

_SENDER = Field("sender")
_RECEIVER = Field("receiver")
_TIMESTAMP = Field("timestamp", "int")
_PREFS = Field("body.preferences.source.signature")
_IDS = Field("body.identifiers[*].source.signature")
_PREFS_OPT = Field("body.preferences.source.signature", optional="body.preferences")
_IDS_OPT = Field("body.identifiers[*].source.signature", optional="body.identifiers")
_WHERE = RequestContext()

_REQUEST_CONTEXT = "origin (REST call) or referer and return_url (redirect); not read by legacy"


def _message(name: str, rules: Mapping[str, Rule], *, request: bool) -> ObjectType:
    return ObjectType(
        name=name,
        signature_path="signature",
        domain_path="sender",
        timestamp_path="timestamp",
        rules=rules,
        context=_REQUEST_CONTEXT if request else "",
        wrapper="request" if request else None,
    )


def _bodyless_request(name: str, *, spec_has_context: bool) -> ObjectType:
    spec = (_SENDER, _RECEIVER, _TIMESTAMP, _WHERE) if spec_has_context else (_SENDER, _RECEIVER, _TIMESTAMP)
    rules = {
        SPEC: _rule(*spec),
        IMPLEMENTATION: _rule(_SENDER, _RECEIVER, _TIMESTAMP, _WHERE),
        LEGACY: _rule(_SENDER, _RECEIVER, _TIMESTAMP),
        PREBINDING: _rule(_SENDER, _RECEIVER, _TIMESTAMP),
    }
    return _message(name, rules, request=True)


def _response(name: str, *, spec: Rule) -> ObjectType:
    implementation = _rule(_SENDER, _RECEIVER, _PREFS_OPT, _IDS_OPT, _TIMESTAMP)
    rules = {SPEC: spec, IMPLEMENTATION: implementation, LEGACY: implementation, PREBINDING: implementation}
    return _message(name, rules, request=False)


GET_IDS_PREFS_REQUEST = _bodyless_request("get_ids_prefs_request", spec_has_context=True)
GET_NEW_ID_REQUEST = _bodyless_request("get_new_id_request", spec_has_context=False)
DELETE_IDS_PREFS_REQUEST = _bodyless_request("delete_ids_prefs_request", spec_has_context=False)

POST_IDS_PREFS_REQUEST = _message(
    "post_ids_prefs_request",
    {
        SPEC: _rule(_SENDER, _RECEIVER, _TIMESTAMP, _PREFS, _IDS, _WHERE),
        IMPLEMENTATION: _rule(_SENDER, _RECEIVER, _PREFS_OPT, _IDS_OPT, _TIMESTAMP, _WHERE),
        LEGACY: _rule(_SENDER, _RECEIVER, _PREFS_OPT, _IDS_OPT, _TIMESTAMP),
        PREBINDING: _rule(_SENDER, _RECEIVER, _PREFS_OPT, _IDS_OPT, _TIMESTAMP),
    },
    request=True,
)

_SPEC_RESPONSE = _rule(_SENDER, _RECEIVER, _TIMESTAMP, _PREFS_OPT, _IDS_OPT)
GET_IDS_PREFS_RESPONSE = _response("get_ids_prefs_response", spec=_SPEC_RESPONSE)
POST_IDS_PREFS_RESPONSE = _response("post_ids_prefs_response", spec=_SPEC_RESPONSE)
GET_NEW_ID_RESPONSE = _response("get_new_id_response", spec=_rule(_SENDER, _RECEIVER, _TIMESTAMP, _IDS))
DELETE_IDS_PREFS_RESPONSE = _response("delete_ids_prefs_response", spec=_rule(_SENDER, _RECEIVER, _TIMESTAMP))

# --- registry ----------------------------------------------------------------------------------

REGISTRY: Final[Mapping[str, ObjectType]] = {
    t.name: t
    for t in (
        IDENTIFIER,
        PREFERENCES,
        SEED,
        TRANSMISSION_REQUEST,
        TRANSMISSION_RESPONSE,
        TRANSMISSION_RESULT,
        GET_IDS_PREFS_REQUEST,
        GET_IDS_PREFS_RESPONSE,
        POST_IDS_PREFS_REQUEST,
        POST_IDS_PREFS_RESPONSE,
        GET_NEW_ID_REQUEST,
        GET_NEW_ID_RESPONSE,
        DELETE_IDS_PREFS_REQUEST,
        DELETE_IDS_PREFS_RESPONSE,
    )
}

OBJECT_TYPES: Final[tuple[str, ...]] = tuple(REGISTRY)


def get_type(type_name: object) -> ObjectType:
    """The :class:`ObjectType` called ``type_name``, else :class:`~sigil.errors.UnknownObjectType`."""
    if not isinstance(type_name, str) or type_name not in REGISTRY:
        raise UnknownObjectType(f"unknown object type {type_name!r}; known types: {', '.join(OBJECT_TYPES)}")
    return REGISTRY[type_name]
