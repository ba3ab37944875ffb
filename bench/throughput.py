"""Throughput against the ideal: one worker advancing N runs at once, and 1 → 2 → 4 workers.

The model sleeps 200 ms per call (no CPU), as a hosted model's latency would.
One ticket: classify → draft → one reply proposed; approved; the reply is
posted to the help desk → the model's closing word: 4 model calls.
Ideal = concurrency ÷ (4 × 0.2 s) tickets per second.

Everything runs as it is deployed: each worker is a process of its own
(`Container.worker()`, as `switchboard worker` runs it); the help desk is a
remote system (its simulator served by uvicorn in another process, reached over
loopback HTTP); approvals are made in the measuring process while the workers
run, as approvers using the API would. Switchboard's CPU per ticket is the
workers' and the approver's CPU divided by the tickets; the help desk's own CPU
is reported beside it, since on this machine it takes the same cores.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from bench import pg
from bench.report import Options, Section

LATENCY = 0.2
CALLS_PER_TICKET = 4  # classify, draft, act (proposes the reply), the closing answer
# (worker processes, runs at once in each): one worker at 1, 8 and 32, and 32 over two workers
LEVELS = ((1, 1), (1, 8), (1, 32), (2, 16))
WORKERS = (1, 2, 4)
PER_WORKER = 4  # runs at once per worker process in the scaling section


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_help_desk(port: int, tickets: int) -> None:
    """The help desk's simulator with tickets 1..`tickets`, served over loopback HTTP."""
    import uvicorn

    from connectors.helpdesk.simulator import create_app

    sim = create_app(seed=False)
    for i in range(tickets):
        sim.state.helpdesk.create_ticket(
            {
                "subject": f"Charged twice #{i}",
                "comment": {"body": "I was billed twice this month, please refund one."},
                "requester": {"email": f"customer{i}@example.com", "name": f"Customer {i}"},
            },
            author_id=None,
        )
    uvicorn.run(sim, host="127.0.0.1", port=port, log_level="warning", access_log=False)


class HelpDesk:
    """The help desk in a process of its own; `cpu()` is its CPU once it has stopped."""

    def __init__(self, tickets: int):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = mp.get_context("spawn").Process(target=_serve_help_desk, args=(self.port, tickets))

    def __enter__(self) -> HelpDesk:
        import httpx

        self.process.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.process.is_alive():
                raise RuntimeError(f"the help desk simulator exited with {self.process.exitcode}")
            try:
                httpx.get(f"{self.url}/api/v2/tickets/1.json", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the help desk simulator did not answer on {self.url} within 60 s")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(30)

    def cpu(self) -> float | None:
        """Its CPU so far, in seconds, where the system says (Linux's /proc); else None."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _container(db_url: str, workdir: Path, concurrency: int, help_desk: str, *, migrate: bool) -> Any:
    from app.config import Settings
    from app.main import Container

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
    c = Container(settings, model_override=LatencyModel())
    if migrate:
        from app.services.connections import add_connection

        c.db.upgrade()
        add_connection(
            c.db,
            c.box,
            name="helpdesk",
            kind="helpdesk",
            base_url=help_desk,
            auth_type="zendesk_token",
            credentials={"email": "bench@example.com", "token": "bench-token"},
            owner="bench",
            allow_private=True,
        )
    return c


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
        with c.db.reading() as conn:
            pending = conn.scalars(select(Action.id).where(Action.status == "pending")).all()
            done = conn.scalar(select(func.count()).where(Run.id.in_(run_ids), Run.status == "succeeded"))
        for action_id in pending:
            approvals.approve(c.db, action_id, who, c.pool.catalogue)
        return int(done or 0)

    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        done = await asyncio.to_thread(step)
        if done >= len(run_ids):
            break
        await asyncio.sleep(0.05)
    return done


def _store_seconds() -> dict[str, float]:
    """This process's store waits so far (app.observability.metrics): runs on store calls, and
    units of work on SQLite's writer turn."""
    from app.observability.metrics import REGISTRY

    totals = {"store": 0.0, "writer": 0.0}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == "switchboard_store_call_seconds_sum":
                totals["store"] += sample.value
            elif sample.name == "switchboard_sqlite_writer_wait_seconds_sum":
                totals["writer"] += sample.value
    return totals


def _worker_process(db_url: str, workdir: str, concurrency: int, help_desk: str, out: Any) -> None:
    """One `switchboard worker`: advances runs until the stop file appears; reports the CPU it
    spent and its runs' store waits between the measure file and the stop file."""
    flags = Path(workdir)

    async def main() -> None:
        c = _container(db_url, flags, concurrency, help_desk, migrate=False)
        await c.pool.load()
        stop = asyncio.Event()
        worker = asyncio.create_task(c.worker().run(stop))
        cpu0, waits0 = None, _store_seconds()
        while not (flags / "stop").exists():
            if cpu0 is None and (flags / "measure").exists():
                cpu0, waits0 = time.process_time(), _store_seconds()
            await asyncio.sleep(0.02)
        cpu, waits = time.process_time() - (cpu0 or 0.0), _store_seconds()
        stop.set()
        await worker
        out.put({"cpu": cpu, **{k: waits[k] - waits0[k] for k in waits}})
        await c.pool.aclose()

    asyncio.run(main())


async def _measure(
    db_url: str, workdir: Path, procs: int, concurrency: int, tickets: int
) -> dict[str, float]:
    """`procs` workers of `concurrency` runs each: a warm-up, then `tickets` submitted at once."""
    warm = max(2, procs * concurrency // 4)
    with HelpDesk(warm + tickets) as desk:
        c = _container(db_url, workdir, concurrency, desk.url, migrate=True)
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        for flag in ("measure", "stop"):
            (workdir / flag).unlink(missing_ok=True)
        workers = [
            ctx.Process(target=_worker_process, args=(db_url, str(workdir), concurrency, desk.url, out))
            for _ in range(procs)
        ]
        for p in workers:
            p.start()
        # warm up (imports, the catalogue, the classifier's caches, the first connections)
        warmed = await _approve_until_done(c, _submit(c, 1, warm), 120)
        if warmed < warm:
            raise RuntimeError(f"the warm-up finished {warmed} of {warm} tickets")
        calls0 = await asyncio.to_thread(_model_calls, c)
        (workdir / "measure").touch()
        await asyncio.sleep(0.1)  # every worker has seen the measure flag
        desk_cpu0 = desk.cpu()
        cpu0, t0 = time.process_time(), time.perf_counter()
        ids = _submit(c, warm + 1, tickets)
        done = await _approve_until_done(c, ids, 180)
        wall = time.perf_counter() - t0
        (workdir / "stop").touch()
        approver_cpu = time.process_time() - cpu0
        reports = [out.get(timeout=120) for _ in workers]
        worker_cpu = sum(r["cpu"] for r in reports)
        for p in workers:
            p.join(30)
        desk_cpu1 = desk.cpu()
        calls = (await asyncio.to_thread(_model_calls, c) - calls0) / max(done, 1)
        steady = await asyncio.to_thread(_steady_rate, c, ids)
        c.db.dispose()
    desk_cpu = None if desk_cpu0 is None or desk_cpu1 is None else desk_cpu1 - desk_cpu0
    return {
        "done": done,
        "wall": wall,
        "cpu": approver_cpu + worker_cpu,
        "worker_cpu": worker_cpu,
        "desk_cpu": desk_cpu,
        "calls": calls,
        "steady": steady,
        "store": sum(r["store"] for r in reports),
        "writer": sum(r["writer"] for r in reports),
    }


def _steady_rate(c: Any, run_ids: list[str]) -> float | None:
    """Tickets a second once every slot is busy: the least-squares slope of completions over time
    between the 10th and the 90th percentile of them. The whole-run rate also counts the start
    (slots filling) and the end (the last runs finishing while slots stand idle); a slope over
    the middle is not moved by the bursts in which completions arrive, as two end points are."""
    from sqlalchemy import select

    from app.store.tables import Run

    with c.db.read() as s:
        ends = sorted(
            s.scalars(select(Run.updated_at).where(Run.id.in_(run_ids), Run.status == "succeeded")).all()
        )
    middle = ends[int(0.1 * len(ends)) : int(0.9 * len(ends))]
    if len(middle) < 8:
        return None
    t = [(e - middle[0]).total_seconds() for e in middle]
    n = list(range(len(middle)))
    mean_t, mean_n = sum(t) / len(t), sum(n) / len(n)
    spread = sum((x - mean_t) ** 2 for x in t)
    if spread <= 0:
        return None
    return sum((x - mean_t) * (y - mean_n) for x, y in zip(t, n, strict=True)) / spread


def _model_calls(c: Any) -> int:
    """Model calls so far, from the runs' own steps (the workers' models are in their processes)."""
    from sqlalchemy import func, select

    from app.store.tables import Step

    with c.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Step).where(Step.kind == "model_call")) or 0)


def _run(
    options: Options, db_name: str, label: str, procs: int, concurrency: int, tickets: int
) -> dict[str, float]:
    workdir = options.workdir / f"throughput-{label}-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True, exist_ok=True)
    if db_name == "sqlite":
        return asyncio.run(
            _measure(f"sqlite:///{(workdir / 'bench.db').resolve()}", workdir, procs, concurrency, tickets)
        )
    assert options.postgres_url
    with pg.schema(options.postgres_url) as url:
        return asyncio.run(_measure(url, workdir, procs, concurrency, tickets))


def _row(label: Any, concurrency: int, r: dict[str, float]) -> list[Any]:
    ideal = concurrency / (CALLS_PER_TICKET * LATENCY)
    rate = r["done"] / r["wall"]
    per = max(r["done"], 1)
    desk = "" if r["desk_cpu"] is None else f"{1000 * r['desk_cpu'] / per:.0f}"
    steady = "" if r.get("steady") is None else f"{r['steady'] / ideal:.2f}"
    return [
        label,
        concurrency,
        int(r["done"]),
        f"{rate:.1f}",
        f"{ideal:.1f}",
        f"{rate / ideal:.2f}",
        steady,
        f"{1000 * r['cpu'] / per:.0f}",
        desk,
        f"{1000 * r['store'] / per:.0f}",
    ]


COLUMNS = [
    "tickets",
    "tickets/s",
    "ideal/s",
    "of ideal",
    "of ideal, steady",
    "CPU ms/ticket",
    "help desk CPU ms/ticket",
    "store wait ms/ticket",
]


def _single(options: Options) -> Section:
    section = Section("Throughput (model 200 ms a call)", ["database", "workers", "concurrency", *COLUMNS])
    for db_name in ["sqlite", "postgresql"] if options.postgres_url else ["sqlite"]:
        for procs, each in LEVELS:
            n = procs * each
            tickets = max(4, n * (2 if options.quick else 8))
            r = _run(options, db_name, f"{db_name}-{procs}x{each}", procs, each, tickets)
            section.rows.append([db_name, *_row(procs, n, r)])
            note = f"{db_name}, {procs} × {each}: {r['calls']:.1f} model calls per ticket"
            if db_name == "sqlite":
                note += f"; {1000 * r['writer'] / max(r['done'], 1):.0f} ms of the store wait on SQLite's writer turn"
            section.notes.append(note)
    section.notes.append(
        f"ideal = concurrency ÷ ({CALLS_PER_TICKET} calls × {LATENCY * 1000:.0f} ms); CPU is the worker "
        "processes' and the approver's; the help desk simulator runs in a process of its own"
    )
    section.notes.append(
        "of ideal: all tickets over the whole run, from submission to the last one done; steady: the "
        "slope of completions over time between their 10th and 90th percentile, once every slot is busy"
    )
    section.notes.append(
        "store wait: the time a ticket's runs waited on their store calls (claims, steps, status), "
        "summed over its passes, from the workers' switchboard_store_call_seconds: a free store "
        f"thread, SQLite's writer turn, the database; beside the {CALLS_PER_TICKET} × "
        f"{LATENCY * 1000:.0f} ms of model time"
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
    section = Section(
        f"Worker scaling on PostgreSQL ({PER_WORKER} runs at once per worker process)",
        ["workers", "concurrency", *COLUMNS, "× previous"],
    )
    if not options.postgres_url:
        section.notes.append("skipped: no PostgreSQL (pass --postgres URL or set TEST_DATABASE_URL)")
        return section
    previous = None
    for procs in WORKERS:
        tickets = procs * PER_WORKER * (3 if options.quick else 6)
        r = _run(options, "postgresql", f"scaling-{procs}", procs, PER_WORKER, tickets)
        rate = r["done"] / r["wall"]
        row = _row(procs, procs * PER_WORKER, r)
        row.append(f"{rate / previous:.2f}" if previous else "")
        previous = rate
        section.rows.append(row)
    section.notes.append("the approver runs in the measuring process; " + _load())
    return section


def run(options: Options) -> list[Section]:
    return [_single(options), _scaling(options)]
