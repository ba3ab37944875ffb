"""Throughput against the ideal: one worker advancing N runs at once, and 1 → 2 → 4 workers.

The model sleeps 200 ms per call (no CPU), as a hosted model's latency would.
One ticket: classify → draft → one reply proposed; approved; the reply is
posted to the help desk (its simulator, in-process) → the model's closing
word: 4 model calls. Ideal = concurrency ÷ (4 × 0.2 s) tickets per second.
Approvals are made in the measuring process while the workers run, as
approvers would. CPU per ticket is every process's CPU (workers, approver)
divided by the tickets.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import time
import uuid
from pathlib import Path
from typing import Any

from bench.report import Options, Section

LATENCY = 0.2
CALLS_PER_TICKET = 4  # classify, draft, act (proposes the reply), the closing answer


class LatencyModel:
    """Answers the triage prompts after `latency` seconds of waiting, spending no CPU on thinking."""

    name = "bench"

    def __init__(self, latency: float = LATENCY):
        self.latency = latency
        self.calls = 0

    async def complete(self, request: Any) -> Any:
        from app.llm.base import ModelResponse, ToolCall, Usage

        self.calls += 1
        await asyncio.sleep(self.latency)
        usage = Usage(input_tokens=200, output_tokens=40)
        prompt = request.prompt or ""
        if prompt.startswith("triage/classify"):
            out = {
                "category": "billing",
                "priority": "high",
                "sentiment": "negative",
                "language": "en",
                "confidence": 0.93,
                "rationale": "a double charge",
            }
            return ModelResponse(output=out, usage=usage, model="bench")
        if prompt.startswith("triage/draft"):
            out = {"body": "Thanks, we have refunded the duplicate charge.", "sources": [], "grounded": True}
            return ModelResponse(output=out, usage=usage, model="bench")
        if any(m.role == "tool" for m in request.messages):
            return ModelResponse(content="Replied.", usage=usage, model="bench")
        ticket = request.variables["ticket"]["external_id"]
        call = ToolCall(
            id="reply",
            name="helpdesk__add_comment",
            arguments={"ticket_id": int(ticket), "body": "Thanks, we have refunded it.", "public": True},
        )
        return ModelResponse(tool_calls=[call], stop_reason="tool_use", usage=usage, model="bench")


def _tickets(sim: Any, n: int) -> None:
    """The same `n` tickets in every process's help desk (ids 1..n, after any seeded ones)."""
    state = sim.state.helpdesk
    for i in range(n):
        state.create_ticket(
            {
                "subject": f"Charged twice #{i}",
                "comment": {"body": "I was billed twice this month, please refund one."},
                "requester": {"email": f"customer{i}@example.com", "name": f"Customer {i}"},
            },
            author_id=None,
        )


def _container(db_url: str, workdir: Path, concurrency: int, *, migrate: bool) -> tuple[Any, Any]:
    import httpx

    from app.config import Settings
    from app.main import Container
    from connectors.helpdesk.simulator import create_app

    sim = create_app(seed=False)
    settings = Settings.model_validate(
        {
            "DATABASE_URL": db_url,
            "SWITCHBOARD_DATA_DIR": str(workdir),
            "SWITCHBOARD_SECRET_KEY": "bench-throughput-key",
            "SWITCHBOARD_ALLOW_PRIVATE_NETWORK": "1",
            "SWITCHBOARD_WORKER_CONCURRENCY": str(concurrency),
            "SWITCHBOARD_MODEL_CONCURRENCY": str(concurrency),
            "SWITCHBOARD_POLL_SECONDS": "0.05",
        }
    )
    c = Container(settings, model_override=LatencyModel(), transport=httpx.ASGITransport(app=sim))
    if migrate:
        from app.services.connections import add_connection

        c.db.upgrade()
        add_connection(
            c.db,
            c.box,
            name="helpdesk",
            kind="helpdesk",
            base_url="http://helpdesk.sim",
            auth_type="zendesk_token",
            credentials={"email": "bench@example.com", "token": "bench-token"},
            owner="bench",
        )
    return c, sim


def _submit(c: Any, first: int, n: int) -> list[str]:
    from app.services import intake

    ids = []
    for i in range(first, first + n):
        payload = {
            "subject": f"Charged twice #{i}",
            "body": "I was billed twice this month, please refund one.",
            "requester_email": f"customer{i - 1}@example.com",
            "external_id": i,
        }
        ids.append(
            intake.submit(c.db, kind="ticket", run_kind="triage", payload=payload, source="api", actor="b")[0]
        )
    return ids


async def _approve_until_done(c: Any, run_ids: list[str], timeout: float) -> int:
    """Approve each proposed reply as it appears; returns how many runs succeeded."""
    from sqlalchemy import func, select

    from app.services import approvals
    from app.services.auth import Principal
    from app.store.tables import Action, Run

    who = Principal("bench-approver", "approver")

    def step() -> int:
        with c.db.session() as s:
            pending = s.scalars(select(Action.id).where(Action.status == "pending")).all()
        for action_id in pending:
            approvals.approve(c.db, action_id, who, c.pool.catalogue)
        if pending:
            c.wake()
        with c.db.session() as s:
            return int(
                s.scalar(select(func.count()).where(Run.id.in_(run_ids), Run.status == "succeeded")) or 0
            )

    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        done = await asyncio.to_thread(step)
        if done >= len(run_ids):
            break
        await asyncio.sleep(0.1)
    return done


async def _one_process(db_url: str, workdir: Path, concurrency: int, tickets: int) -> dict[str, float]:
    c, sim = _container(db_url, workdir, concurrency, migrate=True)
    warm = max(2, concurrency // 4)
    _tickets(sim, warm + tickets)
    stop = asyncio.Event()
    worker = asyncio.create_task(c.worker().run(stop))
    # warm up (imports, the catalogue, the classifier's caches), then measure
    await _approve_until_done(c, _submit(c, 1, warm), 60)
    calls0 = c.model.calls
    cpu0, t0 = time.process_time(), time.perf_counter()
    ids = _submit(c, warm + 1, tickets)
    done = await _approve_until_done(c, ids, 180)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stop.set()
    await worker
    await c.pool.aclose()
    c.db.dispose()
    return {"done": done, "wall": wall, "cpu": cpu, "calls": (c.model.calls - calls0) / max(done, 1)}


def _worker_process(db_url: str, workdir: str, concurrency: int, tickets: int, go: Any, out: Any) -> None:
    async def main() -> None:
        c, sim = _container(db_url, Path(workdir), concurrency, migrate=False)
        _tickets(sim, tickets)
        await c.pool.load()
        stop = asyncio.Event()
        go.wait()
        cpu0 = time.process_time()
        worker = asyncio.create_task(c.worker().run(stop))
        while not os.path.exists(Path(workdir) / "stop"):
            await asyncio.sleep(0.05)
        stop.set()
        await worker
        out.put(time.process_time() - cpu0)
        await c.pool.aclose()

    asyncio.run(main())


async def _many_processes(
    db_url: str, workdir: Path, procs: int, concurrency: int, tickets: int
) -> dict[str, float]:
    c, _ = _container(db_url, workdir, concurrency, migrate=True)
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    (workdir / "stop").unlink(missing_ok=True)
    workers = [
        ctx.Process(target=_worker_process, args=(db_url, str(workdir), concurrency, tickets, go, out))
        for _ in range(procs)
    ]
    for p in workers:
        p.start()
    await asyncio.sleep(4.0)  # let them import and start
    cpu0, t0 = time.process_time(), time.perf_counter()
    ids = _submit(c, 1, tickets)
    go.set()
    done = await _approve_until_done(c, ids, 180)
    wall = time.perf_counter() - t0
    (workdir / "stop").touch()
    cpu = time.process_time() - cpu0 + sum(out.get(timeout=120) for _ in workers)
    for p in workers:
        p.join(30)
    c.db.dispose()
    return {"done": done, "wall": wall, "cpu": cpu}


def _pg_schema(base: str) -> tuple[str, Any]:
    from urllib.parse import quote

    from sqlalchemy import create_engine, text

    from app.store.db import normalize_url

    base = normalize_url(base)
    schema = f"bench_tp_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}", drop


def _row(label: Any, concurrency: int, r: dict[str, float]) -> list[Any]:
    ideal = concurrency / (CALLS_PER_TICKET * LATENCY)
    rate = r["done"] / r["wall"]
    return [
        label,
        concurrency,
        int(r["done"]),
        f"{rate:.1f}",
        f"{ideal:.1f}",
        f"{rate / ideal:.2f}",
        f"{1000 * r['cpu'] / max(r['done'], 1):.0f}",
    ]


def _single(options: Options) -> Section:
    section = Section(
        "Throughput, one worker process (model 200 ms a call)",
        ["database", "concurrency", "tickets", "tickets/s", "ideal/s", "of ideal", "CPU ms/ticket"],
    )
    levels = [1, 8, 32]
    for db_name in ["sqlite", "postgresql"] if options.postgres_url else ["sqlite"]:
        for n in levels:
            tickets = max(4, n * (2 if options.quick else 4))
            workdir = options.workdir / f"throughput-{db_name}-{n}-{uuid.uuid4().hex[:6]}"
            workdir.mkdir(parents=True, exist_ok=True)
            if db_name == "sqlite":
                url, drop = f"sqlite:///{(workdir / 'bench.db').resolve()}", None
            else:
                assert options.postgres_url
                url, drop = _pg_schema(options.postgres_url)
            try:
                r = asyncio.run(_one_process(url, workdir, n, tickets))
            finally:
                if drop:
                    drop()
            section.rows.append(_row(db_name, n, r))
            section.notes.append(f"{db_name} at {n}: {r['calls']:.1f} model calls per ticket")
    section.notes.append(
        f"ideal = concurrency ÷ ({CALLS_PER_TICKET} calls × {LATENCY * 1000:.0f} ms); CPU is the whole "
        "process (worker, store threads, in-process help desk and the approver)"
    )
    if not options.postgres_url:
        section.notes.append("no PostgreSQL (--postgres / TEST_DATABASE_URL): SQLite only")
    section.notes.append(_load())
    return section


def _load() -> str:
    """Other work on the machine takes the CPU these figures need: say how much there was."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPU cores; load average {one:.1f} (1 min), {five:.1f} (5 min) at the end"


def _scaling(options: Options) -> Section:
    per = 4
    section = Section(
        f"Worker scaling on PostgreSQL ({per} runs at once per worker process)",
        [
            "workers",
            "concurrency",
            "tickets",
            "tickets/s",
            "ideal/s",
            "of ideal",
            "CPU ms/ticket",
            "× previous",
        ],
    )
    if not options.postgres_url:
        section.notes.append("skipped: no PostgreSQL (pass --postgres URL or set TEST_DATABASE_URL)")
        return section
    previous = None
    for procs in (1, 2, 4):
        workdir = options.workdir / f"scaling-{procs}-{uuid.uuid4().hex[:6]}"
        workdir.mkdir(parents=True, exist_ok=True)
        url, drop = _pg_schema(options.postgres_url)
        tickets = procs * per * (3 if options.quick else 6)
        try:
            r = asyncio.run(_many_processes(url, workdir, procs, per, tickets))
        finally:
            drop()
        rate = r["done"] / r["wall"]
        row = _row(procs, procs * per, r)
        row.append(f"{rate / previous:.2f}" if previous else "")
        previous = rate
        section.rows.append(row)
    section.notes.append("the approver runs in the measuring process; " + _load())
    return section


def run(options: Options) -> list[Section]:
    return [_single(options), _scaling(options)]
