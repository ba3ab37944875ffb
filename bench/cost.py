"""Framework cost per ticket: Switchboard against LangGraph (and DBOS) on the same ticket.

One ticket = classify → draft → one write waiting for approval → approve → the write
executes, with a zero-latency model, the help desk in-process and SQLite on disk
(bench/ticket_flow.py holds the work every variant shares). Each engine runs as a
whole process, paired and interleaved with the others, several rounds; the medians
are reported. `bare` is the same calls with no engine at all: what an engine costs
is its figure minus bare's.

`python -m bench.cost ENGINE TICKETS DIR` runs one process and prints its figures as JSON;
`python -m bench.cost switchboard TICKETS DIR POSTGRES_URL` runs Switchboard's on PostgreSQL (a
schema of its own, dropped after), where SQLite's statement counts and file size are not taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bench.report import Options, Section

TICKETS, QUICK_TICKETS = 300, 60
ROUNDS, QUICK_ROUNDS = 4, 2
WARM_UP = 10  # tickets run before the clock starts (imports, caches, the first connection)
ENGINES = {
    "switchboard": None,
    "langgraph": "langgraph.checkpoint.sqlite",
    "dbos": "dbos",
    "bare": None,
}

Timed = Callable[[Callable[[int], Awaitable[None]]], Awaitable[None]]


def timer(tickets: int, figures: dict[str, Any], before: Callable[[], None] = lambda: None) -> Timed:
    """Runs the warm-up tickets, then the measured ones under the wall clock and the CPU clock."""

    async def timed(one: Callable[[int], Awaitable[None]]) -> None:
        for i in range(WARM_UP):
            await one(i)
        before()
        wall, cpu, sys_cpu = time.perf_counter(), time.process_time(), os.times().system
        for i in range(WARM_UP, WARM_UP + tickets):
            await one(i)
        figures["wall_ms"] = (time.perf_counter() - wall) * 1000 / tickets
        figures["cpu_ms"] = (time.process_time() - cpu) * 1000 / tickets
        figures["sys_ms"] = (os.times().system - sys_cpu) * 1000 / tickets

    return timed


class SqlCounter:
    """Statements and commits on an engine; pausable. Statements are counted as SQLite runs them
    (its trace callback on every connection: BEGIN, COMMIT and PRAGMA included), so a statement
    sent on the raw connection counts as much as one sent through SQLAlchemy; commits are its
    COMMITs."""

    def __init__(self, engine: Any):
        from sqlalchemy import event

        self.statements = self.commits = 0
        self.on = False
        # A pool event, not an engine one: an engine event would make SQLAlchemy dispatch its
        # execute events around every statement, and the counting would cost the engine.
        event.listen(engine, "connect", self._trace)
        engine.dispose()  # connections opened from here on are traced

    def _trace(self, dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(self._statement)

    def _statement(self, sql: str) -> None:
        if self.on:
            self.statements += 1
            self.commits += sql == "COMMIT"

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        was, self.on = self.on, False
        try:
            yield
        finally:
            self.on = was


async def switchboard(tickets: int, workdir: Path, db_url: str | None = None) -> dict[str, Any]:
    from sqlalchemy import bindparam, func, select, text

    from app.services import approvals, intake
    from app.services.auth import Principal
    from app.store.tables import Action, AuditEntry, Run
    from bench import ticket_flow
    from bench.ticket_flow import help_desk, model, ticket_payload
    from evals.wiring import container

    url = db_url or f"sqlite:///{workdir / 'switchboard.db'}"
    c = container(url, workdir, model(), help_desk(WARM_UP + tickets))
    counter = SqlCounter(c.db.engine) if db_url is None else None
    paused = counter.paused if counter is not None else contextlib.nullcontext
    approver = Principal("pat", "approver")
    figures: dict[str, Any] = {}

    def count(what: Any) -> int:
        with paused(), c.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(what)) or 0)

    # The bench's own look-ups, built once (building a statement costs more than running it here).
    pending_action = select(Action.id).where(Action.run_id == bindparam("run_id"), Action.status == "pending")
    run_status = select(Run.status).where(Run.id == bindparam("run_id"))

    async def one(i: int) -> None:
        run_id, _ = intake.submit(
            c.db,
            kind="ticket",
            run_kind="triage",
            payload=ticket_payload(i),
            source="api",
            actor="api-client",
        )
        assert await c.orchestrator.run_once("bench") == run_id
        # The bench's own look-ups are reads (as the approval queue's are): no write lock, no commit,
        # on a plain connection (no Session), so the bench's own bookkeeping costs the engine little.
        with paused(), c.db.reading() as conn:
            action_id = conn.scalar(pending_action, {"run_id": run_id})
        approvals.approve(c.db, str(action_id), approver, c.pool.catalogue)
        assert await c.orchestrator.run_once("bench") == run_id
        with paused(), c.db.reading() as conn:
            status = conn.scalar(run_status, {"run_id": run_id})
        assert status == "succeeded", status

    audit_before = 0

    def start() -> None:
        nonlocal audit_before
        audit_before = count(AuditEntry)
        if counter is not None:
            counter.on = True

    await timer(tickets, figures, start)(one)
    if counter is not None:
        counter.on = False
    with c.db.session() as s:
        step_bytes = s.scalar(text("SELECT sum(length(CAST(data AS TEXT))) FROM steps")) or 0
    await c.pool.aclose()
    c.db.dispose()
    runs = WARM_UP + tickets
    figures.update(audit_rows=(count(AuditEntry) - audit_before) / tickets, step_bytes=step_bytes / runs)
    if counter is not None:
        figures.update(
            statements=counter.statements / tickets,
            commits=counter.commits / tickets,
            db_bytes=ticket_flow.stored_bytes(workdir / "switchboard.db") / runs,
        )
    return figures


async def langgraph(tickets: int, workdir: Path) -> dict[str, Any]:
    from bench.langgraph_flow import run_tickets
    from bench.ticket_flow import TicketWork, help_desk

    work = TicketWork(help_desk(WARM_UP + tickets))
    figures: dict[str, Any] = {}
    figures.update(
        await run_tickets(work, workdir / "langgraph.db", timer(tickets, figures), WARM_UP + tickets)
    )
    await work.aclose()
    return figures


async def dbos(tickets: int, workdir: Path) -> dict[str, Any]:
    from bench.dbos_flow import run_tickets
    from bench.ticket_flow import TicketWork, help_desk

    work = TicketWork(help_desk(WARM_UP + tickets))
    figures: dict[str, Any] = {}
    figures.update(await run_tickets(work, workdir / "dbos.db", timer(tickets, figures), WARM_UP + tickets))
    await work.aclose()
    return figures


async def bare(tickets: int, workdir: Path) -> dict[str, Any]:
    from bench import ticket_flow

    work = ticket_flow.TicketWork(ticket_flow.help_desk(WARM_UP + tickets))
    figures: dict[str, Any] = {}

    async def one(i: int) -> None:
        assert await ticket_flow.bare(work, i)

    await timer(tickets, figures)(one)
    await work.aclose()
    return figures


def child(engine: str, tickets: int, workdir: Path, postgres_url: str | None = None) -> dict[str, Any]:
    if postgres_url is not None:
        if engine != "switchboard":
            raise SystemExit(f"{engine} runs on SQLite only here; a PostgreSQL URL is for switchboard")
        from bench import pg

        with pg.schema(postgres_url) as url:
            return asyncio.run(switchboard(tickets, workdir, url))
    runner = {"switchboard": switchboard, "langgraph": langgraph, "dbos": dbos, "bare": bare}[engine]
    return asyncio.run(runner(tickets, workdir))


def available(engine: str) -> bool:
    module = ENGINES[engine]
    if module is None:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def one_process(engine: str, tickets: int, workdir: Path) -> dict[str, Any]:
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "bench.cost", engine, str(tickets), str(workdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{engine} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def median(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if key in r]
    return statistics.median(values) if values else None


def fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}{unit}"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}×"


def _rows(figures: dict[str, dict[str, float | None]], engines: list[str]) -> list[list[Any]]:
    def line(label: str, key: str, unit: str = " ms", digits: int = 1) -> list[Any]:
        values = [figures[e].get(key) for e in engines]
        sb, lg = figures["switchboard"].get(key), figures.get("langgraph", {}).get(key)
        return [label, *(fmt(v, unit, digits) for v in values), ratio(sb, lg)]

    return [
        line("wall per ticket (median)", "wall_ms"),
        line("CPU per ticket (median)", "cpu_ms"),
        line("framework wall per ticket (wall − bare)", "frame_wall_ms"),
        line("framework CPU per ticket (CPU − bare)", "frame_cpu_ms"),
        line("SQL statements per ticket (as SQLite ran them)", "statements", "", 1),
        line("commits per ticket", "commits", "", 1),
        line("audit rows per ticket", "audit_rows", "", 1),
        line("stored step bytes per ticket", "step_bytes", " B", 0),
        line("database bytes per ticket", "db_bytes", " B", 0),
    ]


def run(options: Options) -> Section:
    tickets = QUICK_TICKETS if options.quick else TICKETS
    rounds = QUICK_ROUNDS if options.quick else ROUNDS
    engines = [e for e in ENGINES if available(e)]
    missing = [e for e in ENGINES if e not in engines]
    results: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    for r in range(rounds):
        order = engines[r % len(engines) :] + engines[: r % len(engines)]  # interleaved, rotated each round
        for engine in order:
            results[engine].append(one_process(engine, tickets, options.workdir / "cost" / f"{engine}-{r}"))
    keys = ["wall_ms", "cpu_ms", "statements", "commits", "audit_rows", "step_bytes", "db_bytes"]
    figures = {e: {k: median(results[e], k) for k in keys} for e in engines}
    floor = figures["bare"]
    for e in engines:
        for k in ("wall_ms", "cpu_ms"):
            value, base = figures[e][k], floor[k]
            figures[e]["frame_" + k] = None if e == "bare" or value is None or base is None else value - base
    notes = [
        f"{tickets} tickets per process after {WARM_UP} warm-up tickets; {rounds} processes per engine, "
        "interleaved; medians over processes",
        "one ticket: 4 help-desk reads, classify, draft (one more read), one write proposed, approved, "
        "executed (exactly once, keyed), a last model turn; zero-latency model; SQLite on disk",
        "LangGraph: AsyncSqliteSaver, durability='sync' (each checkpoint written before the next node, "
        "as Switchboard commits a step before going on); the approval is interrupt() + Command(resume)",
        "DBOS Transact: each call a @DBOS.step, the approval a durable recv() after set_event(); "
        "on SQLite its waits poll (every 50 ms here; DBOS's default is 1 s), so its wall is mostly "
        "waiting (bench/dbos_flow.py)",
        "bare: the same calls with no engine and no storage; framework cost = engine − bare",
    ]
    if missing:
        notes.append(f"not measured here ({', '.join(missing)} not installed): pip install -e '.[bench]'")
    return Section(
        title="Framework cost per ticket (SQLite on disk, zero-latency model)",
        columns=["per ticket", *engines, "Switchboard ÷ LangGraph"],
        rows=_rows(figures, engines),
        notes=notes,
    )


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:5])))
