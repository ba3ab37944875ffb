"""The API under load: 5,000 pending approvals, 16 concurrent clients, a real server process.

`switchboard serve` (uvicorn) runs in its own process on SQLite on disk and, where
`--postgres` / BENCH_DATABASE_URL / TEST_DATABASE_URL names one, on PostgreSQL. The
database is seeded through the store in bulk (runs waiting for approval with two or
three proposed writes each, plus decided history), not by model runs, and on
PostgreSQL analysed, as autovacuum would within its first minute. Each scenario
is 16 httpx clients, each with its own connection, issuing requests back to back;
the table gives p50/p95 of the wall time each request took. Tickets are then posted
while a `switchboard worker` process is busy advancing queued tickets through
classify → draft → act against the help desk's simulator (its own process too).

Targets (issue 13 item 5): p95 < 150 ms for the lists on both databases; tickets
accepted at p95 < 100 ms while a worker is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text

from bench import pg
from bench.report import Options, Section

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 16
# `switchboard serve --workers N`. One process by default: on a two-core machine that also
# runs the clients, a worker and the database, a second server process only adds contention.
SERVER_PROCESSES = int(os.environ.get("BENCH_SERVER_PROCESSES", "1"))
PENDING = 5000
LIST_TARGET_MS = 150.0
TICKET_TARGET_MS = 100.0
SECRET = "switchboard-bench-secret-key"
REPLY = (
    "Hello {name},\n\nThanks for writing in. We looked at order #{n} and found the duplicate charge "
    "on your card. We have refunded it; you will see it on your statement within 5-10 business days.\n\n"
    "If anything else looks wrong, just reply to this message.\n\nBest regards,\nThe Support Team"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


# -- seeding ----------------------------------------------------------------------------------------
CONNECTIONS = (
    ("helpdesk", "add_comment", "medium"),
    ("helpdesk", "update_ticket", "low"),
    ("payments", "create_refund", "high"),
)


def _action_rows(run_id: str, i: int, at: Any, expires: Any) -> list[dict[str, Any]]:
    reply = {"ticket_id": 1000 + i, "body": REPLY.format(name=f"Customer {i}", n=1000 + i), "public": True}
    update = {"ticket_id": 1000 + i, "priority": "high", "add_tags": ["billing", "switchboard"]}
    refund = {"charge": f"ch_{i:08d}", "amount": 1999 + i, "reason": "duplicate"}
    rows = []
    for j, ((conn, op, risk), args) in enumerate(zip(CONNECTIONS, (reply, update, refund), strict=True)):
        if conn == "payments" and i % 2:
            continue  # every other run proposes a refund: 2.5 writes per run on average
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "run_id": run_id,
                "tool_call_id": f"act/0/local_{j}",
                "tool": f"{conn}__{op}",
                "connection": conn,
                "operation": op,
                "arguments": args,
                "proposed_arguments": args,
                "status": "pending",
                "risk": risk,
                "reasons": ["sends a message a customer will read"] if risk == "medium" else [],
                "effects": {"reversible": risk == "low", "money": conn == "payments"},
                "provenance": {k: "model" for k in args},
                "facts": {"customer": {"email": f"customer{i}@example.com"}},
                "requested_by": None,
                "required_approvals": 1,
                "approvals": [],
                "attempts": 0,
                "expires_at": expires,
                "created_at": at + timedelta(milliseconds=j),
            }
        )
    return rows


def seed(db_url: str, pending: int) -> int:
    """`pending` pending actions over runs waiting for approval, and as many decided ones before them.
    Returns the number of pending actions written."""
    from app.store.db import Database
    from app.store.tables import Action, Item, Run, utcnow

    db = Database(db_url)
    db.upgrade()
    now = utcnow()
    start = now - timedelta(hours=6)
    decided_n = pending_n = 0
    items: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    i = 0
    while pending_n < pending:
        at = start + timedelta(seconds=2 * i)
        ticket = {
            "subject": f"Charged twice for order #{1000 + i}",
            "body": "I was billed twice this month, please refund the extra charge.",
            "requester_email": f"customer{i}@example.com",
            "external_id": 100000 + i,
        }
        item_id, run_id = uuid.uuid4().hex, uuid.uuid4().hex
        items.append(
            {"id": item_id, "kind": "ticket", "source": "bench", "external_id": str(i), "payload": ticket}
        )
        decided = decided_n < pending  # the older half is history: decided and done
        runs.append(
            {
                "id": run_id,
                "kind": "triage",
                "status": "succeeded" if decided else "waiting_approval",
                "item_id": item_id,
                "input": {"ticket": ticket, "delivered": True},
                "classification": {"category": "billing", "priority": "high", "confidence": 0.9},
                "draft": {"reply": REPLY.format(name=f"Customer {i}", n=1000 + i)},
                "created_by": "bench",
                "input_tokens": 900,
                "output_tokens": 200,
                "cost_usd": 0.0,
                "attempts": 1,
                "created_at": at,
                "updated_at": at,
            }
        )
        rows = _action_rows(run_id, i, at, now + timedelta(days=3))
        if decided:
            for r in rows:
                r.update(status="succeeded", decided_by="pat", decided_at=at + timedelta(minutes=5))
            decided_n += len(rows)
        else:
            rows = rows[: pending - pending_n]
            pending_n += len(rows)
        actions += rows
        i += 1
    with db.session() as s:
        for table, rows in ((Item, items), (Run, runs), (Action, actions)):
            for k in range(0, len(rows), 1000):
                s.execute(insert(table), rows[k : k + 1000])
    if db.is_postgres:
        # What autovacuum does within its first minute after a bulk load: without statistics the
        # planner guesses 15 pending actions, sorts all 5,000 for every page (7 ms of the
        # server's CPU) and never walks the (created_at, id) index backwards (0.05 ms).
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    db.dispose()
    return pending_n


def _token(db_url: str) -> str:
    from app.services.auth import create_token
    from app.store.db import Database

    db = Database(db_url)
    try:
        return create_token(db, "bench", "admin", actor="bench")[1]
    finally:
        db.dispose()


# -- load -------------------------------------------------------------------------------------------
def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


async def _load(
    base: str, token: str, requests_each: int, method: str, paths: list[str], body: Any = None
) -> tuple[list[float], int, int]:
    """CLIENTS clients, each sending `requests_each` requests back to back (cycling through `paths`).
    Returns (milliseconds per request, errors, bytes of the last answer).

    Every client is built and has its connection open (an untimed GET /healthz) before the
    first timed request: building an httpx client costs tens of milliseconds of this process's
    CPU (its TLS context), and built inside the timed loop it stalled the other clients'
    requests, so each client's first request measured the bench, not the server."""
    times: list[float] = []
    errors = 0
    size = 0
    headers = {"Authorization": f"Bearer {token}"}
    clients = [httpx.AsyncClient(base_url=base, headers=headers, timeout=60) for _ in range(CLIENTS)]

    async def client(n: int, http: httpx.AsyncClient) -> None:
        nonlocal errors, size
        for k in range(requests_each):
            path = paths[(n + k) % len(paths)]
            payload = body(n, k) if callable(body) else body
            started = time.perf_counter()
            try:
                r = await http.request(method, path, json=payload)
            except httpx.HTTPError:  # a dropped connection counts as an error, not the end
                r = None
            times.append((time.perf_counter() - started) * 1000)
            if r is None or r.status_code >= 400:
                errors += 1
            else:
                size = len(r.content)

    try:
        await asyncio.gather(*(http.get("/healthz") for http in clients))
        await asyncio.gather(*(client(n, http) for n, http in enumerate(clients)))
    finally:
        await asyncio.gather(*(http.aclose() for http in clients))
    return times, errors, size


def _next_link(r: httpx.Response) -> str | None:
    m = re.search(r'<([^>]+)>;\s*rel="?next"?', r.headers.get("link", ""))
    return m.group(1) if m else None


def _later_page(base: str, token: str, pages: int) -> str | None:
    """The path of the approvals list `pages` pages in, following the Link headers."""
    path: str | None = "/api/v1/approvals"
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(pages):
        r = httpx.get(base + path, headers=headers, timeout=60) if path else None
        path = _next_link(r) if r is not None else None
        if path is None:
            return None
        path = path.removeprefix(base)
    return path


def _stat(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process and its live children (`serve --workers N`) have used
    (Linux /proc), to report cost apart from contention."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(entry.name)
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _measured(server: int, fn: Any) -> tuple[list[float], int, int, float]:
    """Run a load; also the server's CPU milliseconds per request it served."""
    before = cpu_seconds(server)
    times, errors, size = fn()
    return times, errors, size, (cpu_seconds(server) - before) * 1000 / max(1, len(times))


def _row(
    database: str, what: str, times: list[float], errors: int, size: int, target: float, cpu_ms: float
) -> list[Any]:
    p95 = _pct(times, 0.95)
    return [
        database,
        what,
        len(times),
        f"{statistics.median(times):.0f}",
        f"{p95:.0f}",
        f"{cpu_ms:.1f}",
        f"{size / 1024:.1f}",
        errors,
        "yes" if p95 < target and not errors else "no",
    ]


def _ticket(n: int, k: int) -> dict[str, Any]:
    return {
        "subject": f"Cannot log in ({n}/{k})",
        "body": "The password reset link says it expired. Please help.",
        "requester_email": f"client{n}@example.com",
    }


def _lists(base: str, token: str, db_name: str, each: int, server: int) -> list[list[Any]]:
    h = {"Authorization": f"Bearer {token}"}
    some_id = httpx.get(f"{base}/api/v1/approvals?limit=1", headers=h, timeout=60).json()[0]["id"]
    later = _later_page(base, token, 10)
    scenarios: list[tuple[str, list[str]]] = [
        ("approvals, first page", ["/api/v1/approvals"]),
        (
            "approvals, page 10 by cursor" if later else "approvals, page 10 (no cursor: whole list)",
            [later or "/api/v1/approvals"],
        ),
        (
            "approvals, filtered (risk, connection)",
            [
                "/api/v1/approvals?risk=high&connection=payments",
                "/api/v1/approvals?risk=low&tool=helpdesk__update_ticket",
            ],
        ),
        ("runs, first page", ["/api/v1/runs"]),
        ("runs, filtered (status)", ["/api/v1/runs?status=waiting_approval"]),
        ("one approval by id", [f"/api/v1/approvals/{some_id}"]),
    ]
    rows = []
    asyncio.run(_load(base, token, 2, "GET", ["/api/v1/approvals", "/api/v1/runs"]))  # warm up
    for what, paths in scenarios:
        measured = _measured(server, lambda p=paths: asyncio.run(_load(base, token, each, "GET", p)))
        rows.append(_row(db_name, what, *measured[:3], LIST_TARGET_MS, measured[3]))
    return rows


def _busy_worker(db_url: str, workdir: Path, env: dict[str, str], queued: int) -> subprocess.Popen[bytes]:
    """A help desk simulator and a worker with `queued` tickets to advance."""
    from app.config import Settings
    from app.main import Container
    from app.services import intake
    from app.services.connections import add_connection

    sim_port = _free_port()
    sim_log = workdir / "sim.log"
    sim = _spawn(
        [
            sys.executable,
            "-c",
            "import sys, uvicorn; from connectors.helpdesk.simulator import create_app;"
            "uvicorn.run(create_app(), host='127.0.0.1', port=int(sys.argv[1]), log_level='warning')",
            str(sim_port),
        ],
        {},
        sim_log,
    )
    _SPAWNED.append(sim)
    _wait_up(f"http://127.0.0.1:{sim_port}/", sim, sim_log)
    c = Container(Settings.model_validate({"DATABASE_URL": db_url, "SWITCHBOARD_DATA_DIR": str(workdir)}))
    with contextlib.suppress(Exception):
        add_connection(
            c.db,
            c.box,
            name="helpdesk",
            kind="helpdesk",
            base_url=f"http://127.0.0.1:{sim_port}",
            owner="ops",
        )
    for k in range(queued):
        intake.submit(
            c.db, kind="ticket", run_kind="triage", payload=_ticket(99, k), source="bench", actor="bench"
        )
    c.db.dispose()
    worker = _spawn([sys.executable, "-m", "app", "worker"], env, workdir / "worker.log")
    _SPAWNED.append(worker)
    return worker


def _queued(db_url: str) -> int:
    from sqlalchemy import func, select

    from app.store.db import Database
    from app.store.tables import Run

    db = Database(db_url)
    try:
        with db.session() as s:
            return int(s.scalar(select(func.count()).select_from(Run).where(Run.status == "queued")) or 0)
    finally:
        db.dispose()


def _wait_busy(db_url: str, queued: int, timeout: float = 60) -> int:
    """Wait until the worker has claimed its first runs (it loads the model first); the queue length."""
    deadline = time.monotonic() + timeout
    left = _queued(db_url)
    while left >= queued and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _queued(db_url)
    return left


_SPAWNED: list[subprocess.Popen[bytes]] = []


def _one_database(db_name: str, db_url: str, workdir: Path, quick: bool) -> tuple[list[list[Any]], list[str]]:
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pending = seed(db_url, PENDING)
    notes = [f"{db_name}: seeded {pending} pending approvals in {time.monotonic() - started:.1f} s"]
    token = _token(db_url)
    port = _free_port()
    env = {
        "DATABASE_URL": db_url,
        "SWITCHBOARD_DATA_DIR": str(workdir),
        "SWITCHBOARD_SECRET_KEY": SECRET,
        "SWITCHBOARD_ALLOW_PRIVATE_NETWORK": "1",
        "SWITCHBOARD_MODEL": "local",
        "SWITCHBOARD_RATE_LIMIT": "100000",
        "SWITCHBOARD_RATE_BURST": "100000",
        "SWITCHBOARD_POLL_SECONDS": "0.1",
    }
    log = workdir / "serve.log"
    workers = str(SERVER_PROCESSES)
    server = _spawn(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", workers], env, log
    )
    _SPAWNED.append(server)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(f"{base}/healthz", server, log)
        each = 10 if quick else 30
        rows = _lists(base, token, db_name, each, server.pid)
        queued = 150 if quick else 400
        worker = _busy_worker(db_url, workdir, env, queued)
        before = _wait_busy(db_url, queued)
        worker_cpu, started = cpu_seconds(worker.pid), time.monotonic()
        times, errors, size, cpu_ms = _measured(
            server.pid,
            lambda: asyncio.run(_load(base, token, each, "POST", ["/api/v1/tickets"], _ticket)),
        )
        busy = (cpu_seconds(worker.pid) - worker_cpu) / (time.monotonic() - started)
        after = _queued(db_url)
        rows.append(
            _row(db_name, "POST /tickets, worker busy", times, errors, size, TICKET_TARGET_MS, cpu_ms)
        )
        measured = _measured(
            server.pid, lambda: asyncio.run(_load(base, token, each, "GET", ["/api/v1/approvals"]))
        )
        rows.append(
            _row(db_name, "approvals, first page, worker busy", *measured[:3], LIST_TARGET_MS, measured[3])
        )
        advanced = before + len(times) - after
        notes.append(
            f"{db_name}: during the ticket load the worker used {busy:.0%} of a core and advanced "
            f"{advanced} runs ({before} queued before, {after} after)"
        )
        return rows, notes
    finally:
        while _SPAWNED:
            _stop(_SPAWNED.pop())


def run(options: Options) -> Section:
    section = Section(
        title=f"API latency: {PENDING:,} pending approvals, {CLIENTS} concurrent clients",
        columns=[
            "database",
            "request",
            "n",
            "p50 ms",
            "p95 ms",
            "server CPU ms/req",
            "KiB",
            "errors",
            "meets target",
        ],
    )
    workdir = options.workdir / "api"
    sqlite_dir = workdir / f"sqlite-{uuid.uuid4().hex[:6]}"
    rows, notes = _one_database(
        "SQLite", f"sqlite:///{(sqlite_dir / 'bench.db').resolve()}", sqlite_dir, options.quick
    )
    section.rows += rows
    section.notes += notes
    if options.postgres_url:
        with pg.schema(options.postgres_url) as url:
            rows, notes = _one_database(
                "PostgreSQL", url, workdir / f"pg-{uuid.uuid4().hex[:6]}", options.quick
            )
        section.rows += rows
        section.notes += notes
    else:
        section.notes.append(
            "PostgreSQL not measured: pass --postgres URL or set BENCH_DATABASE_URL / TEST_DATABASE_URL"
        )
    section.notes.append(
        f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; latency includes "
        "waiting for a CPU, server CPU ms/req does not"
    )
    section.notes.append(
        f"targets: lists p95 < {LIST_TARGET_MS:.0f} ms; tickets p95 < {TICKET_TARGET_MS:.0f} ms while a worker is busy"
    )
    return section
