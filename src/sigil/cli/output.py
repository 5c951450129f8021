"""How the CLI talks to people and scripts.

Human output is rich tables and key/value panels on stdout; ``--json`` prints exactly one JSON object
on stdout instead. Errors always go to stderr as one clear line and exit with status 1 — never a
traceback. ``api_client()`` opens the SDK and turns its errors into such lines.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sigil.client import ApiError, ClientError, KeysClient, ServerUnreachable, TransportFailure

JsonOption = typer.Option(False, "--json", help="Print one JSON object on stdout (same fields as the API).")

PIPE_WIDTH = 200  # rich assumes 80 columns off a terminal; tables in pipes and logs should not fold ids


def _width(stream_is_tty: bool) -> int | None:
    if stream_is_tty or "COLUMNS" in os.environ:
        return None
    return PIPE_WIDTH


stdout = Console(soft_wrap=True, width=_width(sys.stdout.isatty()))
stderr = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    stderr.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    raise typer.Exit(code)


def describe_error(exc: ClientError) -> str:
    """One clear sentence for an SDK error (the token is never part of it)."""
    if isinstance(exc, ServerUnreachable):
        return f"cannot reach Sigil at {exc.url} (is `sigil serve` running?)"
    if isinstance(exc, TransportFailure):
        return f"the connection to Sigil at {exc.url} failed: {exc.reason}"
    if isinstance(exc, ApiError):
        if exc.status == 401:
            return "token missing or invalid (set SIGIL_TOKEN)"
        text = exc.title
        if exc.detail and exc.detail != exc.title:
            text += f": {exc.detail}"
        for item in exc.errors[:5]:
            loc = ".".join(str(part) for part in item.get("loc", []) if part != "body")
            text += f"\n  {loc or 'body'}: {item.get('msg', '')}"
        return f"{text} [{exc.code}, HTTP {exc.status}]"
    return str(exc)


@contextmanager
def api_client() -> Iterator[KeysClient]:
    """A ``KeysClient`` configured from ``SIGIL_URL``/``SIGIL_TOKEN``; SDK errors become clean exits."""
    try:
        with KeysClient() as client:
            yield client
    except ClientError as exc:
        fail(describe_error(exc))


def to_jsonable(value: Any) -> Any:
    """Dataclasses (with or without ``to_dict``) and mappings as plain JSON values."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def print_json(obj: Any) -> None:
    """Exactly one JSON document on stdout (no rich markup, no wrapping)."""
    sys.stdout.write(json.dumps(to_jsonable(obj), default=str) + "\n")
    sys.stdout.flush()


def print_plain(text: str) -> None:
    """A bare line on stdout, safe to pipe (signatures, tokens, PEM)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def info(message: str) -> None:
    """A note for the human on stderr (keeps stdout clean for pipes)."""
    stderr.print(message, highlight=False, markup=False)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def print_fields(obj: Mapping[str, Any], fields: Sequence[str], title: str | None = None) -> None:
    """A two-column key/value table of the ``fields`` present in ``obj``."""
    table = Table(show_header=False, title=title, box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for field in fields:
        if field in obj:
            table.add_row(field, _cell(obj[field]))
    stdout.print(table)


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    """A table with one row per mapping; an empty list prints a short note instead."""
    if not rows:
        stdout.print(f"no {title or 'rows'}", style="dim", markup=False)
        return
    table = Table(title=title, header_style="bold cyan")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    stdout.print(table)
