"""``sigil jwt``: issue a compact JWS (ES256/ES384/ES256K) signed by a key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from sigil.cli.output import JsonOption, api_client, fail, print_json, print_plain


def parse_claims(text: str) -> dict[str, Any]:
    """Claims as a JSON object, given inline or as ``@path/to/claims.json``."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read claims file {text[1:]}: {exc.strerror}")
    try:
        claims = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--claims is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    if not isinstance(claims, dict):
        fail('--claims must be a JSON object, e.g. \'{"sub": "alice"}\'')
    return claims


def jwt_command(
    key_id: str = typer.Argument(..., help="Key that signs the token."),
    claims: str = typer.Option(..., "--claims", "-c", help="JSON object of claims, or @FILE."),
    expires_in: int | None = typer.Option(None, "--expires-in", help="Seconds until `exp`."),
    as_json: bool = JsonOption,
) -> None:
    """Issue a JWT signed by KEY_ID (`kid` = key_id:version); prints the compact token."""
    parsed = parse_claims(claims)
    with api_client() as client:
        result = client.issue_jwt(key_id, parsed, expires_in=expires_in)
    if as_json:
        print_json(result)
    else:
        print_plain(result.token)
