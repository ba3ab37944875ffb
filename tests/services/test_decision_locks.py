"""Decisions on sibling actions at the same instant: the run is requeued every time.

Each decision locks the run's row before it reads the run's actions, so on
PostgreSQL (READ COMMITTED) whichever decision commits second sees the first.
No worker runs here: what is checked is the decision itself, not the sweeper.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from app.services import approvals
from app.services.auth import Principal
from app.store.db import Database
from app.store.tables import Action, Run
from tools.base import Catalogue

RUNS = 30
PAT, LEE = Principal("pat", "approver"), Principal("lee", "approver")


def parked_runs(db: Database, n: int, siblings: int = 2) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with db.session() as s:
        for _ in range(n):
            run = Run(kind="t", input={}, status="waiting_approval")
            s.add(run)
            s.flush()
            actions = [
                Action(
                    run_id=run.id,
                    tool_call_id=f"c{k}",
                    tool="shop__send_message",
                    connection="shop",
                    operation="send_message",
                    arguments={"k": k},
                    proposed_arguments={"k": k},
                )
                for k in range(siblings)
            ]
            s.add_all(actions)
            s.flush()
            out[run.id] = [a.id for a in actions]
    return out


def in_pairs(pairs: list[tuple[Callable[[], Any], Callable[[], Any]]]) -> None:
    """Both calls of each pair released together; ten threads (and connections) at most."""
    barriers = [threading.Barrier(2) for _ in pairs]

    def go(job: tuple[int, Callable[[], Any]]) -> Any:
        barriers[job[0]].wait(timeout=30)
        return job[1]()

    jobs = [(i, call) for i, pair in enumerate(pairs) for call in pair]
    with ThreadPoolExecutor(max_workers=10) as ex:
        list(ex.map(go, jobs))  # re-raises any error


def statuses(db: Database, run_ids: list[str]) -> dict[str, int]:
    with db.session() as s:
        rows = s.scalars(select(Run.status).where(Run.id.in_(run_ids))).all()
    return {st: rows.count(st) for st in set(rows)}


def test_sibling_decisions_at_once_always_requeue_the_run(db: Database) -> None:
    runs = parked_runs(db, RUNS)
    catalogue = Catalogue()  # no tool of these actions is configured: nothing to weigh or edit
    pairs: list[tuple[Callable[[], Any], Callable[[], Any]]] = []
    for n, (_, (first, second)) in enumerate(runs.items()):

        def one(a: str = first) -> Any:
            return approvals.approve(db, a, PAT, lambda: catalogue)

        def other(a: str = second, reject: bool = n % 2 == 1) -> Any:
            if reject:
                return approvals.reject(db, a, LEE, "no")
            return approvals.approve(db, a, LEE, lambda: catalogue)

        pairs.append((one, other))
    in_pairs(pairs)
    assert statuses(db, list(runs)) == {"queued": RUNS}


def test_bulk_rejects_ten_at_a_time_requeue_every_run(db: Database) -> None:
    runs = parked_runs(db, RUNS, siblings=3)
    ids = [a for actions in runs.values() for a in actions]
    barrier = threading.Barrier(10)

    def reject(action_id: str) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        approvals.reject(db, action_id, LEE, "duplicate")

    with ThreadPoolExecutor(max_workers=10) as ex:
        list(ex.map(reject, ids))
    assert statuses(db, list(runs)) == {"queued": RUNS}
