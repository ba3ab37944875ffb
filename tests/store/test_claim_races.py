"""Claims from several processes at once, on SQLite and PostgreSQL: every queued run is taken
exactly once, by one of them, with one attempt counted."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

from sqlalchemy import insert, select

from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run

PROCESSES = 3
RUNS = 30


def _queue(db: Database, n: int) -> list[str]:
    ids = [f"run-{i:03d}" for i in range(n)]
    with db.transaction() as work:
        work.connection().execute(
            insert(Run.__table__), [{"id": i, "kind": "test", "status": "queued", "input": {}} for i in ids]
        )
    return ids


def _claim_all(url: str, name: str, start: Any, out: Any) -> None:
    """One worker process: claim until nothing is left, and report what it took."""
    db = Database(url)
    store = SqlRunStore(db)
    taken: list[str] = []
    start.wait()
    while (run_id := store.claim(name, 60)) is not None:
        taken.append(run_id)
    out.put((name, taken))
    db.dispose()


def test_workers_in_several_processes_take_every_run_exactly_once(db: Database) -> None:
    queued = _queue(db, RUNS)
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [ctx.Process(target=_claim_all, args=(db.url, f"w{n}", start, out)) for n in range(PROCESSES)]
    for p in workers:
        p.start()
    reports = dict(out.get(timeout=120) for _ in workers)
    for p in workers:
        p.join(30)
        assert p.exitcode == 0
    taken = [run_id for ids in reports.values() for run_id in ids]
    assert sorted(taken) == queued  # each run once, none left out
    with db.reading() as conn:
        rows = conn.execute(select(Run.id, Run.status, Run.lease_owner, Run.attempts)).all()
    holder = {run_id: name for name, ids in reports.items() for run_id in ids}
    assert {(r.id, r.status, r.lease_owner, r.attempts) for r in rows} == {
        (run_id, "running", holder[run_id], 1) for run_id in queued
    }
