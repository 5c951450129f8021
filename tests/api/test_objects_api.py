"""PAF signed objects over HTTP: /v1/objects/sign and /v1/objects/verify against a real server.

- every published example (``../shared/vectors/paf``) gives the outcome its README states, with the
  published public keys passed as PEM;
- sign -> verify round trips for every object type with the service's own keys;
- a whole audit chain (identifier -> preferences -> seed -> transmission responses -> results), each
  link signed by a different key of the service, verified end to end, and every single-field change
  failing exactly the links that signed over that field;
- bad input is a clear problem+json 4xx, never a 500, and changes nothing.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigil.crypto.keys import parse_public_key
from sigil.objects import ChainLink, signature_input, verify_chain, verify_object
from support.server import ServerProcess

REPO = Path(__file__).resolve().parents[2]
VECTORS = Path(os.environ.get("SIGIL_VECTORS_DIR", REPO.parent / "shared" / "vectors")) / "paf"
PARTIALS = VECTORS / "spec-partials"
SEP = "\u2063"
RETURN_URL = "https://advertiser.com/news/2022/02/07/something-crazy-happened?utm_content=campaign%20content"
REST = {"origin": "https://cmp.com"}
REDIRECT = {"referer": "https://advertiser.com/news/2022/02/07/something-crazy-happened"}
PROBLEM = "application/problem+json"


# --- helpers ------------------------------------------------------------------------------------


def read(name: str) -> Any:
    return json.loads((PARTIALS / name).read_text())


def pem(name: str) -> str:
    files = {"operator": "crto-poc-1-operator-public-key.pem", "cmp": "pafpublisher-client-public-key.pem"}
    return (VECTORS / "keys" / files[name]).read_text()


def problem(response: httpx.Response, status: int, code: str | None = None, what: str = "") -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status`` (and ``code``) and a readable detail."""
    assert response.status_code == status, (what, response.text)
    assert response.headers["content-type"].startswith(PROBLEM), what
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"], (what, body)
    if code is not None:
        assert body["code"] == code, (what, body)
    return body


def new_principal(server: ServerProcess) -> str:
    """A fresh principal's token."""
    with server.client(server.admin_token) as admin:
        r = admin.post("/v1/tokens", json={"name": "objects-" + os.urandom(6).hex()})
        assert r.status_code == 201, r.text
        return str(r.json()["token"])


def create_key(api: httpx.Client, curve: str = "P-256") -> dict[str, Any]:
    r = api.post("/v1/keys", json={"curve": curve})
    assert r.status_code == 201, r.text
    return dict(r.json())


def sign(api: httpx.Client, type_name: str, obj: Any, key_id: str, **extra: Any) -> dict[str, Any]:
    r = api.post("/v1/objects/sign", json={"type": type_name, "object": obj, "key_id": key_id, **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


def verify(client: httpx.Client, type_name: str, obj: Any, **extra: Any) -> dict[str, Any]:
    r = client.post("/v1/objects/verify", json={"type": type_name, "object": obj, **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


def audit_entries(server: ServerProcess, key_id: str) -> list[dict[str, Any]]:
    """Every audit entry about ``key_id`` (the admin endpoint flushes the queue first)."""
    entries: list[dict[str, Any]] = []
    after = 0
    with server.client(server.admin_token) as admin:
        while True:
            r = admin.get("/v1/audit", params={"after": after, "limit": 1000})
            assert r.status_code == 200, r.text
            page = r.json()["entries"]
            entries += [e for e in page if e["key_id"] == key_id]
            if len(page) < 1000:
                return entries
            after = page[-1]["seq"]


# --- published vectors ----------------------------------------------------------------------------

vectors_present = pytest.mark.skipif(not PARTIALS.is_dir(), reason=f"PAF vectors not found at {VECTORS}")


@dataclass(frozen=True)
class Vector:
    file: str
    type_name: str
    profile: str
    key: str
    valid: bool
    context: dict[str, Any] | None = None
    pick: Callable[[Any], Any] = field(default=lambda doc: doc)

    @property
    def id(self) -> str:
        return (
            f"{self.file}-{self.type_name}-{self.profile}-{self.key}-{'valid' if self.valid else 'invalid'}"
        )


def _first(doc: Any) -> Any:
    return doc[0]


def _body_identifier(doc: Any) -> Any:
    return doc["body"]["identifiers"][0]


def _identifier_vectors() -> list[Vector]:
    sources: list[tuple[str, Callable[[Any], Any]]] = [
        ("id.json", lambda d: d),
        ("ids_cookie-pretty.json", _first),
        ("ids_cookie.txt", _first),
        ("unpersistedId.json", lambda d: d),
        ("getNewIdResponse.json", _body_identifier),
        ("getIdsPrefsResponse_unknown.json", _body_identifier),
        ("getIdsPrefsResponse_known.json", _body_identifier),
        ("postIdsPrefsRequest.json", _body_identifier),
    ]
    out = [
        Vector(f, "identifier", p, "operator", True, pick=pick)
        for f, pick in sources
        for p in ("spec", "implementation", "legacy")
    ]
    return out + [Vector(f, "identifier", "implementation", "cmp", False, pick=pick) for f, pick in sources]


def _preferences_vectors() -> list[Vector]:
    files = ["preferences.json", "preferences_cookie-pretty.json", "preferences_cookie.txt"]
    bound = {"identifiers": [read("id.json")]} if PARTIALS.is_dir() else {}
    out = [
        Vector(f, "preferences", p, "cmp", False, bound)
        for f in files
        for p in ("spec", "implementation", "legacy")
    ]
    out += [Vector(f, "preferences", "prebinding", "cmp", True) for f in files]
    return out + [Vector(f, "preferences", "prebinding", "operator", False) for f in files]


def _response_vectors() -> list[Vector]:
    new_id = "getNewIdResponse.json"
    out = [
        Vector(new_id, "get_new_id_response", "implementation", "operator", True),
        Vector(new_id, "get_new_id_response", "legacy", "operator", True),
        Vector(new_id, "get_new_id_response", "spec", "operator", False),
        Vector(new_id, "get_new_id_response", "implementation", "cmp", False),
    ]
    cmp_signed = [
        ("getIdsPrefsResponse_known.json", "get_ids_prefs_response"),
        ("getIdsPrefsResponse_unknown.json", "get_ids_prefs_response"),
        ("postIdsPrefsResponse.json", "post_ids_prefs_response"),
        ("deleteIdsPrefsResponse.json", "delete_ids_prefs_response"),
    ]
    for f, t in cmp_signed:  # generator quirk: "sent by the operator", signed with the cmp key
        out += [
            Vector(f, t, "implementation", "cmp", True),
            Vector(f, t, "legacy", "cmp", True),
            Vector(f, t, "implementation", "operator", False),
        ]
    return out


def _request_vectors() -> list[Vector]:
    legacy_only = [
        ("getIdsPrefsRequest.json", "get_ids_prefs_request", REST),
        ("getNewIdRequest.json", "get_new_id_request", REST),
        ("redirectGetIdsPrefsRequest.json", "get_ids_prefs_request", REDIRECT),
        ("postIdsPrefsRequest.json", "post_ids_prefs_request", REST),
        ("redirectPostIdsPrefsRequest.json", "post_ids_prefs_request", REDIRECT),
    ]
    out: list[Vector] = []
    for f, t, ctx in legacy_only:
        out += [
            Vector(f, t, "legacy", "cmp", True),
            Vector(f, t, "legacy", "operator", False),
            Vector(f, t, "implementation", "cmp", False, ctx),
            # the spec's get-new-id request text has no origin/referer: it is the legacy input
            Vector(f, t, "spec", "cmp", t == "get_new_id_request", ctx),
        ]
    delete = "deleteIdsPrefsRequest.json"
    out += [
        Vector(
            delete, "delete_ids_prefs_request", "implementation", "operator", False, {"origin": RETURN_URL}
        ),
        Vector(delete, "delete_ids_prefs_request", "legacy", "cmp", False),
    ]
    return out


VECTORS_TABLE = _identifier_vectors() + _preferences_vectors() + _response_vectors() + _request_vectors()


@vectors_present
@pytest.mark.parametrize("vector", VECTORS_TABLE, ids=[v.id for v in VECTORS_TABLE])
def test_vector_outcome(anon: httpx.Client, vector: Vector) -> None:
    obj = vector.pick(read(vector.file))
    extra: dict[str, Any] = {"profile": vector.profile, "public_key": pem(vector.key)}
    if vector.context is not None:
        extra["context"] = vector.context
    out = verify(anon, vector.type_name, obj, **extra)
    assert out["valid"] is vector.valid
    assert out["signature_input"] == signature_input(
        vector.type_name, obj, profile=vector.profile, context=vector.context
    )


def delete_request_origin() -> str:
    """The origin deleteIdsPrefsRequest.json was really signed with (not the README's guess): the
    generator's ``originalAdvertiserUrl`` after ``getRedirectUrl`` had set ``paf`` on it in place
    (see tests/unit/test_paf_vectors.py and docs/objects.md)."""
    redirect_response = {"code": 200, "response": read("postIdsPrefsResponse.json")}
    paf = base64.b64encode(json.dumps(redirect_response, separators=(",", ":")).encode()).decode()
    return f"{RETURN_URL.split('?')[0]}?{urlencode({'utm_content': 'campaign content', 'paf': paf})}"


@vectors_present
def test_delete_request_vector_verifies_with_the_generators_origin(anon: httpx.Client) -> None:
    origin = delete_request_origin()
    obj = read("deleteIdsPrefsRequest.json")
    out = verify(anon, "delete_ids_prefs_request", obj, public_key=pem("cmp"), context={"origin": origin})
    assert out == {
        "valid": True,
        "signature_input": SEP.join(["cmp.com", "operator.paf-operation-domain.io", "1643041140", origin]),
    }
    # the README's inferred origin (the example return URL as written) does not verify
    readme = verify(
        anon, "delete_ids_prefs_request", obj, public_key=pem("cmp"), context={"origin": RETURN_URL}
    )
    assert readme["valid"] is False


@vectors_present
def test_every_vector_file_is_covered() -> None:
    covered = {v.file for v in VECTORS_TABLE} | {
        "getIdentityResponse_cmp.json",
        "getIdentityResponse_operator.json",
    }
    assert {p.name for p in PARTIALS.iterdir()} == covered


@vectors_present
@pytest.mark.parametrize("form", ["pem", "jwk", "hex"])
def test_vector_verifies_with_every_public_key_form(anon: httpx.Client, form: str) -> None:
    key = parse_public_key(pem("operator"))
    from sigil.crypto.keys import public_key_hex, public_key_jwk, public_key_pem

    value: Any = {"pem": public_key_pem, "jwk": public_key_jwk, "hex": public_key_hex}[form](key)
    assert verify(anon, "identifier", read("id.json"), public_key=value)["valid"] is True


@vectors_present
def test_der_vector_verifies_and_raw_reencoding_too(anon: httpx.Client) -> None:
    """deleteIdsPrefsResponse.json is DER; the same signature as raw r||s verifies as well."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    doc = read("deleteIdsPrefsResponse.json")
    der = base64.b64decode(doc["signature"])
    assert len(der) != 64
    r, s = decode_dss_signature(der)
    raw = {**doc, "signature": base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()}
    for obj in (doc, raw):
        assert verify(anon, "delete_ids_prefs_response", obj, public_key=pem("cmp"))["valid"] is True


# --- round trips with the service's keys ------------------------------------------------------------

IDENTIFIER = {"version": "0.1", "type": "paf_browser_id", "value": "0b7a2b7c-2a3f-4a4a-9e1c-1d2c3b4a5f60"}
SIGNED_ID = {
    **IDENTIFIER,
    "source": {"domain": "op.example", "timestamp": 1700000000, "signature": "aWQtc2ln"},
}
SIGNED_PREFS = {
    "version": "0.1",
    "data": {"use_browsing_for_personalization": True},
    "source": {"domain": "cmp.example", "timestamp": 1700000001, "signature": "cHJlZnMtc2ln"},
}
SIGNED_SEED = {
    "version": "0.1",
    "transaction_ids": ["tx-1", "tx-2"],
    "publisher": "pub.example",
    "source": {"domain": "pub.example", "timestamp": 1700000002, "signature": "c2VlZC1zaWc="},
}
CONTENTS = [{"transaction_id": "tx-1", "content_id": "c-1"}, {"transaction_id": "tx-2", "content_id": "c-2"}]
IDS_PREFS_BODY = {"identifiers": [SIGNED_ID], "preferences": SIGNED_PREFS}


def _transmission(domain: str, **more: Any) -> dict[str, Any]:
    return {
        "version": "0.1",
        "receiver": "dsp.example",
        "status": "success",
        "contents": CONTENTS,
        "source": {"domain": domain},
        **more,
    }


# (type, unsigned object, context): the object has no timestamp, so the server's clock fills it.
ROUND_TRIPS: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("identifier", {**IDENTIFIER, "source": {"domain": "op.example"}}, None),
    (
        "preferences",
        {
            "version": "0.1",
            "data": {"use_browsing_for_personalization": False},
            "source": {"domain": "cmp.example"},
        },
        {"identifiers": [SIGNED_ID]},
    ),
    (
        "seed",
        {
            "version": "0.1",
            "transaction_ids": ["tx-1"],
            "publisher": "pub.example",
            "source": {"domain": "pub.example"},
        },
        {"identifiers": [SIGNED_ID], "preferences": SIGNED_PREFS},
    ),
    ("transmission_request", _transmission("pub.example", seed=SIGNED_SEED), None),
    ("transmission_response", _transmission("ssp.example"), {"seed": SIGNED_SEED}),
    ("transmission_result", _transmission("ssp.example"), {"seed": SIGNED_SEED}),
    ("get_ids_prefs_request", {"sender": "cmp.example", "receiver": "op.example"}, REST),
    (
        "get_ids_prefs_response",
        {"sender": "op.example", "receiver": "cmp.example", "body": IDS_PREFS_BODY},
        None,
    ),
    (
        "post_ids_prefs_request",
        {"sender": "cmp.example", "receiver": "op.example", "body": IDS_PREFS_BODY},
        REST,
    ),
    (
        "post_ids_prefs_response",
        {"sender": "op.example", "receiver": "cmp.example", "body": IDS_PREFS_BODY},
        None,
    ),
    ("get_new_id_request", {"sender": "cmp.example", "receiver": "op.example"}, REST),
    (
        "get_new_id_response",
        {"sender": "op.example", "receiver": "cmp.example", "body": {"identifiers": [SIGNED_ID]}},
        None,
    ),
    ("delete_ids_prefs_request", {"sender": "cmp.example", "receiver": "op.example"}, REST),
    ("delete_ids_prefs_response", {"sender": "op.example", "receiver": "cmp.example"}, None),
]


def test_round_trips_cover_every_type() -> None:
    from sigil.objects import OBJECT_TYPES

    assert sorted(t for t, _, _ in ROUND_TRIPS) == sorted(OBJECT_TYPES)


@pytest.fixture
def p256(api: httpx.Client) -> dict[str, Any]:
    return create_key(api)


@pytest.mark.parametrize("profile", ["spec", "implementation", "legacy"])
@pytest.mark.parametrize(
    ("type_name", "unsigned", "context"), ROUND_TRIPS, ids=[t for t, _, _ in ROUND_TRIPS]
)
def test_sign_then_verify(
    api: httpx.Client,
    anon: httpx.Client,
    p256: dict[str, Any],
    type_name: str,
    unsigned: dict[str, Any],
    context: dict[str, Any] | None,
    profile: str,
) -> None:
    before = int(time.time())
    extra: dict[str, Any] = {"profile": profile, **({"context": context} if context else {})}
    out = sign(api, type_name, unsigned, p256["key_id"], **extra)
    signed = out["object"]
    assert out["key_id"] == p256["key_id"] and out["version"] == 1
    assert out["signature_input"] == signature_input(type_name, signed, profile=profile, context=context)
    raw = base64.b64decode(out["signature"], validate=True)
    assert len(out["signature"]) == 88 and len(raw) == 64  # the PAF format: base64 raw r||s
    stamped = signed["timestamp"] if "sender" in signed else signed["source"]["timestamp"]
    assert before <= stamped <= int(time.time()) + 1
    assert unsigned.get("source", {}).get("timestamp") is None  # the request's object is not echoed mutated

    by_key = verify(anon, type_name, signed, key_id=p256["key_id"], **extra)
    by_pem = verify(anon, type_name, signed, public_key=p256["public_key_pem"], **extra)
    assert by_key == {**by_pem, "key_id": p256["key_id"], "version": 1}
    assert by_pem == {"valid": True, "signature_input": out["signature_input"]}
    # ... and independently of the server, with the published public key
    local = verify_object(
        type_name,
        signed,
        public_key=parse_public_key(p256["public_key_pem"]),
        profile=profile,
        context=context,
    )
    assert local.valid


def test_sign_keeps_a_given_timestamp_and_fills_the_domain(api: httpx.Client, p256: dict[str, Any]) -> None:
    obj = {**IDENTIFIER, "source": {"timestamp": 1642504380}}
    out = sign(api, "identifier", obj, p256["key_id"], signer_domain="operator.example")
    assert out["object"]["source"]["timestamp"] == 1642504380
    assert out["object"]["source"]["domain"] == "operator.example"
    assert out["signature_input"].split(SEP)[:2] == ["operator.example", "1642504380"]


def test_sign_redirect_request(api: httpx.Client, anon: httpx.Client, p256: dict[str, Any]) -> None:
    obj = {"returnUrl": RETURN_URL, "request": {"sender": "cmp.example", "receiver": "op.example"}}
    out = sign(api, "get_ids_prefs_request", obj, p256["key_id"], context=REDIRECT)
    signed = out["object"]
    assert signed["returnUrl"] == RETURN_URL and len(base64.b64decode(signed["request"]["signature"])) == 64
    assert out["signature_input"].split(SEP)[-2:] == [REDIRECT["referer"], RETURN_URL]
    assert verify(anon, "get_ids_prefs_request", signed, key_id=p256["key_id"], context=REDIRECT)["valid"]
    other = {"referer": "https://elsewhere.example/"}
    assert not verify(anon, "get_ids_prefs_request", signed, key_id=p256["key_id"], context=other)["valid"]


def test_sign_is_audited(any_server: ServerProcess, api: httpx.Client, p256: dict[str, Any]) -> None:
    out = sign(api, "identifier", {**IDENTIFIER, "source": {"domain": "op.example"}}, p256["key_id"])
    entries = [e for e in audit_entries(any_server, p256["key_id"]) if e["action"] == "objects.sign"]
    assert len(entries) == 1
    assert entries[0]["outcome"] == "ok" and entries[0]["version"] == 1
    assert entries[0]["message_sha256"] == hashlib.sha256(out["signature_input"].encode()).hexdigest()


def test_rotated_key_verifies_old_and_new(
    api: httpx.Client, anon: httpx.Client, p256: dict[str, Any]
) -> None:
    key_id = p256["key_id"]
    first = sign(api, "identifier", {**IDENTIFIER, "source": {"domain": "op.example"}}, key_id)
    assert api.post(f"/v1/keys/{key_id}/rotate").status_code == 200
    second = sign(api, "identifier", {**IDENTIFIER, "source": {"domain": "op.example"}}, key_id)
    assert second["version"] == 2
    assert verify(anon, "identifier", first["object"], key_id=key_id)["version"] == 1
    assert verify(anon, "identifier", second["object"], key_id=key_id)["version"] == 2


def test_disabled_key_cannot_sign_but_still_verifies(
    api: httpx.Client, anon: httpx.Client, p256: dict[str, Any]
) -> None:
    key_id = p256["key_id"]
    signed = sign(api, "identifier", {**IDENTIFIER, "source": {"domain": "op.example"}}, key_id)["object"]
    assert api.post(f"/v1/keys/{key_id}/disable").status_code == 200
    r = api.post("/v1/objects/sign", json={"type": "identifier", "object": signed, "key_id": key_id})
    problem(r, 409, "key_disabled")
    assert verify(anon, "identifier", signed, key_id=key_id)["valid"] is True


# --- the audit chain ----------------------------------------------------------------------------

CHAIN_DOMAINS = {
    "identifier": "operator.example",
    "preferences": "cmp.example",
    "seed": "publisher.example",
    "response-ssp": "ssp.example",
    "response-dsp": "dsp.example",
    "result-ssp": "ssp-audit.example",
    "result-dsp": "dsp-audit.example",
}


@dataclass
class Chain:
    links: list[ChainLink]
    keys: dict[str, Any]  # domain -> PublicKey
    key_ids: dict[str, str]  # label -> key_id


def _link(label: str, type_name: str, obj: dict[str, Any]) -> ChainLink:
    return ChainLink(type_name, obj, label=label)


def build_chain(api: httpx.Client) -> Chain:
    """Sign the whole chain through the API, each link with its own key."""
    key_ids = {label: create_key(api)["key_id"] for label in CHAIN_DOMAINS}
    assert len(set(key_ids.values())) == len(CHAIN_DOMAINS)

    def signed(label: str, type_name: str, obj: dict[str, Any], context: dict[str, Any] | None = None) -> Any:
        extra = {"signer_domain": CHAIN_DOMAINS[label], **({"context": context} if context else {})}
        return sign(api, type_name, obj, key_ids[label], **extra)["object"]

    identifier = signed("identifier", "identifier", dict(IDENTIFIER))
    prefs = signed(
        "preferences",
        "preferences",
        {"version": "0.1", "data": {"use_browsing_for_personalization": True}},
        {"identifiers": [identifier]},
    )
    seed = signed(
        "seed",
        "seed",
        {"version": "0.1", "transaction_ids": ["tx-1", "tx-2"], "publisher": "publisher.example"},
        {"identifiers": [identifier], "preferences": prefs},
    )
    links = [_link("identifier", "identifier", identifier), _link("preferences", "preferences", prefs)]
    links.append(_link("seed", "seed", seed))
    for label, type_name in [
        ("response-ssp", "transmission_response"),
        ("response-dsp", "transmission_response"),
        ("result-ssp", "transmission_result"),
        ("result-dsp", "transmission_result"),
    ]:
        body = {"version": "0.1", "receiver": "publisher.example", "status": "success", "contents": CONTENTS}
        links.append(_link(label, type_name, signed(label, type_name, body, {"seed": seed})))
    keys = {}
    for label, key_id in key_ids.items():
        public = api.get(f"/v1/keys/{key_id}/public").json()["versions"][-1]["public_key_pem"]
        keys[CHAIN_DOMAINS[label]] = parse_public_key(public)
    return Chain(links, keys, key_ids)


@pytest.fixture
def chain(api: httpx.Client) -> Chain:
    return build_chain(api)


TRANSMISSIONS = ("response-ssp", "response-dsp", "result-ssp", "result-dsp")
# Which other links sign over a link's signature (docs/objects.md, "Audit chain").
BOUND_BY = {"identifier": ("preferences", "seed"), "preferences": ("seed",), "seed": TRANSMISSIONS}


def leaves(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, (*prefix, i))
    else:
        yield prefix


def mutated(obj: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    value = node[path[-1]]
    if isinstance(value, bool):
        node[path[-1]] = not value
    elif isinstance(value, int):
        node[path[-1]] = value + 1
    elif path[-1] == "signature":  # still valid base64 and 64 bytes: a wrong signature, not bad input
        raw = bytearray(base64.b64decode(value))
        raw[-1] ^= 1
        node[path[-1]] = base64.b64encode(bytes(raw)).decode()
    else:
        node[path[-1]] = value + "x"
    return out


def expected_failures(label: str, path: tuple[Any, ...]) -> set[str]:
    """The links a change at ``label``'s ``path`` must break, from the rules (not from the code)."""
    if path == ("version",):
        return set()  # not part of any signature input
    failed = {label}
    if path == ("source", "signature"):
        failed |= set(BOUND_BY.get(label, ()))
    if label == "identifier" and path == ("type",):
        failed.add("preferences")  # preferences bind the paf_browser_id identifier's signature
    return failed


def test_chain_verifies_end_to_end(chain: Chain) -> None:
    report = verify_chain(chain.links, chain.keys)
    assert report.valid, report
    assert [r.label for r in report.links] == list(CHAIN_DOMAINS)
    assert [r.key for r in report.links] == list(CHAIN_DOMAINS.values())


def test_chain_verifies_link_by_link_through_the_api(chain: Chain, anon: httpx.Client) -> None:
    by_label = {link.label: link for link in chain.links}
    identifier, prefs, seed = (by_label[n].object for n in ("identifier", "preferences", "seed"))
    contexts: dict[str, dict[str, Any] | None] = {
        "identifier": None,
        "preferences": {"identifiers": [identifier]},
        "seed": {"identifiers": [identifier], "preferences": prefs},
        **{label: {"seed": seed} for label in TRANSMISSIONS},
    }
    for label, link in by_label.items():
        ctx = contexts[label]
        extra = {"context": ctx} if ctx else {}
        assert verify(anon, link.type_name, link.object, key_id=chain.key_ids[label], **extra)["valid"], label
        others = [k for name, k in chain.key_ids.items() if name != label]
        assert not verify(anon, link.type_name, link.object, key_id=others[0], **extra)["valid"], label


def test_every_single_field_change_fails_exactly_the_affected_links(chain: Chain) -> None:
    checked = 0
    for index, link in enumerate(chain.links):
        assert link.label is not None
        for path in leaves(link.object):
            links = list(chain.links)
            links[index] = ChainLink(link.type_name, mutated(dict(link.object), path), label=link.label)
            report = verify_chain(links, chain.keys)
            assert set(report.failed) == expected_failures(link.label, path), (link.label, path, report)
            checked += 1
    assert checked > 50  # every leaf of the seven links


def test_changed_seed_signature_is_reported_by_the_api_for_every_transmission(
    chain: Chain, anon: httpx.Client
) -> None:
    seed = next(link.object for link in chain.links if link.label == "seed")
    bad_seed = mutated(dict(seed), ("source", "signature"))
    assert not verify(anon, "seed", bad_seed, key_id=chain.key_ids["seed"], context=_seed_context(chain))[
        "valid"
    ]
    for link in chain.links:
        if link.label in TRANSMISSIONS:
            out = verify(
                anon,
                link.type_name,
                link.object,
                key_id=chain.key_ids[link.label],
                context={"seed": bad_seed},
            )
            assert out["valid"] is False, link.label


def _seed_context(chain: Chain) -> dict[str, Any]:
    by_label = {link.label: link.object for link in chain.links}
    return {"identifiers": [by_label["identifier"]], "preferences": by_label["preferences"]}


# --- bad input ----------------------------------------------------------------------------------

GOOD_ID = {**IDENTIFIER, "source": {"domain": "op.example", "timestamp": 1700000000}}


def _bad_sign_bodies(key_id: str) -> list[tuple[str, Any, int, str]]:
    base = {"type": "identifier", "object": GOOD_ID, "key_id": key_id}
    no_value = {**GOOD_ID}
    del no_value["value"]
    return [
        ("missing type", {k: v for k, v in base.items() if k != "type"}, 422, "validation_error"),
        ("missing object", {k: v for k, v in base.items() if k != "object"}, 422, "validation_error"),
        ("missing key_id", {k: v for k, v in base.items() if k != "key_id"}, 422, "validation_error"),
        ("unknown field", {**base, "extra": 1}, 422, "validation_error"),
        ("object is a list", {**base, "object": [GOOD_ID]}, 422, "validation_error"),
        ("type is a number", {**base, "type": 3}, 422, "validation_error"),
        ("context is a string", {**base, "context": "x"}, 422, "validation_error"),
        ("unknown type", {**base, "type": "cookie"}, 422, "unknown_object_type"),
        ("unknown profile", {**base, "profile": "v2"}, 422, "unknown_profile"),
        ("missing field in object", {**base, "object": no_value}, 422, "missing_field"),
        (
            "string timestamp",
            {**base, "object": {**GOOD_ID, "source": {"domain": "d", "timestamp": "1"}}},
            422,
            "wrong_field_type",
        ),
        ("value is a number", {**base, "object": {**GOOD_ID, "value": 7}}, 422, "wrong_field_type"),
        ("source is a list", {**base, "object": {**GOOD_ID, "source": []}}, 422, "wrong_field_type"),
        (
            "request context missing",
            {**base, "type": "get_new_id_request", "object": {"sender": "a", "receiver": "b"}},
            422,
            "missing_field",
        ),
        (
            "preferences without identifiers",
            {**base, "type": "preferences", "object": {"data": {"a": 1}, "source": {"domain": "d"}}},
            422,
            "missing_field",
        ),
        ("bad signer_domain", {**base, "signer_domain": 5}, 422, "validation_error"),
        ("unknown key", {**base, "key_id": "key_doesnotexist"}, 404, "not_found"),
    ]


def test_bad_sign_requests_are_clear_4xx_and_change_nothing(
    any_server: ServerProcess, api: httpx.Client, p256: dict[str, Any]
) -> None:
    keys_before = api.get("/v1/keys").json()
    for name, body, status, code in _bad_sign_bodies(p256["key_id"]):
        problem(api.post("/v1/objects/sign", json=body), status, code, name)
    problem(api.post("/v1/objects/sign", content=b"{not json"), 400, "malformed_body")
    problem(api.post("/v1/objects/sign", content=b"[]"), 400, "malformed_body")
    assert api.get("/v1/keys").json() == keys_before
    assert [e for e in audit_entries(any_server, p256["key_id"]) if e["action"] == "objects.sign"] == []


def test_sign_needs_a_token_and_your_own_key(
    any_server: ServerProcess, api: httpx.Client, anon: httpx.Client, p256: dict[str, Any]
) -> None:
    body = {"type": "identifier", "object": GOOD_ID, "key_id": p256["key_id"]}
    problem(anon.post("/v1/objects/sign", json=body), 401, "unauthorized")
    with any_server.client("sgl_not-a-real-token") as bad:
        problem(bad.post("/v1/objects/sign", json=body), 401)
    with any_server.client(new_principal(any_server)) as stranger:
        problem(stranger.post("/v1/objects/sign", json=body), 404, "not_found")
    assert [e for e in audit_entries(any_server, p256["key_id"]) if e["action"] == "objects.sign"] == []


@pytest.mark.parametrize("curve", ["P-384", "secp256k1"])
def test_sign_needs_a_p256_key(api: httpx.Client, curve: str) -> None:
    key = create_key(api, curve)
    r = api.post("/v1/objects/sign", json={"type": "identifier", "object": GOOD_ID, "key_id": key["key_id"]})
    problem(r, 422, "unsupported_key_curve")
    r = api.post(
        "/v1/objects/verify", json={"type": "identifier", "object": GOOD_ID, "key_id": key["key_id"]}
    )
    problem(r, 422, "unsupported_key_curve")


def _other_curve_pem(curve: ec.EllipticCurve) -> str:
    return (
        ec.generate_private_key(curve)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _bad_verify_bodies(signed: dict[str, Any], key_pem: str) -> list[tuple[str, Any, int, str]]:
    base = {"type": "identifier", "object": signed, "public_key": key_pem}
    point = parse_public_key(key_pem).sec1()
    return [
        (
            "non-base64 signature",
            {**base, "object": {**signed, "source": {**signed["source"], "signature": "!!not base64!!"}}},
            422,
            "invalid_encoding",
        ),
        (
            "empty signature",
            {**base, "object": {**signed, "source": {**signed["source"], "signature": ""}}},
            422,
            "missing_field",
        ),
        (
            "signature is a number",
            {**base, "object": {**signed, "source": {**signed["source"], "signature": 5}}},
            422,
            "wrong_field_type",
        ),
        ("no key at all", {k: v for k, v in base.items() if k != "public_key"}, 422, "validation_error"),
        ("both key forms", {**base, "key_id": "key_x"}, 422, "validation_error"),
        ("wrong-size hex key", {**base, "public_key": point[:-1].hex()}, 422, "invalid_public_key"),
        ("short hex key", {**base, "public_key": "04" + "ab" * 16}, 422, "invalid_public_key"),
        (
            "point not on the curve",
            {**base, "public_key": (point[:-1] + bytes([point[-1] ^ 1])).hex()},
            422,
            "invalid_public_key",
        ),
        ("P-384 PEM", {**base, "public_key": _other_curve_pem(ec.SECP384R1())}, 422, "invalid_public_key"),
        (
            "secp256k1 PEM",
            {**base, "public_key": _other_curve_pem(ec.SECP256K1())},
            422,
            "invalid_public_key",
        ),
        (
            "P-384 JWK",
            {**base, "public_key": {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}},
            422,
            "invalid_public_key",
        ),
        (
            "garbage PEM",
            {**base, "public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"},
            422,
            "invalid_public_key",
        ),
        ("unknown type", {**base, "type": "nope"}, 422, "unknown_object_type"),
        ("unknown profile", {**base, "profile": "nope"}, 422, "unknown_profile"),
        ("object is a string", {**base, "object": "x"}, 422, "validation_error"),
        (
            "unknown key id",
            {k: v for k, v in base.items() if k != "public_key"} | {"key_id": "key_nope"},
            404,
            "not_found",
        ),
    ]


def test_bad_verify_requests_are_clear_4xx(
    anon: httpx.Client, api: httpx.Client, p256: dict[str, Any]
) -> None:
    signed = sign(api, "identifier", GOOD_ID, p256["key_id"])["object"]
    for name, body, status, code in _bad_verify_bodies(signed, p256["public_key_pem"]):
        problem(anon.post("/v1/objects/verify", json=body), status, code, name)


@pytest.mark.parametrize(
    "signature", [b"\x30\x06\x02\x01\x01\x02\x01\x01", b"\x00" * 64, b"x" * 70, b"\x01" * 63]
)
def test_malformed_signature_bytes_are_an_answer_not_an_error(
    anon: httpx.Client, p256: dict[str, Any], signature: bytes
) -> None:
    obj = {**GOOD_ID, "source": {**GOOD_ID["source"], "signature": base64.b64encode(signature).decode()}}
    out = verify(anon, "identifier", obj, public_key=p256["public_key_pem"])
    assert out["valid"] is False


def test_openapi_documents_the_object_paths(anon: httpx.Client) -> None:
    spec = anon.get("/openapi.json").json()
    assert "post" in spec["paths"]["/v1/objects/sign"]
    assert "post" in spec["paths"]["/v1/objects/verify"]
