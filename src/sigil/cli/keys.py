"""``sigil keys ...``: create, inspect and manage the lifecycle of signing keys."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import typer

from sigil.cli.output import (
    JsonOption,
    api_client,
    fail,
    print_fields,
    print_json,
    print_plain,
    print_table,
    stdout,
)
from sigil.client import KeyInfo

app = typer.Typer(help="Create and manage signing keys.", no_args_is_help=True)

KEY_FIELDS = ["key_id", "curve", "label", "state", "jwt", "latest_version", "created_at", "deletion_date"]
CREATED_FIELDS = ["key_id", "curve", "label", "version", "state", "jwt", "address", "public_key_hex"]
LIST_COLUMNS = ["key_id", "curve", "label", "state", "latest_version", "jwt", "created_at"]
VERSION_COLUMNS = ["version", "state", "created_at", "address"]

KeyIdArg = typer.Argument(..., help="The key's id (key_...).")
VersionOption = typer.Option(None, "--version", "-v", min=1, help="Only this version.")


class Curve(StrEnum):
    P256 = "P-256"
    P384 = "P-384"
    SECP256K1 = "secp256k1"


class PublicFormat(StrEnum):
    PEM = "pem"
    JWK = "jwk"
    HEX = "hex"


def show_key(key: KeyInfo | dict[str, Any], as_json: bool) -> None:
    """Key metadata: one JSON object, or fields plus a table of versions."""
    if as_json:
        print_json(key)
        return
    print_fields(key, KEY_FIELDS)
    versions = key.get("versions")
    if isinstance(versions, list):
        stdout.print()
        print_table(versions, VERSION_COLUMNS, title="versions")


@app.command("create")
def create(
    curve: Curve = typer.Option(Curve.P256, "--curve", help="Elliptic curve.", case_sensitive=False),
    label: str | None = typer.Option(None, "--label", "-l", help="Free-text label."),
    jwt: bool = typer.Option(False, "--jwt", help="Publish this key in /.well-known/jwks.json."),
    as_json: bool = JsonOption,
) -> None:
    """Create a key pair; the private key never leaves the server."""
    with api_client() as client:
        created = client.create_key(curve.value, label=label, jwt=jwt)
    if as_json:
        print_json(created)
        return
    print_fields(created, CREATED_FIELDS)
    stdout.print()
    print_plain(created["public_key_pem"])


@app.command("list")
def list_keys(as_json: bool = JsonOption) -> None:
    """List your keys."""
    with api_client() as client:
        keys = client.list_keys()
    if as_json:
        print_json({"keys": keys})
    else:
        print_table(keys, LIST_COLUMNS, title="keys")


@app.command("show")
def show(key_id: str = KeyIdArg, as_json: bool = JsonOption) -> None:
    """Show a key's metadata and every version."""
    with api_client() as client:
        show_key(client.get_key(key_id), as_json)


@app.command("rotate")
def rotate(key_id: str = KeyIdArg, as_json: bool = JsonOption) -> None:
    """Add a new version; it becomes the one that signs. Old versions still verify."""
    with api_client() as client:
        show_key(client.rotate(key_id), as_json)


@app.command("disable")
def disable(key_id: str = KeyIdArg, version: int | None = VersionOption, as_json: bool = JsonOption) -> None:
    """Stop a key (or one version) from signing; verification still works."""
    with api_client() as client:
        show_key(client.disable(key_id, version=version), as_json)


@app.command("enable")
def enable(key_id: str = KeyIdArg, version: int | None = VersionOption, as_json: bool = JsonOption) -> None:
    """Allow a disabled key (or version) to sign again."""
    with api_client() as client:
        show_key(client.enable(key_id, version=version), as_json)


@app.command("delete")
def delete(
    key_id: str = KeyIdArg,
    pending_days: int = typer.Option(30, "--pending-days", help="Waiting period, 7-30 days."),
    as_json: bool = JsonOption,
) -> None:
    """Schedule the key's destruction after a waiting period (cancellable until then)."""
    with api_client() as client:
        show_key(client.schedule_deletion(key_id, pending_days=pending_days), as_json)


@app.command("cancel-deletion")
def cancel_deletion(key_id: str = KeyIdArg, as_json: bool = JsonOption) -> None:
    """Cancel a scheduled deletion; the key comes back disabled (enable it explicitly)."""
    with api_client() as client:
        show_key(client.cancel_deletion(key_id), as_json)


@app.command("public")
def public(
    key_id: str = KeyIdArg,
    fmt: PublicFormat = typer.Option(PublicFormat.PEM, "--format", "-f", help="Output format."),
    version: int | None = typer.Option(None, "--version", "-v", min=1, help="Default: the latest."),
    as_json: bool = JsonOption,
) -> None:
    """Print a key's public key (no token needed), e.g. `sigil keys public KEY > pub.pem`."""
    with api_client() as client:
        info = client.public_key(key_id)
    if as_json:
        print_json(info)
        return
    versions = info.get("versions") or []
    chosen = [v for v in versions if version is None or v["version"] == version]
    if not chosen:
        fail(f"key {key_id} has no version {version}" if version else f"key {key_id} has no public versions")
    latest = max(chosen, key=lambda v: v["version"])
    if fmt is PublicFormat.PEM:
        print_plain(latest["public_key_pem"])
    elif fmt is PublicFormat.JWK:
        print_plain(json.dumps(latest["public_key_jwk"]))
    else:
        print_plain(str(latest.get("public_key_hex") or ""))
