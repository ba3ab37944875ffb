"""What watching costs: a /metrics scrape with 5,000 pending approvals, and the wrappers per call.

`python -m bench --only observability [--quick]`. The scrape reads its gauges from the
database (a handful of aggregate queries); it is timed on SQLite and, where a PostgreSQL
URL is given, on PostgreSQL, with the statements per scrape counted. The wrappers are timed
per model call and per tool call: bare, instrumented with tracing off (the default), and
with tracing on (spans to an in-memory exporter, so the export itself is not measured).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from prometheus_client import generate_latest
from sqlalchemy import event, insert

from bench import pg
from bench.report import Options, Section

PENDING = 5_000


@contextmanager
def _database(url: str | None, workdir: Any) -> Iterator[Any]:
    from app.store.db import Database

    if url is None:
        path = workdir / f"observability-{uuid.uuid4().hex[:8]}.db"
        db = Database(f"sqlite:///{path}")
        try:
            yield db
        finally:
            db.dispose()
            path.unlink(missing_ok=True)
        return
    with pg.schema(url) as schema_url:
        db = Database(schema_url)
        try:
            yield db
        finally:
            db.dispose()


def _seed(db: Any, pending: int) -> None:
    """`pending` runs waiting with one pending action each, as many finished runs, a few queued."""
    from app.store.tables import Action, Run, new_id, utcnow

    now = utcnow()
    runs, actions = [], []
    for i in range(pending):
        run_id = new_id()
        runs.append({"id": run_id, "kind": "triage", "status": "waiting_approval", "input": {}})
        runs.append({"id": new_id(), "kind": "triage", "status": "succeeded", "input": {}})
        actions.append(
            {
                "id": new_id(),
                "run_id": run_id,
                "tool_call_id": "c1",
                "tool": "helpdesk__add_comment",
                "connection": "helpdesk",
                "operation": "add_comment",
                "arguments": {"ticket_id": i, "body": "Thanks, we have refunded the duplicate charge."},
                "proposed_arguments": {},
                "status": "pending",
                "created_at": now - timedelta(seconds=i),
            }
        )
    runs += [{"id": new_id(), "kind": "chat", "status": "queued", "input": {}} for _ in range(50)]
    with db.session() as s:
        s.execute(insert(Run), runs)
        s.execute(insert(Action), actions)


def _scrape(db: Any, rounds: int) -> tuple[list[float], int]:
    from app.api import metrics

    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    times = []
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            metrics.refresh(db)
            generate_latest(metrics.REGISTRY)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return times, statements[0] // rounds


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scrape_section(options: Options) -> Section:
    section = Section(
        f"/metrics scrape with {PENDING:,} pending approvals",
        ["database", "p50 ms", "p95 ms", "SQL statements per scrape"],
    )
    rounds = 20 if options.quick else 100
    for label, url in (("SQLite", None), ("PostgreSQL", options.postgres_url)):
        if label == "PostgreSQL" and url is None:
            section.notes.append("PostgreSQL skipped: pass --postgres URL or set TEST_DATABASE_URL")
            continue
        with _database(url, options.workdir) as db:
            db.upgrade()
            _seed(db, PENDING)
            _scrape(db, 3)  # warm
            times, statements = _scrape(db, rounds)
        section.rows.append(
            [label, f"{statistics.median(times):.1f}", f"{_pct(times, 0.95):.1f}", statements]
        )
    section.notes.append(
        f"{2 * PENDING + 50:,} runs ({PENDING:,} waiting, one pending action each); refresh + text exposition; "
        f"{rounds} scrapes"
    )
    return section


async def _per_call(call: Callable[[], Awaitable[Any]], n: int) -> float:
    """µs per call, the best of three rounds (the machine may be busy with other work)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            await call()
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


async def _wrappers(n: int) -> list[list[Any]]:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from app.llm.base import ModelRequest
    from app.llm.scripted import ScriptedModel, text
    from app.observability import tracing
    from app.observability.context import bound_run
    from app.observability.instrument import instrumented_tool, traced_model
    from tools.base import Tool

    request = ModelRequest(system="s", messages=[], prompt="bench@v1")
    model = ScriptedModel(fallback=text("ok"))
    traced = traced_model(model)

    async def read(arguments: dict[str, Any], key: str | None) -> Any:
        return {"ok": True}

    tool = Tool("desk__read", "desk", "read", "read", {"type": "object"}, "read", "none", read)
    wrapped = instrumented_tool(tool)

    async def measure() -> list[float]:
        return [
            await _per_call(lambda: traced.complete(request), n),
            await _per_call(lambda: wrapped.invoke({}, None), n),
        ]

    bare = [await _per_call(lambda: model.complete(request), n), await _per_call(lambda: read({}, None), n)]
    off = await measure()
    exporter = InMemorySpanExporter()
    tracing.use_provider(tracing.tracer_provider(SimpleSpanProcessor(exporter)))
    try:
        with bound_run(uuid.uuid4().hex, "bench"):
            on = await measure()
    finally:
        tracing.shutdown()
    return [
        ["model call", f"{bare[0]:.1f}", f"{off[0] - bare[0]:+.1f}", f"{on[0] - bare[0]:+.1f}"],
        ["tool call", f"{bare[1]:.1f}", f"{off[1] - bare[1]:+.1f}", f"{on[1] - bare[1]:+.1f}"],
    ]


def wrapper_section(options: Options) -> Section:
    n = 2_000 if options.quick else 20_000
    section = Section(
        "Instrumentation per call (µs)",
        ["call", "bare", "added, tracing off", "added, tracing on"],
        rows=asyncio.run(_wrappers(n)),
    )
    section.notes.append(
        f"{n:,} calls each; a scripted model and a tool that returns at once, so the figures are the "
        "wrappers' own cost (counters always; spans only with tracing on, exported to memory)"
    )
    return section


def run(options: Options) -> list[Section]:
    return [scrape_section(options), wrapper_section(options)]
