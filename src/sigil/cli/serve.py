"""``sigil serve``: run the HTTP server (the server package is imported only when asked for)."""

from __future__ import annotations

from pathlib import Path

import typer


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8700, "--port", help="TCP port."),
    data_dir: Path = typer.Option(
        Path("./sigil-data"), "--data-dir", help="SQLite database, master key file and admin token live here."
    ),
    db: str | None = typer.Option(
        None, "--db", help="Database URL instead of SQLite in the data dir, e.g. postgresql+psycopg://..."
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
) -> None:
    """Start the Sigil server (SQLite in the data dir unless --db is given)."""
    from sigil.server.runner import serve

    serve(host=host, port=port, data_dir=data_dir, db_url=db, workers=workers)
