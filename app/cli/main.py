"""The `switchboard` command (also `python -m app`)."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from app.cli.audit import audit_app
from app.cli.eval import eval_app
from app.config import Settings
from app.main import Container

app = typer.Typer(
    help="Switchboard: connect your systems, let a model work across them, approve every write.",
    no_args_is_help=True,
)
approvals_app = typer.Typer(help="The approval queue from a terminal.", no_args_is_help=True)
connections_app = typer.Typer(help="Configured systems and their health.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens and their roles.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(approvals_app, name="approvals")
app.add_typer(connections_app, name="connections")
app.add_typer(tokens_app, name="tokens")
app.add_typer(db_app, name="db")
app.add_typer(eval_app, name="eval")
app.add_typer(audit_app, name="audit")

console = Console()
err = Console(stderr=True)


def _container(data_dir: Path | None = None) -> Container:
    settings = Settings()
    if data_dir is not None:
        settings.data_dir = data_dir
    return Container(settings)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _me() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    data_dir: Path = typer.Option(
        Path(".switchboard/demo"), "--data-dir", help="where the SQLite file and admin token live"
    ),
) -> None:
    """Everything in one process: SQLite, the local model, every simulator, seeded data."""
    from app.demo import run_demo

    run_demo(host=host, port=port, data_dir=data_dir)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    worker: bool = typer.Option(False, "--worker/--no-worker", help="also advance runs in this process"),
) -> None:
    """The API and web UI, configured from the environment."""
    import uvicorn

    from app.api.app import create_app

    c = _container()
    c.db.upgrade()
    uvicorn.run(create_app(c, run_worker=worker), host=host, port=port, log_level="info")


@app.command()
def worker(once: bool = typer.Option(False, help="advance what is runnable now, then exit")) -> None:
    """A background worker that claims and advances runs; run as many as you like."""
    from app.agent.orchestrator import worker_id

    c = _container()
    owner = worker_id()

    async def main() -> None:
        try:
            if once:
                n = await c.orchestrator.drain(owner)
                console.print(f"advanced {n} runs")
            else:
                console.print(f"worker {owner} waiting for runs (Ctrl-C to stop)")
                await _work_and_schedule(c, owner)
        finally:
            await c.pool.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


async def _work_and_schedule(c: Container, owner: str) -> None:
    """The worker loop, and the schedule tick beside it (any number of workers may tick)."""
    from app.services import schedules

    stop = asyncio.Event()
    ticker = asyncio.create_task(
        schedules.loop(c.db, stop, every=c.settings.schedule_seconds, on_started=c.wake)
    )
    try:
        await c.orchestrator.work(owner, poll_seconds=c.settings.poll_seconds, stop=stop, wake=c.wake_event)
    finally:
        stop.set()
        await ticker


@app.command()
def triage(
    file: Path | None = typer.Argument(
        None, help="JSON Lines, one ticket per line: subject, body, requester_email, external_id?"
    ),
    source: str | None = typer.Option(
        None, "--source", help="a help-desk connection to pull open tickets from"
    ),
    limit: int = typer.Option(50, help="at most this many tickets from --source"),
) -> None:
    """Batch triage with a progress bar and a summary table."""
    from app.cli.batch import run_batch

    if (file is None) == (source is None):
        _fail("give either FILE.jsonl or --source CONNECTION")
    c = _container()
    c.db.upgrade()
    try:
        asyncio.run(run_batch(c, console, file=file, source=source, limit=limit))
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))


@app.command()
def mcp(
    transport: str = typer.Option("stdio", help="stdio, or http (streamable HTTP at /mcp)"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8001),
) -> None:
    """Serve Switchboard's tools to MCP clients; writes wait in the approval queue."""
    from app.mcp_server import run
    from app.services.auth import authenticate
    from app.services.mcp_calls import proposer
    from app.store.runs import audit

    if transport not in ("stdio", "http"):
        _fail("--transport must be stdio or http")
    c = _container()
    c.db.upgrade()

    def record(event: dict[str, Any]) -> None:
        with c.db.session() as s:
            audit(
                s,
                "mcp-client",
                "mcp.tool_call",
                "tool",
                str(event.get("tool")),
                {k: str(v)[:500] for k, v in event.items()},
            )

    run(
        c.pool.load,
        proposer(c),
        transport=transport,  # type: ignore[arg-type]
        host=host,
        port=port,
        token_check=(lambda token: authenticate(c.db, token) is not None) if transport == "http" else None,
        audit=record,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations."""
    c = _container()
    c.db.upgrade()
    console.print(f"database at head: {c.db.engine.url.render_as_string(hide_password=True)}")


# -- approvals -------------------------------------------------------------
@approvals_app.command("list")
def approvals_list(
    status: str = typer.Option("pending"), as_json: bool = typer.Option(False, "--json")
) -> None:
    from app.services import approvals

    c = _container()
    rows = approvals.list_actions(c.db, None if status == "all" else status)
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table(
        "id", "tool", "risk", "status", "arguments", "reasons / error", title=f"{len(rows)} {status} actions"
    )
    for r in rows:
        table.add_row(
            r["id"],
            r["tool"],
            r["risk"],
            r["status"],
            json.dumps(r["arguments"])[:80],
            (r["error"] if r["status"] == "failed" and r["error"] else "; ".join(r["reasons"]))[:60],
        )
    console.print(table)


def _decide(fn: Any, *args: Any) -> dict[str, Any]:
    from app.services.errors import ServiceError

    try:
        return fn(*args)  # type: ignore[no-any-return]
    except ServiceError as exc:
        _fail(exc.message)
        raise


@approvals_app.command("approve")
def approvals_approve(
    action_id: str,
    arguments: str | None = typer.Option(None, help="edited arguments as a JSON object"),
    as_name: str = typer.Option(_me(), "--as", help="who is approving (recorded)"),
) -> None:
    from app.services import approvals
    from app.services.auth import Principal

    c = _container()
    edited = None
    if arguments is not None:
        try:
            edited = json.loads(arguments)
        except ValueError:
            _fail("--arguments is not valid JSON")
    result = _decide(
        approvals.approve, c.db, action_id, Principal(as_name, "approver"), c.pool.catalogue, edited
    )
    console.print(f"approved {result['id']} ({result['tool']}); a worker will execute it")
    if result["status"] == "pending":
        console.print(f"it needs {result['required_approvals']} approvals; it has {len(result['approvals'])}")


@approvals_app.command("reject")
def approvals_reject(
    action_id: str,
    reason: str = typer.Option(..., "--reason", help="why; it goes back to the model"),
    as_name: str = typer.Option(_me(), "--as"),
) -> None:
    from app.services import approvals
    from app.services.auth import Principal

    c = _container()
    result = _decide(approvals.reject, c.db, action_id, Principal(as_name, "approver"), reason)
    console.print(f"rejected {result['id']} ({result['tool']})")


@approvals_app.command("retry")
def approvals_retry(action_id: str, as_name: str = typer.Option(_me(), "--as")) -> None:
    """Run a failed write again, with the same idempotency key."""
    from app.services import approvals
    from app.services.auth import Principal

    c = _container()
    result = _decide(approvals.retry, c.db, action_id, Principal(as_name, "approver"))
    console.print(f"retrying {result['id']} ({result['tool']}); a worker will execute it again")


@approvals_app.command("dismiss")
def approvals_dismiss(
    action_id: str,
    reason: str = typer.Option(..., "--reason", help="why; the model is told"),
    as_name: str = typer.Option(_me(), "--as"),
) -> None:
    """Accept that a failed write did not happen; the run goes on."""
    from app.services import approvals
    from app.services.auth import Principal

    c = _container()
    result = _decide(approvals.dismiss, c.db, action_id, Principal(as_name, "approver"), reason)
    console.print(f"dismissed {result['id']} ({result['tool']})")


# -- connections -----------------------------------------------------------
@connections_app.command("list")
def connections_list() -> None:
    from app.services.connections import list_connections

    c = _container()
    table = Table("name", "kind", "base url", "auth", "owner", "health", "alerts")
    for r in list_connections(c.db):
        table.add_row(
            r["name"],
            r["kind"],
            r["base_url"],
            r["auth_type"],
            r["owner"] or "",
            r["health"],
            "; ".join(r["alerts"]),
        )
    console.print(table)


@connections_app.command("add")
def connections_add(
    name: str,
    kind: str = typer.Option(..., help="connector kind, e.g. helpdesk"),
    base_url: str = typer.Option(..., help="the system's API root"),
    auth: str = typer.Option("none", help="none | bearer | basic | api_key | zendesk_token"),
    credential: list[str] = typer.Option(
        [], help="KEY=VALUE (repeat); or KEY=env:VAR to read an environment variable"
    ),
    owner: str | None = typer.Option(None, help="who owns this connection"),
) -> None:
    from app.services.connections import add_connection
    from app.services.errors import ServiceError

    creds: dict[str, str] = {}
    for item in credential:
        key, sep, value = item.partition("=")
        if not sep:
            _fail(f"--credential {item!r} is not KEY=VALUE")
        if value.startswith("env:"):
            var = value[4:]
            if var not in os.environ:
                _fail(f"environment variable {var} is not set")
            value = os.environ[var]
        creds[key] = value
    c = _container()
    c.db.upgrade()
    try:
        add_connection(
            c.db,
            c.box,
            name=name,
            kind=kind,
            base_url=base_url,
            auth_type=auth,
            credentials=creds,
            owner=owner or _me(),
            actor=_me(),
        )
    except ServiceError as exc:
        _fail(exc.message)
    console.print(f"added connection {name} ({kind})")


@connections_app.command("test")
def connections_test(
    name: str,
    live: bool = typer.Option(
        False, "--live", help="run the read-only checks against the real service (needs its key)"
    ),
) -> None:
    from app.services.errors import ServiceError

    c = _container()

    async def main() -> dict[str, Any]:
        try:
            return await (c.pool.test_live(name) if live else c.pool.test(name))
        finally:
            await c.pool.aclose()

    try:
        result = asyncio.run(main())
    except ServiceError as exc:
        _fail(exc.message)
        return
    if live:
        for check in result["checks"]:
            mark = "[green]ok[/green]" if check["ok"] else "[red]FAILED[/red]"
            console.print(f"{name} {check['check']}: {mark}" + ("" if check["ok"] else f" {check['error']}"))
        failed = [c["check"] for c in result["checks"] if not c["ok"]]
        if failed:
            _fail(f"{name}: {len(failed)} of {len(result['checks'])} live checks failed: {', '.join(failed)}")
        console.print(f"[green]{name}: ok ({len(result['checks'])} live checks)[/green]")
        return
    if result["health"] == "ok":
        console.print(f"[green]{name}: ok[/green]")
    else:
        _fail(f"{name}: {result['error']}")


@connections_app.command("secret")
def connections_secret(
    name: str,
    from_file: Path | None = typer.Option(
        None, "--from-file", help="read it from a file (e.g. ShipStation's JSON key set); '-' for stdin"
    ),
) -> None:
    """Set the secret NAME's webhooks are verified with (asked for, never echoed or printed)."""
    from app.services.errors import ServiceError
    from app.services.webhook_secrets import set_webhook_secret

    if from_file is None:
        secret = getpass.getpass(f"webhook secret for {name}: ")
    elif str(from_file) == "-":
        secret = typer.get_text_stream("stdin").read()
    else:
        try:
            secret = from_file.read_text()
        except OSError as exc:
            _fail(f"cannot read {from_file}: {exc.strerror}")
            return
    c = _container()
    try:
        result = set_webhook_secret(c.db, c.box, name, secret, actor=f"cli:{getpass.getuser()}")
    except ServiceError as exc:
        _fail(exc.message)
        return
    verb = "replaced" if result["replaced"] else "set"
    console.print(f"webhook secret for {name} {verb}; events go to /api/v1/webhooks/{name}")


# -- tokens ----------------------------------------------------------------
@tokens_app.command("create")
def tokens_create(name: str = typer.Option(..., "--name"), role: str = typer.Option(..., "--role")) -> None:
    """Create an API token; it is printed once."""
    from app.services.auth import create_token
    from app.services.errors import ServiceError

    c = _container()
    c.db.upgrade()
    try:
        _, token = create_token(c.db, name, role, actor=_me())
    except ServiceError as exc:
        _fail(exc.message)
        return
    console.print(token, soft_wrap=True)


@tokens_app.command("list")
def tokens_list() -> None:
    from app.services.auth import list_tokens

    c = _container()
    table = Table("id", "name", "role", "created", "last used", "revoked")
    for t in list_tokens(c.db):
        table.add_row(
            str(t["id"]),
            str(t["name"]),
            str(t["role"]),
            str(t["created_at"])[:19],
            str(t["last_used_at"] or "")[:19],
            "yes" if t["revoked"] else "",
        )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: str) -> None:
    from app.services.auth import revoke_token
    from app.services.errors import ServiceError

    c = _container()
    try:
        revoke_token(c.db, token_id, actor=_me())
    except ServiceError as exc:
        _fail(exc.message)
    console.print(f"revoked {token_id}")


def main() -> None:
    app()
