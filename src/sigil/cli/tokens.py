"""``sigil token create``: mint API tokens (needs an admin token in ``SIGIL_TOKEN``)."""

from __future__ import annotations

import typer

from sigil.cli.output import JsonOption, api_client, info, print_fields, print_json

app = typer.Typer(help="Manage API tokens (admin).", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Token name: 1-64 chars of [A-Za-z0-9._-], unique."),
    scope: list[str] | None = typer.Option(
        None, "--scope", "-s", help="Scope to grant: keys (default) or admin. Repeat for several."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create a token for a new principal; the token is shown once."""
    with api_client() as client:
        created = client.create_token(name, scopes=scope or None)
    if as_json:
        print_json(created)
        return
    print_fields(created.to_dict(), ["name", "principal_id", "scopes", "token"])
    info("Store the token now: it is shown only once.")
