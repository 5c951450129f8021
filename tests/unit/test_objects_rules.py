"""sigil.objects: the rule format, every object type under every profile, the audit chain, bad input."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sigil.crypto import ecdsa
from sigil.crypto.curves import P256, get_curve
from sigil.crypto.encoding import b64decode, b64encode
from sigil.errors import (
    BadRequest,
    InvalidEncoding,
    InvalidPublicKey,
    MissingField,
    UnknownObjectType,
    UnknownProfile,
    WrongFieldType,
)
from sigil.objects import (
    ALL_PROFILES,
    OBJECT_TYPES,
    PROFILES,
    ChainLink,
    get_type,
    private_key_signer,
    sign_object,
    signature_input,
    verify_chain,
    verify_object,
)
from sigil.objects.rules import Each, Entries, Field, RequestContext, Rule, build_input, resolve

SEP = "\u2063"
T0 = 1_700_000_000

# --- sample objects (unsigned; the tests sign them) ------------------------------------------------

IDENTIFIER = {
    "version": "0.1",
    "type": "paf_browser_id",
    "value": "4b3c1e8a-0000-4000-8000-000000000001",
    "source": {"domain": "operator.example", "timestamp": T0, "signature": ""},
}
PREFERENCES = {
    "version": "0.1",
    "data": {"use_browsing_for_personalization": True, "label": "news"},
    "source": {"domain": "cmp.example", "timestamp": T0 + 1, "signature": ""},
}
SEED = {
    "version": "0.1",
    "transaction_ids": ["tx-1", "tx-2"],
    "publisher": "publisher.example",
    "source": {"domain": "publisher.example", "timestamp": T0 + 2, "signature": ""},
}


def transmission(
    receiver: str, domain: str, timestamp: int, contents: list[tuple[str, str]]
) -> dict[str, Any]:
    return {
        "version": "0.1",
        "receiver": receiver,
        "contents": [{"transaction_id": t, "content_id": c} for t, c in contents],
        "status": "success",
        "details": "",
        "source": {"domain": domain, "timestamp": timestamp, "signature": ""},
        "children": [],
    }


MESSAGE = {"sender": "cmp.example", "receiver": "operator.example", "timestamp": T0 + 10, "signature": ""}
BODY = {"identifiers": [IDENTIFIER], "preferences": PREFERENCES}
REST = {"origin": "https://cmp.example"}


def sample(type_name: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """An object of ``type_name`` and the context its rule reads (signatures filled by signing)."""
    ident = signed("identifier", IDENTIFIER)
    prefs = signed("preferences", PREFERENCES, context={"identifiers": [ident]})
    seed = signed("seed", SEED, context={"identifiers": [ident], "preferences": prefs})
    body = {"identifiers": [ident], "preferences": prefs}
    if type_name == "identifier":
        return copy.deepcopy(IDENTIFIER), None
    if type_name == "preferences":
        return copy.deepcopy(PREFERENCES), {"identifiers": [ident]}
    if type_name == "seed":
        return copy.deepcopy(SEED), {"identifiers": [ident], "preferences": prefs}
    if type_name == "transmission_request":
        obj = transmission("ssp.example", "publisher.example", T0 + 3, [("tx-1", "slot-a")])
        obj.update(seed=seed, data=body, parents=[])
        return obj, None
    if type_name in ("transmission_response", "transmission_result"):
        return transmission("ssp.example", "ssp.example", T0 + 4, [("tx-1", "slot-a")]), {"seed": seed}
    message = dict(MESSAGE)
    if type_name in ("post_ids_prefs_request", "post_ids_prefs_response"):
        message["body"] = body
    if type_name in ("get_ids_prefs_response",):
        message["body"] = body
    if type_name == "get_new_id_response":
        message["body"] = {"identifiers": [ident]}
    if type_name == "delete_ids_prefs_response":
        message["body"] = {"identifiers": []}
    return message, (dict(REST) if type_name.endswith("_request") else None)


KEYS: dict[str, ecdsa.PrivateKey] = {}


def private_key(name: str) -> ecdsa.PrivateKey:
    if name not in KEYS:
        KEYS[name] = ecdsa.PrivateKey.generate(P256)
    return KEYS[name]


def signed(
    type_name: str,
    obj: dict[str, Any],
    *,
    context: dict[str, Any] | None = None,
    profile: str = "implementation",
    key: str | None = None,
) -> dict[str, Any]:
    signer = private_key(key or type_name)
    return sign_object(
        type_name, obj, sign=private_key_signer(signer), profile=profile, context=context
    ).object


# --- the rule format -------------------------------------------------------------------------------


def test_fields_join_with_invisible_separator_and_write_numbers_in_decimal() -> None:
    rule = Rule((Field("a"), Field("n", "int"), Field("b.c")))
    assert build_input(rule, {"a": "x", "n": 12, "b": {"c": "y"}}, {}) == f"x{SEP}12{SEP}y"


def test_list_fields_expand_in_order() -> None:
    rule = Rule((Field("ids[*].sig"), Each("pairs", ("t", "c"))))
    obj = {"ids": [{"sig": "s1"}, {"sig": "s2"}], "pairs": [{"t": "t1", "c": "c1"}, {"t": "t2", "c": "c2"}]}
    assert build_input(rule, obj, {}) == SEP.join(["s1", "s2", "t1", "c1", "t2", "c2"])


def test_selector_picks_first_matching_item_from_context() -> None:
    rule = Rule((Field("ids[type=paf_browser_id].sig", context=True),))
    ctx = {"ids": [{"type": "other", "sig": "no"}, {"type": "paf_browser_id", "sig": "yes"}]}
    assert build_input(rule, {}, ctx) == "yes"
    with pytest.raises(MissingField, match="paf_browser_id"):
        build_input(rule, {}, {"ids": [{"type": "other", "sig": "no"}]})


def test_entries_text_versus_json() -> None:
    obj = {"data": {"flag": True, "name": "news", "n": 3, "off": False}}
    text = build_input(Rule((Entries("data", "text"),)), obj, {})
    as_json = build_input(Rule((Entries("data", "json"),)), obj, {})
    assert text == SEP.join(["flag", "true", "name", "news", "n", "3", "off", "false"])
    assert as_json == SEP.join(["flag", "true", "name", '"news"', "n", "3", "off", "false"])


def test_optional_prefix_may_be_absent_but_not_what_is_below_it() -> None:
    rule = Rule((Field("body.preferences.source.signature", optional="body.preferences"),))
    assert build_input(rule, {"body": {}}, {}) == ""
    with pytest.raises(MissingField, match=r"body\.preferences\.source"):
        build_input(rule, {"body": {"preferences": {}}}, {})


def test_request_context_origin_or_referer_and_return_url() -> None:
    rule = Rule((Field("a"), RequestContext()))
    assert build_input(rule, {"a": "x"}, {"origin": "https://o"}) == f"x{SEP}https://o"
    redirect = {"referer": "https://r", "return_url": "https://back"}
    assert build_input(rule, {"a": "x"}, redirect) == SEP.join(["x", "https://r", "https://back"])
    with pytest.raises(MissingField, match="origin"):
        build_input(rule, {"a": "x"}, {"referer": "https://r"})


def test_resolve_reports_readable_paths() -> None:
    assert resolve({"a": [{"b": 1}, {"b": 2}]}, "a[*].b") == [("a[0].b", 1), ("a[1].b", 2)]


def test_every_type_has_a_rule_for_every_profile() -> None:
    assert len(OBJECT_TYPES) == 14
    assert PROFILES == ("spec", "implementation", "legacy")
    for name in OBJECT_TYPES:
        assert set(get_type(name).rules) == set(ALL_PROFILES)
        for profile in ALL_PROFILES:
            assert get_type(name).rule(profile).describe()


# --- profile differences ------------------------------------------------------------------------


def test_message_timestamp_position_differs_between_spec_and_implementation() -> None:
    ident = signed("identifier", IDENTIFIER)
    response = dict(MESSAGE, body={"identifiers": [ident]})
    sig = ident["source"]["signature"]
    base = ["cmp.example", "operator.example"]
    assert signature_input("get_new_id_response", response, profile="spec") == SEP.join(
        [*base, str(T0 + 10), sig]
    )
    assert signature_input("get_new_id_response", response) == SEP.join([*base, sig, str(T0 + 10)])


def test_requests_end_with_context_except_under_legacy() -> None:
    base = SEP.join(["cmp.example", "operator.example", str(T0 + 10)])
    assert signature_input("get_ids_prefs_request", MESSAGE, context=REST) == base + SEP + REST["origin"]
    assert signature_input("get_ids_prefs_request", MESSAGE, profile="legacy") == base
    redirect = {"returnUrl": "https://pub.example/page", "request": MESSAGE}
    text = signature_input("get_ids_prefs_request", redirect, context={"referer": "https://pub.example/"})
    assert text == SEP.join([base, "https://pub.example/", "https://pub.example/page"])


def test_preference_values_plain_in_spec_json_in_implementation() -> None:
    ctx = {"identifiers": [dict(IDENTIFIER, source=dict(IDENTIFIER["source"], signature="SIG"))]}
    spec = signature_input("preferences", PREFERENCES, profile="spec", context=ctx)
    impl = signature_input("preferences", PREFERENCES, context=ctx)
    assert spec.endswith(SEP.join(["label", "news"]))
    assert impl.endswith(SEP.join(["label", '"news"']))
    assert "SIG" in impl
    assert "SIG" not in signature_input("preferences", PREFERENCES, profile="prebinding")


# --- sign and verify every type ---------------------------------------------------------------------


@pytest.mark.parametrize("profile", ALL_PROFILES)
@pytest.mark.parametrize("type_name", OBJECT_TYPES)
def test_sign_then_verify_every_type(type_name: str, profile: str) -> None:
    obj, context = sample(type_name)
    key = ecdsa.PrivateKey.generate(P256)
    result = sign_object(type_name, obj, sign=private_key_signer(key), profile=profile, context=context)
    assert len(b64decode(result.signature)) == 64
    assert result.signature_input == signature_input(
        type_name, result.object, profile=profile, context=context
    )
    good = verify_object(
        type_name, result.object, public_key=key.public_key(), profile=profile, context=context
    )
    assert good.valid
    other = ecdsa.PrivateKey.generate(P256).public_key()
    bad = verify_object(type_name, result.object, public_key=other, profile=profile, context=context)
    assert not bad.valid


def test_redirect_request_is_signed_inside_the_wrapper() -> None:
    key = ecdsa.PrivateKey.generate(P256)
    wrapper = {"returnUrl": "https://pub.example/page", "request": dict(MESSAGE)}
    ctx = {"referer": "https://pub.example/"}
    result = sign_object("get_ids_prefs_request", wrapper, sign=private_key_signer(key), context=ctx)
    assert result.object["request"]["signature"] == result.signature
    assert wrapper["request"]["signature"] == ""
    assert verify_object(
        "get_ids_prefs_request", result.object, public_key=key.public_key(), context=ctx
    ).valid
    moved = dict(result.object, returnUrl="https://evil.example/")
    assert not verify_object("get_ids_prefs_request", moved, public_key=key.public_key(), context=ctx).valid


def test_sign_fills_domain_and_timestamp_without_touching_the_input() -> None:
    key = ecdsa.PrivateKey.generate(P256)
    unsigned = {"version": "0.1", "type": "paf_browser_id", "value": "v"}
    result = sign_object(
        "identifier", unsigned, sign=private_key_signer(key), signer_domain="op.example", timestamp=T0
    )
    assert result.object["source"] == {"domain": "op.example", "timestamp": T0, "signature": result.signature}
    assert "source" not in unsigned
    message = sign_object(
        "get_new_id_response",
        dict(MESSAGE, body={"identifiers": []}),
        sign=private_key_signer(key),
        signer_domain="operator.example",
        timestamp=T0 + 99,
    )
    assert message.object["sender"] == "operator.example"
    assert message.object["timestamp"] == T0 + 99


def test_der_signatures_verify_too() -> None:
    key = ecdsa.PrivateKey.generate(P256)
    text = signature_input("identifier", IDENTIFIER)
    der = ecdsa.sign(key, message=text.encode(), hash_name="SHA-256", encoding="der")
    obj = copy.deepcopy(IDENTIFIER)
    obj["source"]["signature"] = b64encode(der)
    assert verify_object("identifier", obj, public_key=key.public_key()).valid


# --- the audit chain -----------------------------------------------------------------------------

CHAIN_KEYS = {
    name: ecdsa.PrivateKey.generate(P256)
    for name in (
        "operator.example",
        "cmp.example",
        "publisher.example",
        "ssp.example",
        "dsp.example",
        "adserver.example",
        "exchange.example",
    )
}


def build_chain() -> list[ChainLink]:
    def sign(type_name: str, obj: dict[str, Any], context: dict[str, Any] | None) -> dict[str, Any]:
        domain = obj["source"]["domain"]
        return sign_object(
            type_name, obj, sign=private_key_signer(CHAIN_KEYS[domain]), context=context
        ).object

    ident = sign("identifier", copy.deepcopy(IDENTIFIER), None)
    prefs = sign("preferences", copy.deepcopy(PREFERENCES), {"identifiers": [ident]})
    seed = sign("seed", copy.deepcopy(SEED), {"identifiers": [ident], "preferences": prefs})
    links = [
        ChainLink("identifier", ident, label="identifier"),
        ChainLink("preferences", prefs, label="preferences"),
        ChainLink("seed", seed, label="seed"),
    ]
    for label, type_name, receiver, domain, contents in [
        ("response-ssp", "transmission_response", "ssp.example", "ssp.example", [("tx-1", "slot-a")]),
        (
            "response-dsp",
            "transmission_response",
            "dsp.example",
            "dsp.example",
            [("tx-1", "slot-a"), ("tx-2", "slot-b")],
        ),
        ("result-adserver", "transmission_result", "ssp.example", "adserver.example", [("tx-1", "ad-7")]),
        ("result-exchange", "transmission_result", "dsp.example", "exchange.example", [("tx-2", "ad-9")]),
    ]:
        obj = sign(type_name, transmission(receiver, domain, T0 + 5, contents), {"seed": seed})
        links.append(ChainLink(type_name, obj, label=label))
    return links


PUBLIC_KEYS = {name: key.public_key() for name, key in CHAIN_KEYS.items()}
AFTER_SEED = {"seed", "response-ssp", "response-dsp", "result-adserver", "result-exchange"}

MUTATIONS: list[tuple[str, str, set[str]]] = [
    # preferences bind the identifier of type paf_browser_id: with the type changed there is none.
    ("identifier", "type", {"identifier", "preferences"}),
    ("identifier", "value", {"identifier"}),
    ("identifier", "source.domain", {"identifier"}),
    ("identifier", "source.timestamp", {"identifier"}),
    ("identifier", "source.signature", {"identifier", "preferences", "seed"}),
    ("identifier", "version", set()),  # not signed (PAF: version and persisted are outside the input)
    ("preferences", "data.use_browsing_for_personalization", {"preferences"}),
    ("preferences", "data.label", {"preferences"}),
    ("preferences", "source.timestamp", {"preferences"}),
    ("preferences", "source.signature", {"preferences", "seed"}),
    ("seed", "transaction_ids.1", {"seed"}),
    ("seed", "publisher", {"seed"}),
    ("seed", "source.timestamp", {"seed"}),
    ("seed", "source.signature", AFTER_SEED),
    ("response-ssp", "receiver", {"response-ssp"}),
    ("response-ssp", "status", {"response-ssp"}),
    ("response-ssp", "source.timestamp", {"response-ssp"}),
    ("response-ssp", "source.signature", {"response-ssp"}),
    ("response-dsp", "contents.1.content_id", {"response-dsp"}),
    ("response-dsp", "contents.0.transaction_id", {"response-dsp"}),
    ("result-adserver", "status", {"result-adserver"}),
    ("result-adserver", "contents.0.content_id", {"result-adserver"}),
    ("result-exchange", "receiver", {"result-exchange"}),
    ("result-exchange", "source.signature", {"result-exchange"}),
]


def mutate(obj: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    node: Any = obj
    for name in parents:
        node = node[int(name)] if isinstance(node, list) else node[name]
    index: Any = int(last) if isinstance(node, list) else last
    value = node[index]
    if path.endswith("signature"):
        node[index] = b64encode(bytes(range(64)))
    elif isinstance(value, bool):
        node[index] = not value
    elif isinstance(value, int):
        node[index] = value + 1
    else:
        node[index] = value + "x"


def test_chain_verifies_end_to_end() -> None:
    report = verify_chain(build_chain(), PUBLIC_KEYS)
    assert report.valid
    assert report.failed == ()
    assert len(report.links) == 7
    assert len({link.key for link in report.links}) == 7  # seven different signers


@pytest.mark.parametrize(("label", "path", "expected"), MUTATIONS, ids=[f"{m[0]}.{m[1]}" for m in MUTATIONS])
def test_chain_reports_exactly_the_affected_signatures(label: str, path: str, expected: set[str]) -> None:
    links = build_chain()
    for i, link in enumerate(links):
        if link.label == label:
            obj = copy.deepcopy(dict(link.object))
            mutate(obj, path)
            links[i] = ChainLink(link.type_name, obj, label=link.label)
    report = verify_chain(links, PUBLIC_KEYS)
    assert set(report.failed) == expected
    assert report.valid is (not expected)


def test_chain_reports_unknown_signer() -> None:
    keys = {k: v for k, v in PUBLIC_KEYS.items() if k != "dsp.example"}
    report = verify_chain(build_chain(), keys)
    assert report.failed == ("response-dsp",)
    [failed] = [link for link in report.links if not link.valid]
    assert failed.reason is not None and "dsp.example" in failed.reason


# --- bad input -------------------------------------------------------------------------------------


def test_chain_reports_a_malformed_link_with_its_reason() -> None:
    links = build_chain()
    broken = copy.deepcopy(dict(links[2].object))
    del broken["publisher"]
    links[2] = ChainLink("seed", broken, label="seed")
    report = verify_chain(links, PUBLIC_KEYS)
    assert report.failed == ("seed",)
    assert "missing_field" in (report.links[2].reason or "")


def test_unknown_type_and_profile() -> None:
    with pytest.raises(UnknownObjectType):
        signature_input("cookie", IDENTIFIER)
    with pytest.raises(UnknownProfile):
        signature_input("identifier", IDENTIFIER, profile="newest")
    with pytest.raises(UnknownProfile):
        signature_input("identifier", IDENTIFIER, profile=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("type_name", "obj", "context", "error"),
    [
        (
            "identifier",
            {"type": "paf_browser_id", "source": {"domain": "d", "timestamp": 1}},
            None,
            MissingField,
        ),
        ("identifier", dict(IDENTIFIER, source={"domain": "d", "timestamp": "1"}), None, WrongFieldType),
        ("identifier", dict(IDENTIFIER, source={"domain": "d", "timestamp": True}), None, WrongFieldType),
        ("identifier", dict(IDENTIFIER, value=42), None, WrongFieldType),
        ("identifier", dict(IDENTIFIER, source="x"), None, WrongFieldType),
        ("identifier", ["not", "an", "object"], None, WrongFieldType),
        ("preferences", PREFERENCES, None, MissingField),
        ("preferences", PREFERENCES, {"identifiers": "x"}, WrongFieldType),
        ("preferences", PREFERENCES, {"identifiers": [{"type": "other"}]}, MissingField),
        ("preferences", dict(PREFERENCES, data={}), {"identifiers": [IDENTIFIER]}, MissingField),
        ("preferences", dict(PREFERENCES, data={"k": {"nested": 1}}), {"identifiers": [IDENTIFIER]}, None),
        (
            "seed",
            dict(SEED, transaction_ids="tx-1"),
            {"identifiers": [], "preferences": PREFERENCES},
            WrongFieldType,
        ),
        ("transmission_result", transmission("r", "d", 1, [("t", "c")]), None, MissingField),
        ("get_ids_prefs_request", MESSAGE, None, MissingField),
        ("get_ids_prefs_request", MESSAGE, {"origin": 7}, WrongFieldType),
        ("post_ids_prefs_request", dict(MESSAGE, body={"identifiers": [{}]}), REST, MissingField),
        ("get_ids_prefs_request", MESSAGE, "origin", WrongFieldType),
    ],
)
def test_malformed_objects_raise(
    type_name: str, obj: Any, context: Any, error: type[BadRequest] | None
) -> None:
    if error is None:  # a nested preference value is JSON-encoded, not an error
        signature_input(type_name, obj, context=context)
        return
    with pytest.raises(error) as raised:
        signature_input(type_name, obj, context=context)
    assert isinstance(raised.value, BadRequest)
    assert raised.value.detail


@pytest.mark.parametrize("signature", ["not base64!", "ab$d", "=abc", 12, ""])
def test_bad_signature_values(signature: Any) -> None:
    obj = copy.deepcopy(IDENTIFIER)
    obj["source"]["signature"] = signature
    key = ecdsa.PrivateKey.generate(P256).public_key()
    expected = {12: WrongFieldType, "": MissingField}.get(signature, InvalidEncoding)
    with pytest.raises(expected):
        verify_object("identifier", obj, public_key=key)


def test_wrong_length_signature_is_invalid_not_an_error() -> None:
    obj = copy.deepcopy(IDENTIFIER)
    obj["source"]["signature"] = b64encode(bytes(63))
    assert not verify_object("identifier", obj, public_key=private_key("x").public_key()).valid


def test_key_on_another_curve_is_rejected() -> None:
    obj = signed("identifier", IDENTIFIER)
    p384 = ecdsa.PrivateKey.generate(get_curve("P-384")).public_key()
    with pytest.raises(InvalidPublicKey, match="P-256"):
        verify_object("identifier", obj, public_key=p384)


@pytest.mark.parametrize("size", [32, 63, 64, 66])
def test_wrong_size_public_key_is_rejected(size: int) -> None:
    keys = pytest.importorskip("sigil.crypto.keys")
    with pytest.raises(InvalidPublicKey):
        keys.parse_public_key((b"\x04" + bytes(size)).hex(), curve="P-256")


def test_signer_must_return_raw_signature() -> None:
    with pytest.raises(ValueError, match="64-byte"):
        sign_object("identifier", IDENTIFIER, sign=lambda message: b"\x30" * 70)
