"""Concurrent decisions on sibling actions, with several real workers: no run is forgotten.

Two approvers deciding two actions of the same run at the same moment used to
leave the run parked with nothing pending on PostgreSQL (each transaction still
saw the other action as pending), and its approved writes never ran. Here three
`switchboard worker` processes advance the runs while threads decide every
sibling action at once (one thread per action, released together by a barrier)
and a pool of ten threads rejects whole runs like bulk rejects do. Afterwards
every approved write is in the help desk exactly once and no run waits with
nothing pending. The sweeper is set far in the future so the decisions alone
must get it right.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from app.services import approvals, intake
from app.services.auth import Principal
from app.services.errors import ServiceError
from app.services.views import run_view
from app.store.db import normalize_url
from connectors.helpdesk.simulator import create_app
from tests.e2e.test_crash_recovery import Rig, audits_for
from tests.support.loopback import LoopbackServer
from tests.support.processes import wait_for

pytestmark = pytest.mark.e2e

RUNS = 16  # one or two per seeded help-desk ticket
WORKERS = 3
SETTLE_SECONDS = 20.0
CUTS = 12  # busy worker connections terminated, spaced out so that runs can make progress


@pytest.fixture
def sim() -> Iterator[tuple[Any, str]]:
    app = create_app()
    with LoopbackServer(app) as server:
        yield app, server.url


@pytest.fixture
def rig(db_url: str, tmp_path: Path, sim: tuple[Any, str]) -> Iterator[Rig]:
    r = Rig(db_url, tmp_path, sim[1])
    r.env["SWITCHBOARD_SWEEP_SECONDS"] = "3600"
    r.env["SWITCHBOARD_LEASE_SECONDS"] = "5"
    yield r
    r.close()


def submit(rig: Rig, ticket_id: int, *, source: str) -> str:
    payload = {
        "subject": "Charged twice",
        "body": "I was billed twice this month; please refund one charge.",
        "requester_email": "ann.lee@example.com",
        "external_id": ticket_id,
    }
    return intake.submit(
        rig.c.db, kind="ticket", run_kind="triage", payload=payload, source=source, actor="api"
    )[0]


def _at_once(calls: list[Callable[[], Any]], pool: int | None = None) -> list[Any]:
    """Run every call on its own thread, released together; errors are returned, not raised."""
    barrier = threading.Barrier(len(calls)) if pool is None else None

    def go(call: Callable[[], Any]) -> Any:
        if barrier is not None:
            barrier.wait(timeout=30)
        try:
            return call()
        except ServiceError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=pool or len(calls)) as ex:
        return list(ex.map(go, calls))


def test_concurrent_sibling_decisions_leave_no_run_behind(rig: Rig, sim: tuple[Any, str]) -> None:
    sim_app, _ = sim
    db = rig.c.db
    tickets = {submit(rig, 1 + i % 12, source=f"race{i // 12}"): 1 + i % 12 for i in range(RUNS)}
    assert len(tickets) == RUNS
    for _ in range(WORKERS):
        rig.worker()
    t0 = time.monotonic()
    parked = wait_for(
        "every run to park with its actions",
        lambda: (
            (views := [run_view(db, r) for r in tickets])
            and all(v["status"] == "waiting_approval" for v in views)
            and views
        ),
        timeout=90,
        interval=0.3,
    )
    print(f"parked after {time.monotonic() - t0:.1f}s")
    t0 = time.monotonic()
    pending = {v["id"]: [a for a in v["actions"] if a["status"] == "pending"] for v in parked}
    assert all(len(p) >= 2 for p in pending.values()), "each run should have sibling actions"

    ids = list(tickets)
    racing, bulk = ids[: RUNS // 2], ids[RUNS // 2 :]
    pat, lee = Principal("pat", "approver"), Principal("lee", "approver")

    # Sibling actions of one run decided by different people at the same instant:
    # both approved in two thirds of the runs, one approved and one rejected in the rest.
    calls: list[Callable[[], Any]] = []
    for n, run_id in enumerate(racing):
        for k, a in enumerate(pending[run_id]):
            who = pat if k % 2 == 0 else lee
            if n % 3 == 2 and k == 1:
                calls.append(lambda a=a, who=who: approvals.reject(db, a["id"], who, "not this one"))
            else:
                calls.append(lambda a=a, who=who: approvals.approve(db, a["id"], who, rig.c.pool.catalogue))
    # Bulk rejects: ten at a time across the other runs.
    rejects: list[Callable[[], Any]] = [
        lambda a=a: approvals.reject(db, a["id"], lee, "duplicate ticket")
        for run_id in bulk
        for a in pending[run_id]
    ]
    outcomes = _at_once(calls) + _at_once(rejects, pool=10)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert not errors, errors

    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        views = [run_view(db, r) for r in ids]
        if all(v["status"] in ("succeeded", "failed") for v in views):
            break
        time.sleep(0.3)
    views = [run_view(db, r) for r in ids]
    print(f"settled after {time.monotonic() - t0:.1f}s")

    stranded = [
        v["id"]
        for v in views
        if v["status"] == "waiting_approval" and not any(a["status"] == "pending" for a in v["actions"])
    ]
    approved = [a for v in views for a in v["actions"] if a["decided_by"] and a["status"] != "rejected"]
    approved = [a for a in approved if not str(a["decided_by"]).startswith("rule:")]
    executions = {a["id"]: audits_for(sim_app, tickets[a["run_id"]], a["id"]) for a in approved}
    not_once = {k: n for k, n in executions.items() if n != 1}
    print(
        f"\nruns: {len(ids)}; stranded (waiting, nothing pending): {len(stranded)}; "
        f"approved writes: {len(approved)}, not executed exactly once: {len(not_once)}; "
        f"statuses: {sorted({v['status'] for v in views})}"
    )
    assert stranded == [], f"{len(stranded)} of {len(ids)} runs stranded"
    assert not_once == {}, f"{len(not_once)} of {len(approved)} approved writes not executed exactly once"
    assert all(v["status"] == "succeeded" for v in views), [(v["id"], v["status"], v["error"]) for v in views]


def test_workers_whose_database_connections_are_cut_lose_no_run(
    db_url: str, tmp_path: Path, sim: tuple[Any, str]
) -> None:
    """pg_terminate_backend on the workers' busy connections, again and again, while they triage."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a database server connection to terminate exists on PostgreSQL only")
    name = f"sb-worker-{uuid.uuid4().hex[:8]}"
    rig = Rig(db_url, tmp_path, sim[1])
    rig.env["DATABASE_URL"] = f"{db_url}&application_name={name}"
    rig.env["SWITCHBOARD_LEASE_SECONDS"] = "3"
    try:
        runs = [submit(rig, 1 + i % 12, source=f"cut{i // 12}") for i in range(12)]
        for _ in range(2):
            rig.worker()
        stop = threading.Event()
        killed: list[int] = []

        def cut() -> None:
            engine = create_engine(normalize_url(db_url))
            with engine.connect() as conn:
                while not stop.is_set() and len(killed) < CUTS:
                    rows = conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = :name AND state <> 'idle'"
                        ),
                        {"name": name},
                    ).all()
                    conn.commit()
                    found = sum(1 for (ok,) in rows if ok)
                    killed.extend([1] * found)
                    time.sleep(0.4 if found else 0.005)
            engine.dispose()

        killer = threading.Thread(target=cut)
        killer.start()
        try:
            views = wait_for(
                "every run to park while connections are cut",
                lambda: (
                    (vs := [run_view(rig.c.db, r) for r in runs])
                    and all(v["status"] not in ("queued", "running") for v in vs)
                    and vs
                ),
                timeout=90,
                interval=0.3,
            )
        finally:
            stop.set()
            killer.join()
        statuses = [v["status"] for v in views]
        print(f"\nconnections cut: {len(killed)}; run statuses: {sorted(statuses)}")
        assert killed, "no busy connection was cut; the test proved nothing"
        assert statuses == ["waiting_approval"] * len(runs), [v["error"] for v in views if v["error"]]
    finally:
        rig.close()
