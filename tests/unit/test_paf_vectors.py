"""The published PAF / OneKey example files give the outcome vectors/paf/README.md states.

Vectors live in ``<repo>/../shared/vectors/paf`` unless ``SIGIL_VECTORS_DIR`` names the directory
holding ``paf/``. Every file of ``spec-partials/`` is covered below (``test_every_file_is_covered``).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from sigil.crypto.ecdsa import PublicKey
from sigil.objects import signature_input, verify_object

REPO = Path(__file__).resolve().parents[2]
VECTORS = Path(os.environ.get("SIGIL_VECTORS_DIR", REPO.parent / "shared" / "vectors")) / "paf"
PARTIALS = VECTORS / "spec-partials"
SEP = "\u2063"

pytestmark = pytest.mark.skipif(not PARTIALS.is_dir(), reason=f"PAF vectors not found at {VECTORS}")


def load_public_key(pem: str) -> PublicKey:
    try:
        from sigil.crypto.keys import parse_public_key
    except ImportError:  # the key-format module may land after this one; same key either way
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        backend_key = load_pem_public_key(pem.encode())
        return PublicKey.from_cryptography(backend_key)  # type: ignore[arg-type]
    return parse_public_key(pem)


def key(name: str) -> PublicKey:
    files = {"operator": "crto-poc-1-operator-public-key.pem", "cmp": "pafpublisher-client-public-key.pem"}
    return load_public_key((VECTORS / "keys" / files[name]).read_text())


def read(name: str) -> Any:
    return json.loads((PARTIALS / name).read_text())


def first(name: str) -> Callable[[], Any]:
    return lambda: read(name)[0]


def whole(name: str) -> Callable[[], Any]:
    return lambda: read(name)


def identifier_in(name: str) -> Callable[[], Any]:
    return lambda: read(name)["body"]["identifiers"][0]


ID_CONTEXT = {"identifiers": [{"type": "paf_browser_id", "source": {"signature": ""}}]}
RETURN_URL = "https://advertiser.com/news/2022/02/07/something-crazy-happened?utm_content=campaign%20content"
REST = {"origin": "https://cmp.com"}
REDIRECT = {"referer": "https://advertiser.com/news/2022/02/07/something-crazy-happened"}


@dataclass(frozen=True)
class Case:
    """One expected outcome: the object from ``file`` (via ``load``) verifies (or not) with ``key``."""

    file: str
    type_name: str
    load: Callable[[], Any]
    profile: str
    key: str
    valid: bool
    context: dict[str, Any] | None = field(default=None)

    @property
    def id(self) -> str:
        outcome = "valid" if self.valid else "invalid"
        return f"{self.file}-{self.type_name}-{self.profile}-{self.key}-{outcome}"


def _id_context() -> dict[str, Any]:
    return {"identifiers": [read("id.json")]}


def _identifier_cases() -> list[Case]:
    sources = [
        ("id.json", whole("id.json")),
        ("ids_cookie-pretty.json", first("ids_cookie-pretty.json")),
        ("ids_cookie.txt", first("ids_cookie.txt")),
        ("unpersistedId.json", whole("unpersistedId.json")),
        ("getNewIdResponse.json", identifier_in("getNewIdResponse.json")),
        ("getIdsPrefsResponse_unknown.json", identifier_in("getIdsPrefsResponse_unknown.json")),
        ("getIdsPrefsResponse_known.json", identifier_in("getIdsPrefsResponse_known.json")),
        ("postIdsPrefsRequest.json", identifier_in("postIdsPrefsRequest.json")),
    ]
    cases = [
        Case(file, "identifier", load, profile, "operator", True)
        for file, load in sources
        for profile in ("spec", "implementation", "legacy")
    ]
    cases += [Case(file, "identifier", load, "implementation", "cmp", False) for file, load in sources]
    return cases


def _preferences_cases() -> list[Case]:
    files = ["preferences.json", "preferences_cookie-pretty.json", "preferences_cookie.txt"]
    cases = [
        # Predates the identifier binding (2022-03-21): invalid under every current rule ...
        Case(f, "preferences", whole(f), profile, "cmp", False, _id_context())
        for f in files
        for profile in ("spec", "implementation", "legacy")
    ]
    # ... and valid under the historical pre-binding rule, with the cmp key only.
    cases += [Case(f, "preferences", whole(f), "prebinding", "cmp", True) for f in files]
    cases += [Case(f, "preferences", whole(f), "prebinding", "operator", False) for f in files]
    return cases


def _response_cases() -> list[Case]:
    cases = []
    # get-new-id response: signed by the operator key, timestamp after the identifier signature.
    for profile in ("implementation", "legacy"):
        cases.append(
            Case(
                "getNewIdResponse.json",
                "get_new_id_response",
                whole("getNewIdResponse.json"),
                profile,
                "operator",
                True,
            )
        )
    cases.append(
        Case(
            "getNewIdResponse.json",
            "get_new_id_response",
            whole("getNewIdResponse.json"),
            "spec",
            "operator",
            False,
        )
    )
    cases.append(
        Case(
            "getNewIdResponse.json",
            "get_new_id_response",
            whole("getNewIdResponse.json"),
            "implementation",
            "cmp",
            False,
        )
    )
    # Generator quirk: these say the operator sent them, but the client (cmp) key signed them.
    for file, type_name in [
        ("getIdsPrefsResponse_known.json", "get_ids_prefs_response"),
        ("getIdsPrefsResponse_unknown.json", "get_ids_prefs_response"),
        ("postIdsPrefsResponse.json", "post_ids_prefs_response"),
        ("deleteIdsPrefsResponse.json", "delete_ids_prefs_response"),
    ]:
        cases.append(Case(file, type_name, whole(file), "implementation", "cmp", True))
        cases.append(Case(file, type_name, whole(file), "legacy", "cmp", True))
        cases.append(Case(file, type_name, whole(file), "implementation", "operator", False))
    return cases


def _request_cases() -> list[Case]:
    cases = []
    legacy_only = [
        ("getIdsPrefsRequest.json", "get_ids_prefs_request", REST),
        ("getNewIdRequest.json", "get_new_id_request", REST),
        ("redirectGetIdsPrefsRequest.json", "get_ids_prefs_request", REDIRECT),
        ("postIdsPrefsRequest.json", "post_ids_prefs_request", REST),
        ("redirectPostIdsPrefsRequest.json", "post_ids_prefs_request", REDIRECT),
    ]
    for file, type_name, context in legacy_only:
        cases.append(Case(file, type_name, whole(file), "legacy", "cmp", True))
        cases.append(Case(file, type_name, whole(file), "legacy", "operator", False))
        cases.append(Case(file, type_name, whole(file), "implementation", "cmp", False, context))
        # The spec's get-new-id request text has no origin/referer, so it matches the legacy input.
        spec_valid = type_name == "get_new_id_request"
        cases.append(Case(file, type_name, whole(file), "spec", "cmp", spec_valid, context))
    delete = "deleteIdsPrefsRequest.json"
    origin = {"origin": RETURN_URL}
    cases.append(
        Case(delete, "delete_ids_prefs_request", whole(delete), "implementation", "operator", False, origin)
    )
    cases.append(Case(delete, "delete_ids_prefs_request", whole(delete), "legacy", "cmp", False))
    return cases


CASES = _identifier_cases() + _preferences_cases() + _response_cases() + _request_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vector_outcome(case: Case) -> None:
    result = verify_object(
        case.type_name, case.load(), public_key=key(case.key), profile=case.profile, context=case.context
    )
    assert result.valid is case.valid


def delete_request_origin() -> str:
    """The origin deleteIdsPrefsRequest.json was signed with (the README's guess is wrong).

    The generator (OneKey-implementation ``paf-mvp-demo-express/scripts/generate-examples.ts``) keeps
    ``originalAdvertiserUrl`` as one ``URL`` object and passes it to ``getRedirectUrl(url, response)``
    for the redirect-response examples, which sets ``url.searchParams`` in place. By the time the
    delete request was signed with ``{origin: originalAdvertiserUrl.toString()}``, the URL carried
    ``paf`` = base64 of ``{"code":200,"response":<postIdsPrefsResponse.json>}``, and URLSearchParams
    had re-encoded ``%20`` as ``+``. The same string is the ``returnUrl`` of OneKey's
    ``redirectDeleteIdsPrefsRequest.json`` (addressability-framework commit 7ab649c).
    """
    redirect_response = {"code": 200, "response": read("postIdsPrefsResponse.json")}
    paf = base64.b64encode(json.dumps(redirect_response, separators=(",", ":")).encode()).decode()
    base = RETURN_URL.split("?")[0]
    return f"{base}?{urlencode({'utm_content': 'campaign content', 'paf': paf})}"


def test_delete_request_verifies_with_the_generators_origin() -> None:
    obj = read("deleteIdsPrefsRequest.json")
    origin = delete_request_origin()
    assert origin.startswith(RETURN_URL.replace("%20", "+") + "&paf=eyJjb2RlIjoyMDAs")
    result = verify_object("delete_ids_prefs_request", obj, public_key=key("cmp"), context={"origin": origin})
    assert result.valid
    assert result.signature_input == SEP.join(
        ["cmp.com", "operator.paf-operation-domain.io", "1643041140", origin]
    )


def test_delete_request_does_not_verify_with_the_readmes_origin() -> None:
    obj = read("deleteIdsPrefsRequest.json")
    result = verify_object(
        "delete_ids_prefs_request", obj, public_key=key("cmp"), context={"origin": RETURN_URL}
    )
    assert not result.valid


def test_every_file_is_covered() -> None:
    covered = {c.file for c in CASES} | {"getIdentityResponse_cmp.json", "getIdentityResponse_operator.json"}
    assert {p.name for p in PARTIALS.iterdir()} == covered


@pytest.mark.parametrize(
    ("file", "name"),
    [("getIdentityResponse_operator.json", "operator"), ("getIdentityResponse_cmp.json", "cmp")],
)
def test_identity_documents_publish_the_same_keys(file: str, name: str) -> None:
    published = load_public_key(read(file)["keys"][0]["key"])
    assert published == key(name)


# --- the inputs the README spells out ------------------------------------------------------------


def test_identifier_input() -> None:
    expected = SEP.join(
        [
            "operator.paf-operation-domain.io",
            "1642504380",
            "paf_browser_id",
            "7435313e-caee-4889-8ad7-0acd0114ae3c",
        ]
    )
    assert signature_input("identifier", read("id.json")) == expected


def test_unpersisted_identifier_input_ignores_persisted_and_version() -> None:
    expected = SEP.join(
        [
            "operator.paf-operation-domain.io",
            "1643041140",
            "paf_browser_id",
            "2e71121a-4feb-4a34-b7d1-839587d36390",
        ]
    )
    assert signature_input("identifier", read("unpersistedId.json")) == expected


def test_preferences_inputs_before_and_after_binding() -> None:
    prefs = read("preferences.json")
    id_signature = read("id.json")["source"]["signature"]
    assert signature_input("preferences", prefs, profile="prebinding") == SEP.join(
        ["cmp.com", "1642504560", "use_browsing_for_personalization", "true"]
    )
    bound = SEP.join(["cmp.com", "1642504560", id_signature, "use_browsing_for_personalization", "true"])
    for profile in ("spec", "implementation", "legacy"):
        assert signature_input("preferences", prefs, profile=profile, context=_id_context()) == bound


def test_delete_request_input_with_origin() -> None:
    expected = SEP.join(["cmp.com", "operator.paf-operation-domain.io", "1643041140", RETURN_URL])
    text = signature_input(
        "delete_ids_prefs_request", read("deleteIdsPrefsRequest.json"), context={"origin": RETURN_URL}
    )
    assert text == expected


def test_delete_response_input() -> None:
    expected = SEP.join(["operator.paf-operation-domain.io", "advertiser.com", "1643041150"])
    assert signature_input("delete_ids_prefs_response", read("deleteIdsPrefsResponse.json")) == expected


def test_known_response_input_puts_timestamp_last() -> None:
    response = read("getIdsPrefsResponse_known.json")
    body = response["body"]
    expected = SEP.join(
        [
            "operator.paf-operation-domain.io",
            "advertiser.com",
            body["preferences"]["source"]["signature"],
            body["identifiers"][0]["source"]["signature"],
            "1643041150",
        ]
    )
    assert signature_input("get_ids_prefs_response", response) == expected


def test_redirect_request_takes_return_url_from_the_wrapper() -> None:
    text = signature_input("get_ids_prefs_request", read("redirectGetIdsPrefsRequest.json"), context=REDIRECT)
    assert text.split(SEP)[-2:] == [REDIRECT["referer"], RETURN_URL]
