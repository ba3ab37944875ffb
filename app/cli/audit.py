"""`switchboard audit verify|export`: the audit log's hash chain, checked and handed over."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

audit_app = typer.Typer(help="Verify the audit log's hash chain or export it.", no_args_is_help=True)


def _database():  # type: ignore[no-untyped-def]
    """The database every other command uses: --data-dir, the environment, or a demo's."""
    from app.cli.main import _container  # main imports this module: at call time, not before

    return _container().db


@audit_app.command("verify")
def verify(
    anchor: str | None = typer.Option(
        None, "--anchor", help="SEQ:HASH of a head printed earlier; it must still be in the chain"
    ),
) -> None:
    """Walk the chain: any edited, inserted or deleted row is named; exit 1 if one is found."""
    from app.services import audit
    from app.services.errors import Invalid

    try:
        report = audit.verify(_database(), audit.parse_anchor(anchor))
    except Invalid as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for p in report.problems:
        typer.echo(f"BROKEN {p.where}: {p.what}")
    status = "intact" if report.ok else f"{len(report.problems)} problem(s)"
    typer.echo(f"audit chain {status}: {report.rows} rows; head {report.head_seq}:{report.head_hash}")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def export(
    out: Path | None = typer.Option(None, "--out", help="write JSON lines here (default: standard output)"),
) -> None:
    """Every row with its hashes as JSON lines, oldest first; the last line names the head."""
    from app.services import audit
    from app.services.lookup import require_tables

    db = _database()
    require_tables(db)  # before the file is opened: no empty export when there is nothing to read
    stream = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        for line in audit.export_lines(db):
            stream.write(line + "\n")
    finally:
        if out:
            stream.close()
