"""``sigil audit show|verify``: the hash-chained audit log, over the API or straight from the database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from sigil.cli.output import JsonOption, api_client, fail, print_json, print_plain, print_table, to_jsonable

app = typer.Typer(
    help="Read and check the audit log (admin token, or direct database access).", no_args_is_help=True
)

ENTRY_COLUMNS = ["seq", "time", "principal", "action", "key_id", "version", "outcome"]

DataDirOption = typer.Option(
    None, "--data-dir", file_okay=False, help="Read the server's data dir directly (sqlite:///DIR/sigil.db)."
)
DbOption = typer.Option(None, "--db", help="Read this database URL directly instead of using the API.")


def direct_db_url(data_dir: Path | None, db: str | None) -> str | None:
    """The database to read directly, or None to go through the API."""
    if data_dir is not None and db is not None:
        fail("give at most one of --data-dir and --db")
    if db is not None:
        return db
    if data_dir is not None:
        database = data_dir / "sigil.db"
        if not database.is_file():
            fail(f"no Sigil database at {database}")
        return f"sqlite:///{database.resolve()}"
    return None


def run_store(action: str, func: Any, *args: Any) -> Any:
    """Call a ``sigil.store.audit`` function; any failure is one clear line, not a traceback."""
    try:
        return func(*args)
    except Exception as exc:
        fail(f"cannot {action} from the database: {type(exc).__name__}: {exc}")


def fetch_entries(db_url: str | None, after: int, limit: int) -> list[dict[str, Any]]:
    if db_url is None:
        with api_client() as client:
            return [dict(entry) for entry in client.audit(after=after, limit=limit)]
    from sigil.store import audit as store_audit

    entries = run_store("read the audit log", store_audit.read_entries, db_url, after, limit)
    return [to_jsonable(entry) for entry in entries]


def fetch_report(db_url: str | None) -> dict[str, Any]:
    if db_url is None:
        with api_client() as client:
            return dict(client.audit_verify())
    from sigil.store import audit as store_audit

    report = run_store("verify the audit chain", store_audit.verify_chain, db_url)
    result = to_jsonable(report)
    return dict(result) if isinstance(result, Mapping) else {"ok": bool(result)}


def readable_time(value: Any) -> Any:
    """Audit times are microseconds since the epoch; show them as ISO 8601 UTC in tables."""
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1_000_000, tz=UTC).isoformat(timespec="milliseconds")
    return value


@app.command("show")
def show(
    after: int = typer.Option(0, "--after", min=0, help="Only entries with seq greater than this."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many entries."),
    data_dir: Path | None = DataDirOption,
    db: str | None = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """List audit entries in order."""
    entries = fetch_entries(direct_db_url(data_dir, db), after, limit)
    if as_json:
        print_json({"entries": entries})
    else:
        rows = [{**entry, "time": readable_time(entry.get("time"))} for entry in entries]
        print_table(rows, ENTRY_COLUMNS, title="audit entries")


@app.command("verify")
def verify(
    data_dir: Path | None = DataDirOption,
    db: str | None = DbOption,
    as_json: bool = JsonOption,
) -> None:
    """Check the hash chain; exit 1 if an entry was edited, removed or reordered."""
    report = fetch_report(direct_db_url(data_dir, db))
    ok = bool(report.get("ok"))
    if as_json:
        print_json(report)
    elif ok:
        print_plain(f"audit chain ok ({report.get('entries', 0)} entries)")
    else:
        where = report.get("first_bad_seq")
        reason = report.get("reason") or "hash mismatch"
        print_plain(f"audit chain BROKEN at seq {where}: {reason}")
    if not ok:
        raise typer.Exit(1)
