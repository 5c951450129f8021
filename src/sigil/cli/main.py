"""The ``sigil`` command: one Typer app with a sub-app or command per API area.

Configuration comes from the environment: ``SIGIL_URL`` (default http://127.0.0.1:8700) and
``SIGIL_TOKEN``. Every command takes ``--json``. Also runnable as ``python -m sigil.cli.main``.
"""

from __future__ import annotations

import typer

from sigil.cli import audit, device, jwt, keys, mpc, objects, serve, sign, tokens

app = typer.Typer(
    name="sigil",
    help="Sigil: a self-hostable ECDSA signing service. Set SIGIL_URL and SIGIL_TOKEN to use a server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("serve")(serve.serve_command)
app.add_typer(tokens.app, name="token")
app.add_typer(keys.app, name="keys")
app.command("sign")(sign.sign_command)
app.command("verify")(sign.verify_command)
app.command("jwt")(jwt.jwt_command)
app.add_typer(audit.app, name="audit")
app.add_typer(objects.app, name="objects")
app.add_typer(device.app, name="device")
app.add_typer(mpc.app, name="mpc")


if __name__ == "__main__":
    app()
