"""``sigil objects sign|verify``: PAF signed data objects.

``sign`` sends the object to the server, which signs it with one of your P-256 keys and fills the
signature (and the timestamp when the object has none); the signed object is printed. ``verify
--key`` asks the server; ``verify --public-key PEM_FILE`` works offline with ``sigil.objects`` and
``sigil.crypto``. FILE may be ``-`` for stdin. A file holding a JSON array (an identifiers cookie)
verifies when every item does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from sigil.cli.output import JsonOption, describe_error, fail, print_json, print_plain
from sigil.cli.sign import load_public_key, report_validity
from sigil.client.base import ClientError
from sigil.client.objects import ObjectsClient

app = typer.Typer(
    help="Sign and verify PAF (Prebid Addressability Framework) data objects.", no_args_is_help=True
)

FileArg = typer.Argument(..., help="JSON file holding the object ('-' for stdin).")
TypeOption = typer.Option(..., "--type", "-t", help="Object type, e.g. identifier, preferences, seed.")
ProfileOption = typer.Option(None, "--profile", help="spec | implementation (default) | legacy | prebinding.")
ContextOption = typer.Option(
    None,
    "--context",
    "-c",
    dir_okay=False,
    help="JSON file with the rule's context (origin, identifiers, seed).",
)


@contextmanager
def objects_client() -> Iterator[ObjectsClient]:
    """An ``ObjectsClient`` from ``SIGIL_URL``/``SIGIL_TOKEN``; SDK errors become clean exits."""
    try:
        with ObjectsClient() as client:
            yield client
    except ClientError as exc:
        fail(describe_error(exc))


def read_json(path: Path, what: str) -> Any:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what} {path} is not valid JSON: {exc.msg} (line {exc.lineno})")


def read_object(path: Path) -> dict[str, Any]:
    value = read_json(path, "object file")
    if not isinstance(value, dict):
        fail(f"{path} must hold one JSON object")
    return value


def read_objects(path: Path) -> list[dict[str, Any]]:
    """One object, or every object of a JSON array (e.g. an identifiers cookie)."""
    value = read_json(path, "object file")
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, dict) for item in items):
        fail(f"{path} must hold a JSON object or a non-empty array of objects")
    return items


def read_context(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    value = read_json(path, "context file")
    if not isinstance(value, dict):
        fail(f"context file {path} must hold one JSON object")
    return value


# --- sign ---------------------------------------------------------------------------------------


@app.command("sign")
def sign(
    file: Path = FileArg,
    type_name: str = TypeOption,
    key_id: str = typer.Option(..., "--key", "-k", help="Your P-256 key to sign with."),
    profile: str | None = ProfileOption,
    context: Path | None = ContextOption,
    signer_domain: str | None = typer.Option(
        None, "--domain", help="Fill the signer domain (source.domain or sender) with this."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Sign the object in FILE on the server; print the signed object."""
    obj = read_object(file)
    ctx = read_context(context)
    with objects_client() as client:
        result = client.sign(
            type_name, obj, key_id=key_id, profile=profile, context=ctx, signer_domain=signer_domain
        )
    if as_json:
        print_json(result.to_dict())
    else:
        print_plain(json.dumps(result.object, indent=2, ensure_ascii=False))


# --- verify -------------------------------------------------------------------------------------


def verify_offline(
    type_name: str,
    items: list[dict[str, Any]],
    pem_file: Path,
    profile: str | None,
    ctx: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """Check every item with ``sigil.objects`` and a local public key: no server involved."""
    from sigil.errors import SigilError
    from sigil.objects import DEFAULT_PROFILE, verify_object

    public_key = load_public_key(pem_file)
    try:
        results = [
            verify_object(
                type_name, item, public_key=public_key, profile=profile or DEFAULT_PROFILE, context=ctx
            )
            for item in items
        ]
    except SigilError as exc:
        fail(f"{exc.detail} [{exc.code}]")
    return [{"valid": r.valid, "signature_input": r.signature_input} for r in results]


def verify_remote(
    type_name: str,
    items: list[dict[str, Any]],
    key_id: str,
    profile: str | None,
    ctx: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    with objects_client() as client:
        return [
            client.verify(type_name, item, key_id=key_id, profile=profile, context=ctx).to_dict()
            for item in items
        ]


@app.command("verify")
def verify(
    file: Path = FileArg,
    type_name: str = TypeOption,
    key_id: str | None = typer.Option(None, "--key", "-k", help="Verify on the server with this key."),
    public_key: Path | None = typer.Option(
        None, "--public-key", "-p", dir_okay=False, help="Verify offline with this PEM (or JWK) public key."
    ),
    profile: str | None = ProfileOption,
    context: Path | None = ContextOption,
    as_json: bool = JsonOption,
) -> None:
    """Check the object's signature; exit 0 when valid, 1 when not."""
    if (key_id is None) == (public_key is None):
        fail("give exactly one of --key KEY_ID or --public-key PEM_FILE")
    items = read_objects(file)
    ctx = read_context(context)
    if public_key is not None:
        results = verify_offline(type_name, items, public_key, profile, ctx)
    else:
        assert key_id is not None
        results = verify_remote(type_name, items, key_id, profile, ctx)
    valid = all(r["valid"] for r in results)
    extra = results[0] if len(results) == 1 else {"results": results}
    report_validity(valid, as_json, {k: v for k, v in extra.items() if k != "valid"})
