"""Two runs refund from one charge at the same moment, each under a standing rule.

Threshold and rule limit are 5,000; each run proposes 4,000 from ch_1. At the same moment, on
two workers, neither run's gate sees the other's refund (RunStore.moved_from is read before
either commits). When the write is about to go out, the rule's approval is checked again under
the lock a person's approval takes (`approvals.rule_admission`): the refund that starts second
finds the other and waits for people, two of them when the two together pass the threshold.

The barrier only holds each worker between its `moved_from` read and its commit, the window two
workers have anyway; nothing else is changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals
from app.services.approvals import rule_admission
from app.services.auth import Principal
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from tests.services.test_edit_reassessed import THRESHOLD, Payments, pipeline
from tests.services.test_split_refunds import refund_rule, refunds

# The standing rules' check as the composition root wires it (app.main.Container.store).
ADMIT = rule_admission(THRESHOLD)

PAT = Principal("pat", "approver")


class MeetingStore(SqlRunStore):
    """A run store whose `moved_from` answers once both workers have read it."""

    def __init__(self, db: Database, barrier: threading.Barrier):
        super().__init__(db, admission=ADMIT)
        self.barrier = barrier

    def moved_from(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        found = super().moved_from(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            self.barrier.wait(timeout=5)
        return found


def _script() -> ScriptedModel:
    return ScriptedModel(
        [
            tool_use("pay__find_customer", {"email": "ann@example.com"}),
            tool_use("pay__get_charge", {"charge_id": "ch_1"}),
            refunds(4_000),
            text("done"),
        ]
    )


def _runs(db: Database, n: int) -> list[str]:
    ids = []
    with db.session() as s:
        for _ in range(n):
            run = Run(kind="t", input={})
            s.add(run)
            s.flush()
            ids.append(run.id)
    return ids


def _workers(url: str, system: Payments, policy: Policy, n: int = 2) -> None:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        db = Database(url)
        cat = system.catalogue()
        orch = Orchestrator(
            MeetingStore(db, barrier), _script(), lambda: cat, lambda: policy, {"t": pipeline}
        )
        try:
            asyncio.run(orch.run_once(f"w{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=25)
    assert not errors, errors


def test_two_rule_refunds_from_one_charge_at_once_do_not_both_run_unseen(migrated_url: str) -> None:
    db = Database(migrated_url)
    system = Payments()
    policy = Policy(two_approvers_above=THRESHOLD, standing_rules=[refund_rule()])
    _runs(db, 2)
    _workers(migrated_url, system, policy)
    moved = sum(w["amount"] for w in system.writes)
    waiting = [a for a in approvals.list_actions(db) if a["status"] == "pending"]
    # The promise: a rule approves up to its max_amount (5,000) from a source, and money past the
    # threshold needs two people. One at a time, exactly one refund runs and the other waits.
    assert moved <= THRESHOLD, (
        f"{moved} left charge ch_1 under standing rule 'r1' (max_amount {THRESHOLD}) with no "
        f"approver: {system.writes}; waiting: {len(waiting)}"
    )


def test_a_rule_refund_and_a_person_approving_a_sibling_at_once(migrated_url: str) -> None:
    """One run's 4,000 waits for pat (proposed before the rule existed); pat approves it at the
    moment another run's 4,000 from the same charge runs under the rule. Each sees nothing of
    the other: 8,000 leaves with one person's approval, where two are needed."""
    db = Database(migrated_url)
    system = Payments()
    cat = system.catalogue()
    plain = Policy(two_approvers_above=THRESHOLD)
    [first] = _runs(db, 1)
    asyncio.run(
        Orchestrator(
            SqlRunStore(db, admission=ADMIT), _script(), lambda: cat, lambda: plain, {"t": pipeline}
        ).run_once("w0")
    )
    [waiting] = [a for a in approvals.list_actions(db) if a["run_id"] == first]
    assert waiting["status"] == "pending" and waiting["required_approvals"] == 1

    ruled = Policy(two_approvers_above=THRESHOLD, standing_rules=[refund_rule()])
    _runs(db, 1)
    read, decided = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    class ReadsBeforeTheDecision(SqlRunStore):
        def moved_from(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            found = super().moved_from(*args, **kwargs)
            read.set()
            decided.wait(timeout=5)  # pat's approval commits while this worker holds its read
            return found

    def worker() -> None:
        wdb = Database(migrated_url)
        store = ReadsBeforeTheDecision(wdb, admission=ADMIT)
        orch = Orchestrator(store, _script(), lambda: cat, lambda: ruled, {"t": pipeline})
        try:
            asyncio.run(orch.run_once("w1"))
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            wdb.dispose()

    def person() -> None:
        adb = Database(migrated_url)
        try:
            read.wait(timeout=5)  # the worker has read what the charge moved
            approvals.approve(adb, waiting["id"], PAT, lambda: cat, policy=lambda: plain)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            decided.set()
            adb.dispose()

    threads = [threading.Thread(target=worker), threading.Thread(target=person)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=25)
    assert not errors, errors
    asyncio.run(
        Orchestrator(
            SqlRunStore(db, admission=ADMIT),
            ScriptedModel([text("done")]),
            lambda: cat,
            lambda: plain,
            {"t": pipeline},
        ).drain("w2")
    )
    approved = [
        a
        for a in approvals.list_actions(db, status=None)
        if a["status"] in ("approved", "executing", "succeeded")
    ]
    one_person = [a for a in approved if a["required_approvals"] < 2]
    total = sum(a["arguments"]["amount"] for a in approved)
    assert not (total > THRESHOLD and len(one_person) == len(approved)), (
        f"{total} from ch_1 approved by pat alone plus a standing rule: "
        f"{[(a['decided_by'], a['arguments']) for a in approved]}"
    )
