"""The `switchboard` command (also `python -m app`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import json
import os
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from app.cli.audit import audit_app
from app.cli.eval import eval_app

if TYPE_CHECKING:  # the container pulls in every connector, the model and the store: only when used
    from app.main import Container


class _Group(TyperGroup):
    """Every command: a database that is not there or has no tables is a sentence to act on,
    not a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            import shlex

            from app.cli.where import missing_database, missing_table, unreachable_database
            from app.config import UnsupportedDatabase

            if isinstance(exc, UnsupportedDatabase):
                err.print(f"[red]error:[/red] DATABASE_URL: {escape(str(exc))}", soft_wrap=True)
                raise typer.Exit(2) from None
            if missing_database(exc) is None and (why := unreachable_database(exc)) is not None:
                err.print(
                    f"[red]error:[/red] cannot reach the database {escape(_STATE.get('database', ''))}: "
                    f"{escape(why)}",
                    soft_wrap=True,
                )
                raise typer.Exit(2) from None
            if (name := missing_database(exc)) is not None:
                err.print(
                    f"[red]error:[/red] the database {escape(_STATE.get('database', name))} does not "
                    f"exist: create it ([bold]createdb {escape(shlex.quote(name))}[/bold] on its "
                    "server), then run [bold]switchboard db upgrade[/bold]",
                    soft_wrap=True,
                )
                raise typer.Exit(2) from None
            if not missing_table(exc):
                raise
            _not_ready("has no Switchboard tables (or an older version of them)")


def _not_ready(state: str) -> None:
    err.print(
        f"[red]error:[/red] the database {escape(_STATE.get('database', ''))} {state}: run "
        "[bold]switchboard db upgrade[/bold] first, "
        "or point --data-dir, SWITCHBOARD_DATA_DIR or DATABASE_URL at another database",
        soft_wrap=True,
    )
    raise typer.Exit(2) from None


app = typer.Typer(
    help="Switchboard: connect your systems, let a model work across them, approve every write.",
    no_args_is_help=True,
    cls=_Group,
)
approvals_app = typer.Typer(help="The approval queue from a terminal.", no_args_is_help=True)
connections_app = typer.Typer(help="Configured systems and their health.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens and their roles.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
runs_app = typer.Typer(help="Runs: tickets, records, chat turns and workflows.", no_args_is_help=True)
app.add_typer(approvals_app, name="approvals")
app.add_typer(runs_app, name="runs")
app.add_typer(connections_app, name="connections")
app.add_typer(tokens_app, name="tokens")
app.add_typer(db_app, name="db")
app.add_typer(eval_app, name="eval")
app.add_typer(audit_app, name="audit")

console = Console()
err = Console(stderr=True)


_STATE: dict[str, Any] = {}


@app.callback()
def _options(
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="where the SQLite database lives; default: a running demo's, else .switchboard "
        "(or set SWITCHBOARD_DATA_DIR, or DATABASE_URL for any database)",
    ),
) -> None:
    _STATE.clear()
    _STATE["data_dir"] = data_dir


def _container(data_dir: Path | None = None, *, create: bool = False, secret: bool = False) -> Container:
    """The database every command resolves the same way (--data-dir, the environment, a demo's).

    Only commands that set up the tables (`create`) may bring a SQLite file into being: any
    other would leave an empty one behind, which later commands would then pick. Commands that
    touch stored credentials (`secret`) refuse to start without SWITCHBOARD_SECRET_KEY."""
    from app.cli.where import describe, resolve, sqlite_file
    from app.main import Container

    where = resolve(data_dir if data_dir is not None else _STATE.get("data_dir"))
    if where.note:
        err.print(f"[dim]{where.note}[/dim]", soft_wrap=True)
    c = Container(where.settings)  # builds nothing yet: the database opens at first use
    if secret:
        _with_secret(c)
    file = sqlite_file(where.settings)
    if not create and file is not None and not file.exists():
        _STATE["database"] = describe(where.settings.database_url or f"sqlite:///{file.resolve()}")
        _not_ready("does not exist yet")
    _STATE["database"] = describe(c.db.url)
    return c


def _require_tables(c: Container) -> None:
    """Fail now, in words, rather than once per poll in a long-running loop."""
    from app.services.lookup import require_tables

    require_tables(c.db)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _with_secret(c: Container) -> Container:
    """Commands that touch stored credentials refuse to start without SWITCHBOARD_SECRET_KEY."""
    from app.services.errors import SecretBoxError

    try:
        c.box  # noqa: B018 - built here so a missing key stops the command before it starts
    except SecretBoxError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    return c


def _with_model(c: Container) -> Container:
    """Build the model SWITCHBOARD_MODEL names before anything starts: a bad spec or a missing
    API key is one line now, not a traceback from the first run (or the server's start-up)."""
    try:
        c.model  # noqa: B018
    except ValueError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    return c


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
    workers: int = typer.Option(
        1, "--workers", min=1, help="server processes taking requests on the same port (one per core)"
    ),
) -> None:
    """The API and web UI, configured from the environment."""
    import uvicorn

    from app.api.app import SERVE_SETTINGS, SERVE_WORKER, create_app
    from app.cli.listen import cannot_listen
    from app.observability.logs import configure_logging, uvicorn_log_config

    if (why := cannot_listen(host, port)) is not None:
        _fail(why)

    c = _with_model(_container(create=True, secret=True))
    configure_logging(c.settings.log_format, c.settings.log_level)
    c.db.upgrade()
    log_config = uvicorn_log_config(c.settings.log_format)
    if workers == 1:
        app_or_factory: Any = create_app(c, run_worker=worker)
    else:
        # Each process builds its own app from the settings resolved here (data dir, key).
        os.environ[SERVE_SETTINGS] = c.settings.model_dump_json()
        os.environ[SERVE_WORKER] = "1" if worker else ""
        app_or_factory = "app.api.app:from_environment"
    uvicorn.run(
        app_or_factory,
        host=host,
        port=port,
        log_level="info",
        log_config=log_config,
        workers=workers if workers > 1 else None,
        factory=workers > 1,
    )


@app.command()
def worker(
    once: bool = typer.Option(False, help="advance what is runnable now, then exit"),
    concurrency: int | None = typer.Option(
        None,
        min=1,
        help="runs advanced at once (sets SWITCHBOARD_WORKER_CONCURRENCY; default 1)",
    ),
    alerts: bool = typer.Option(
        False,
        "--alerts/--no-alerts",
        help="also evaluate and post SWITCHBOARD_ALERTS here (where no API process runs; in one worker)",
    ),
) -> None:
    """A background worker that claims and advances runs; run as many as you like."""
    from app.agent.orchestrator import worker_id
    from app.observability import logs, metrics

    if concurrency is not None:
        os.environ["SWITCHBOARD_WORKER_CONCURRENCY"] = str(concurrency)
    c = _with_model(_container(secret=True))
    logs.configure_logging(c.settings.log_format, c.settings.log_level)
    metrics.serve_metrics(c.settings.metrics_port, c.settings.metrics_addr)
    _require_tables(c)
    if alerts and not c.settings.alerts:
        _fail("--alerts posts the alerts SWITCHBOARD_ALERTS names (e.g. chat:#ops), and it is not set")
    owner = worker_id()

    async def main() -> None:
        try:
            if once:
                n = await c.orchestrator.drain(owner)
                console.print(f"advanced {n} runs")
            else:
                console.print(
                    f"worker {owner} advancing up to {c.settings.worker_concurrency} runs at once "
                    "(Ctrl-C to stop: the runs in flight finish first)"
                )
                await _work_and_schedule(c, owner, alerts=alerts)
        finally:
            await c.pool.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


async def _work_and_schedule(
    c: Container, owner: str, *, alerts: bool = False, stop: asyncio.Event | None = None
) -> None:
    """The worker loop, the schedule tick beside it (any number of workers may tick) and, with
    `alerts`, the alert watcher an API process would otherwise run."""
    from app.services import alerts as alerting
    from app.services import schedules

    if stop is None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
    tasks = [
        asyncio.create_task(schedules.loop(c.db, stop, every=c.settings.schedule_seconds, on_started=c.wake))
    ]
    if alerts and (watch := alerting.watcher(c.settings, c.db, c.pool)) is not None:
        tasks.append(asyncio.create_task(watch.loop(stop, c.settings.alert_every_seconds)))
    try:
        await c.worker(owner=owner).run(stop)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def _stop_on_signals(stop: asyncio.Event) -> None:
    """The first Ctrl-C or SIGTERM stops claiming and lets the runs in flight finish; a second one
    ends the process at once (those runs' leases lapse and another worker goes on from their steps)."""
    import signal

    loop = asyncio.get_running_loop()

    def first() -> None:
        console.print("stopping: finishing the runs in flight (Ctrl-C again to quit now)")
        stop.set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, first)


@app.command()
def triage(
    file: Path | None = typer.Argument(
        None, help="JSON Lines, one ticket per line: subject, body, requester_email, external_id?"
    ),
    source: str | None = typer.Option(
        None, "--source", help="a help-desk connection to pull open tickets from"
    ),
    limit: int = typer.Option(50, help="at most this many tickets from --source"),
    again: bool = typer.Option(
        False, "--again", help="triage tickets that already have a run once more (default: skip them)"
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        help="FILE: an API token of the operator role or above, whose owner posts the tickets "
        "(default: $SWITCHBOARD_TOKEN, else DATA_DIR/admin-token, else posted as 'cli', whose "
        "money and final writes then need two approvers)",
    ),
) -> None:
    """Batch triage with a progress bar and a summary table.

    Tickets from a FILE are posted by a person, as through the API: the owner of the API token
    (--token, $SWITCHBOARD_TOKEN, else DATA_DIR/admin-token), who cannot approve the refunds and
    final submissions proposed from them. With no token anywhere (a fresh data directory) they
    are posted as `cli`: whoever runs the command holds the database and its key already, but
    nobody is named to hold four eyes against, so the money, final and payee writes proposed
    from them need two different approvers. Tickets pulled from --source are delivered by that system."""
    from app.cli.batch import run_batch
    from app.services.errors import ServiceError

    if (file is None) == (source is None):
        _fail("give either FILE.jsonl or --source CONNECTION")
    c = _with_model(_container(create=True, secret=True))
    c.db.upgrade()
    from app.services.intake import UNNAMED_POSTER

    actor = UNNAMED_POSTER
    if file is not None and (token or _given_token(c, None)):
        actor = _caller(c, token, "operator", "triaging a file").name
    try:
        asyncio.run(run_batch(c, console, file=file, source=source, limit=limit, again=again, actor=actor))
    except ServiceError as exc:  # e.g. no connection of the --source name
        _fail(exc.message)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))


@app.command()
def mcp(
    transport: str = typer.Option("stdio", help="stdio, or http (streamable HTTP at /mcp)"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8001),
    token: str | None = typer.Option(
        None,
        "--token",
        help="stdio: the API token whose owner asks for the writes "
        "(default: $SWITCHBOARD_TOKEN, else DATA_DIR/admin-token); http: each request's own",
    ),
) -> None:
    """Serve Switchboard's tools to MCP clients; writes wait in the approval queue.

    Every write is asked for by a person: over HTTP, the owner of the bearer token each request
    carries; over stdio, the owner of the token the server was started with (looked up again for
    each call, so revoking it takes effect at once). Proposing writes needs the operator role;
    with a viewer's token, or over stdio with no token at all, the server answers reads only."""
    import anyio

    from app.agent.orchestrator import worker_id
    from app.mcp_server import run
    from app.services.auth import Principal, authenticate
    from app.services.mcp_calls import PROPOSER_ROLE, authenticator, proposer, record_tool_call

    if transport not in ("stdio", "http"):
        _fail("--transport must be stdio or http")
    if transport == "http":
        from app.cli.listen import cannot_listen

        if (why := cannot_listen(host, port)) is not None:
            _fail(why)
    c = _container(create=True, secret=True)
    c.db.upgrade()

    if transport == "http" and token is not None:
        _fail("--token is for stdio; over http each request carries its own bearer token")
    given = _given_token(c, token) if transport == "stdio" else ""
    if transport == "stdio":
        who = authenticate(c.db, given) if given else None
        if given and who is None:
            _fail("that token is unknown, revoked or expired")
        if who is None or not who.can(PROPOSER_ROLE):  # stdout is the wire: say it on stderr
            err.print(
                "switchboard mcp: reads only; proposing writes needs an API token of the "
                f"{PROPOSER_ROLE} role (--token or SWITCHBOARD_TOKEN)"
                + (f": {who.name} has {who.role}" if who is not None else "")
            )

    def caller() -> Awaitable[Principal | None]:
        return anyio.to_thread.run_sync(authenticate, c.db, given)

    run(
        c.pool.load,
        proposer(c.db, lambda run_id: c.orchestrator.advance_now(run_id, worker_id())),
        transport=transport,  # type: ignore[arg-type]
        host=host,
        port=port,
        token_check=authenticator(c.db) if transport == "http" else None,
        audit=lambda event: record_tool_call(c.db, event),
        caller=caller if given else None,
        close=c.pool.aclose,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations."""
    c = _container(create=True)
    c.db.upgrade()
    console.print(f"database at head: {c.db.engine.url.render_as_string(hide_password=True)}")


# -- approvals -------------------------------------------------------------
@approvals_app.command("list")
def approvals_list(
    status: str = typer.Option("pending", help="pending, approved, failed, … or all"),
    risk: str | None = typer.Option(None, help="low, medium or high"),
    connection: str | None = typer.Option(None, help="only this connection's writes"),
    tool: str | None = typer.Option(None, help="only this tool, e.g. helpdesk__add_comment"),
    limit: int = typer.Option(50, min=1, help="how many to show (a page; at most 200)"),
    cursor: str | None = typer.Option(None, help="the page after this cursor (printed under a full page)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Actions by status (pending by default), newest first, a page at a time; ids shown as short as
    they stay unique."""
    from app.services import approvals

    c = _container()
    filters = approvals.ActionFilters(None if status == "all" else status, risk, connection, tool)
    page = _decide(lambda: approvals.page_actions(c.db, filters, cursor=cursor, limit=limit))
    rows = page.items
    if as_json:
        console.print_json(json.dumps(rows, default=str))
    else:
        console.print(_actions_table(c, rows, title=f"{len(rows)} {status} actions"))
    if page.next_cursor:
        err.print(f"[dim]more: add --cursor {page.next_cursor}[/dim]", soft_wrap=True)


@runs_app.command("list")
def runs_list(
    status: str | None = typer.Option(None, help="queued, running, waiting_approval, succeeded, failed, …"),
    kind: str | None = typer.Option(None, help="triage, record, chat or workflow"),
    limit: int = typer.Option(50, min=1, help="how many to show (a page; at most 200)"),
    cursor: str | None = typer.Option(None, help="the page after this cursor (printed under a full page)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Runs newest first, a page at a time."""
    from app.services import views
    from app.services.lookup import display_ids

    c = _container()
    filters = views.RunFilters(status, kind)
    page = _decide(lambda: views.page_runs(c.db, filters, cursor=cursor, limit=limit))
    rows = page.items
    if as_json:
        console.print_json(json.dumps(rows, default=str))
    else:
        short = display_ids(c.db, "run", [r["id"] for r in rows])
        table = Table(title=f"{len(rows)} runs")
        for name in ("id", "kind", "status", "category", "tokens", "created"):
            table.add_column(name, no_wrap=True, overflow="ellipsis")
        for r in rows:
            usage = r["usage"]
            category = (r["classification"] or {}).get("category") or ""
            tokens = str(usage["input_tokens"] + usage["output_tokens"])
            table.add_row(short[r["id"]], r["kind"], r["status"], category, tokens, r["created_at"][:19])
        console.print(table)
    if page.next_cursor:
        err.print(f"[dim]more: add --cursor {page.next_cursor}[/dim]", soft_wrap=True)


def _actions_table(c: Container, rows: list[dict[str, Any]], *, title: str) -> Table:
    """Ids never cut: each is shown as its shortest unique prefix, which approve and reject accept.
    Arguments and reasons take what room is left, on one line each."""
    from app.services.lookup import display_ids

    short = display_ids(c.db, "action", [r["id"] for r in rows])
    narrow = console.width < 110  # then the operation alone names the tool
    tools = [r["operation"] if narrow else r["tool"] for r in rows]
    widths = {
        "id": max([8, *(len(v) for v in short.values())]),
        ("operation" if narrow else "tool"): min(30, max([4, *(len(t) for t in tools)])),
        "risk": max([4, *(len(r["risk"]) for r in rows)]),
        "status": max([6, *(len(r["status"]) for r in rows)]),
    }
    room = console.width - sum(widths.values()) - 3 * 6 - 1
    with_reasons = room >= 24
    if not with_reasons:
        room += 3
    widths["arguments"] = max(8, room * 3 // 5 if with_reasons else room)
    if with_reasons:
        widths["reasons"] = room - widths["arguments"]
    table = Table(
        title=title, caption="approve, reject, retry or dismiss by id; any unique start of an id works"
    )
    for name, width in widths.items():
        table.add_column(name, width=width, no_wrap=True, overflow="ellipsis")
    for r, tool in zip(rows, tools, strict=True):
        cells = [short[r["id"]], tool, r["risk"], r["status"], json.dumps(r["arguments"], ensure_ascii=False)]
        said = r["error"] if r["status"] == "failed" and r.get("error") else "; ".join(r["reasons"])
        table.add_row(*cells, *([said] if with_reasons else []))
    return table


def _action_id(c: Container, text: str) -> str:
    """The full id of the one action whose id starts with `text`."""
    from app.services.lookup import unique_id

    return _decide(unique_id, c.db, "action", text, "action")  # type: ignore[no-any-return]


def _decide(fn: Any, *args: Any) -> Any:
    from app.services.errors import ServiceError

    try:
        return fn(*args)
    except ServiceError as exc:
        _fail(exc.message)
        raise


TOKEN_HELP = "an API token of an approver (default: $SWITCHBOARD_TOKEN, else DATA_DIR/admin-token)"


def _given_token(c: Container, token: str | None) -> str:
    """The API token a command acts as: --token, else $SWITCHBOARD_TOKEN, else DATA_DIR/admin-token."""
    token = (token or os.environ.get("SWITCHBOARD_TOKEN") or "").strip()
    if not token:
        saved = c.settings.data_dir / "admin-token"
        token = saved.read_text().strip() if saved.is_file() else ""
    return token


def _caller(c: Container, token: str | None, role: str, doing: str) -> Any:
    """Who acts: the identity of an API token, as on the API; never a name typed on the command line."""
    from app.services.auth import authenticate

    token = _given_token(c, token)
    if not token:
        _fail(f"{doing} needs an API token of the {role} role: pass --token or set SWITCHBOARD_TOKEN")
    who = authenticate(c.db, token)
    if who is None:
        _fail("that token is unknown, revoked or expired")
        raise AssertionError  # _fail exits
    if not who.can(role):
        _fail(f"this needs the {role} role; {who.name} has {who.role}")
    return who


def _approver(c: Container, token: str | None) -> Any:
    """Who decides: the identity of an approver's API token."""
    return _caller(c, token, "approver", "deciding")


@approvals_app.command("approve")
def approvals_approve(
    action_id: str,
    arguments: str | None = typer.Option(None, help="edited arguments as a JSON object"),
    version: str | None = typer.Option(
        None,
        "--version",
        help="the version you read (`approvals list --json`): approve those arguments only; needed once edited",
    ),
    token: str | None = typer.Option(None, "--token", help=TOKEN_HELP),
) -> None:
    """Approve a pending write (or edit it and approve, with --arguments); it runs exactly once."""
    from app.services import approvals

    c = _container(secret=True)
    who = _approver(c, token)
    edited = None
    if arguments is not None:
        try:
            edited = json.loads(arguments)
        except ValueError:
            _fail("--arguments is not valid JSON")
    approve = functools.partial(approvals.approve, policy=c.policy, seen=version)
    result = _decide(approve, c.db, _action_id(c, action_id), who, c.pool.catalogue, edited)
    if result["edited"]:
        console.print(f"edited: risk {result['risk']}: {'; '.join(result['reasons'])}")
    if result["status"] == "pending":
        console.print(
            f"approval recorded on {result['id']} ({result['tool']}); it needs "
            f"{result['required_approvals'] - len(result['approvals'])} more approver(s)"
        )
        return
    console.print(f"approved {result['id']} ({result['tool']}); a worker will execute it")


@approvals_app.command("reject")
def approvals_reject(
    action_id: str,
    reason: str = typer.Option(..., "--reason", help="why; it goes back to the model"),
    token: str | None = typer.Option(None, "--token", help=TOKEN_HELP),
) -> None:
    """Reject a pending write; the reason goes back to the model."""
    from app.services import approvals

    c = _container()
    result = _decide(approvals.reject, c.db, _action_id(c, action_id), _approver(c, token), reason)
    console.print(f"rejected {result['id']} ({result['tool']})")


@approvals_app.command("retry")
def approvals_retry(
    action_id: str, token: str | None = typer.Option(None, "--token", help=TOKEN_HELP)
) -> None:
    """Run a failed write again, with the same idempotency key."""
    from app.services import approvals

    c = _container()
    retry = functools.partial(approvals.retry, policy=c.policy, ttl_hours=c.settings.approval_ttl_hours)
    result = _decide(retry, c.db, _action_id(c, action_id), _approver(c, token))
    if result["status"] == "pending":
        console.print(
            f"{result['id']} ({result['tool']}) waits for a second approver before it runs again: "
            + "; ".join(result["reasons"][-1:])
        )
        return
    console.print(f"retrying {result['id']} ({result['tool']}); a worker will execute it again")


@approvals_app.command("dismiss")
def approvals_dismiss(
    action_id: str,
    reason: str = typer.Option(..., "--reason", help="why; the model is told"),
    token: str | None = typer.Option(None, "--token", help=TOKEN_HELP),
) -> None:
    """Accept that a failed write did not happen; the run goes on."""
    from app.services import approvals

    c = _container()
    result = _decide(approvals.dismiss, c.db, _action_id(c, action_id), _approver(c, token), reason)
    console.print(f"dismissed {result['id']} ({result['tool']})")


# -- connections -----------------------------------------------------------
@connections_app.command("list")
def connections_list(
    wide: bool = typer.Option(False, "--wide", help="also the base URL and the auth type"),
) -> None:
    """Configured systems, their health, and what needs attention (expiry, retries, errors)."""
    from app.services.connections import list_connections

    c = _container()
    console.print(_connections_table(list_connections(c.db), wide=wide))


def _connections_table(rows: list[dict[str, Any]], *, wide: bool) -> Table:
    """Alerts get the room: at 80 columns they wrap in their own column, not one word a line."""
    table = Table()
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    if wide:  # the URL keeps room for a host; the alerts wrap instead
        table.add_column("base url", overflow="fold", min_width=26)
        table.add_column("auth", no_wrap=True)
    table.add_column("owner", no_wrap=True, max_width=14, overflow="ellipsis")
    table.add_column("health", no_wrap=True)
    table.add_column("alerts", ratio=1, min_width=12 if wide else 30)
    for r in rows:
        cells = [r["name"], r["kind"]]
        if wide:
            cells += [r["base_url"], r["auth_type"]]
        cells += [r["owner"] or "", r["health"], "; ".join(r["alerts"])]
        table.add_row(*cells)
    return table


@connections_app.command("add")
def connections_add(
    name: str,
    kind: str = typer.Option(..., help="connector kind, e.g. helpdesk"),
    base_url: str = typer.Option(..., help="the system's API root"),
    auth: str = typer.Option(
        "none",
        help="none | bearer | basic | api_key | zendesk_token | oauth2_client_credentials | oauth2_refresh_token",
    ),
    credential: list[str] = typer.Option(
        [], help="KEY=VALUE (repeat); or KEY=env:VAR to read an environment variable"
    ),
    owner: str | None = typer.Option(None, help="who owns this connection"),
    config: str | None = typer.Option(
        None,
        "--config",
        help='the kind\'s settings as a JSON object, e.g. \'{"spec": URL, "header": "api_key"}\' for openapi, '
        "'{\"confirmed_read_only\": [TOOL]}' for mcp, '{\"token_url\": URL}' for OAuth2",
    ),
) -> None:
    """Add a connection: a system's kind, its API root and how to sign in (credentials stored encrypted)."""
    from app.services.connections import add_connection
    from app.services.errors import ServiceError

    settings = _config_option(config)
    creds = _credentials_option(credential)
    c = _container(create=True, secret=True)
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
            config=settings,
            owner=owner or _me(),
            actor=_me(),
            allow_private=c.settings.allow_private_network,  # beside the demo: its loopback reach
        )
    except ServiceError as exc:
        _fail(exc.message)
    console.print(f"added connection {name} ({kind})")


def _credentials_option(items: list[str]) -> dict[str, str]:
    """`--credential KEY=VALUE` (or KEY=env:VAR) options as a dict, or a clear error."""
    creds: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            _fail(f"--credential {item!r} is not KEY=VALUE")
        if value.startswith("env:"):
            var = value[4:]
            if var not in os.environ:
                _fail(f"environment variable {var} is not set")
            value = os.environ[var]
        creds[key] = value
    return creds


@connections_app.command("update")
def connections_update(
    name: str,
    base_url: str | None = typer.Option(None, help="a new API root"),
    auth: str | None = typer.Option(None, help="a new auth type (then --credential gives its whole set)"),
    credential: list[str] = typer.Option(
        [], help="KEY=VALUE (repeat) replacing that key, e.g. a rotated token; KEY=env:VAR reads a variable"
    ),
    owner: str | None = typer.Option(None, help="who owns this connection now"),
    config: str | None = typer.Option(
        None, "--config", help="JSON object: its keys replace the config's; a null removes one"
    ),
) -> None:
    """Edit a connection (rotate a key, move its URL, change a setting); running workers and the
    API use the new settings within seconds. Every edit is audited, credential values never."""
    from app.services.connections import update_connection
    from app.services.errors import ServiceError

    settings = _config_option(config)
    creds = _credentials_option(credential)
    c = _container(secret=True)
    try:
        changed = update_connection(
            c.db,
            c.box,
            name,
            base_url=base_url,
            auth_type=auth,
            credentials=creds,
            config=settings,
            owner=owner,
            actor=_me(),
            allow_private=c.settings.allow_private_network,
        )
    except ServiceError as exc:
        _fail(exc.message)
        return
    if not changed:
        console.print(f"{name}: nothing to change")
        return
    console.print(
        f"updated connection {name}: {', '.join(changed)}; test it with `switchboard connections test {name}`"
    )


@connections_app.command("remove")
def connections_remove(
    name: str,
    yes: bool = typer.Option(False, "--yes", help="do not ask"),
) -> None:
    """Take a connection out (refused while writes on it wait or run); its standing rules are revoked."""
    from app.services.connections import remove_connection
    from app.services.errors import ServiceError

    if not yes and not typer.confirm(f"remove connection {name} and revoke its standing rules?"):
        _fail("nothing removed")
    c = _container()
    try:
        remove_connection(c.db, name, actor=_me())
    except ServiceError as exc:
        _fail(exc.message)
        return
    console.print(f"removed connection {name}")


def _config_option(text: str | None) -> dict[str, Any]:
    """`--config` as a JSON object, or a clear error naming the option."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        _fail(f"--config is not valid JSON: {exc}")
        raise
    if not isinstance(value, dict):
        _fail(f"--config must be a JSON object ({{...}}), not {type(value).__name__}")
    return value  # type: ignore[no-any-return]


@connections_app.command("test")
def connections_test(
    name: str,
    live: bool = typer.Option(
        False, "--live", help="run the read-only checks against the real service (needs its key)"
    ),
) -> None:
    """Check a connection: build its connector and call its check (--live: the read-only checks too)."""
    from app.services.errors import ServiceError

    c = _container(secret=True)

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
    retried = _retries_said(result.get("retries") or [])
    if result["health"] == "ok":
        console.print(f"[green]{name}: ok[/green]{retried}", soft_wrap=True)
    else:
        _fail(f"{name}: {result['error']}{retried}")


def _retries_said(retries: list[dict[str, Any]]) -> str:
    """' (after 2 retries: 429, 429; waited 2 s)', or nothing."""
    if not retries:
        return ""
    causes = ", ".join(str(e.get("status") or e.get("error") or "?") for e in retries)
    waited = sum(float(e.get("wait_seconds") or 0) for e in retries)
    n = len(retries)
    return f" (after {n} retr{'ies' if n != 1 else 'y'}: {causes}; waited {waited:g} s)"


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
def tokens_create(
    name: str = typer.Option(..., "--name", help="who the token is for"),
    role: str = typer.Option(..., "--role", help="viewer, operator, approver or admin"),
) -> None:
    """Create an API token; it is printed once."""
    from app.services.auth import create_token
    from app.services.errors import ServiceError

    c = _container(create=True)
    c.db.upgrade()
    try:
        _, token = create_token(c.db, name, role, actor=_me())
    except ServiceError as exc:
        _fail(exc.message)
        return
    console.print(token, soft_wrap=True)


@tokens_app.command("list")
def tokens_list() -> None:
    """The API tokens: id, name, role, expiry, last use, revoked (never the token itself)."""
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
    """Revoke a token by the id `tokens list` shows: it stops signing in at once."""
    from app.services.auth import revoke_token
    from app.services.errors import ServiceError
    from app.services.lookup import unique_id

    c = _container()
    try:
        token_id = unique_id(c.db, "token", token_id.rstrip("…"), "token")  # as `tokens list` shows it
        revoke_token(c.db, token_id, actor=_me())
    except ServiceError as exc:
        _fail(f"{exc.message} (give the id `switchboard tokens list` shows, not the name)")
    console.print(f"revoked {token_id}")


def main() -> None:
    app()
