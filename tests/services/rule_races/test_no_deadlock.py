"""A rule-approved write starting while a person approves its sibling does not deadlock.

One run holds two refunds of one charge: A, approved by a standing rule, and B, waiting for a
person. A person's approval of B takes the charge's lock (weighing it with A) and then the run's
row (to requeue the run); the worker starting A takes A's row, then the charge's lock (the rule's
approval weighed again), then the run's row. Taken in that order by both, the second waits for
the first; taken in opposite orders (the run's row before the charge's lock), PostgreSQL would
find a deadlock and abort one of them.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from app.services import approvals
from app.services.approvals import rule_admission
from app.services.auth import Principal
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Action, Run, utcnow

REFUND = {"connection": "pay", "operation": "create_refund", "tool": "pay__create_refund"}


def _refund(run_id: str, call: str, **fields: Any) -> Action:
    arguments = {"charge_id": "ch_1", "amount": 1_000}
    return Action(
        run_id=run_id,
        tool_call_id=call,
        arguments=arguments,
        proposed_arguments=arguments,
        effects={"money": {"amount": 1_000, "source": "ch_1"}},
        **REFUND,
        **fields,
    )


def test_a_rule_write_starting_while_its_sibling_is_approved_does_not_deadlock(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(migrated_url)
    with db.session() as s:
        run = Run(
            kind="t",
            status="running",
            input={},
            lease_owner="w1",
            lease_expires_at=utcnow() + timedelta(minutes=5),
        )
        s.add(run)
        s.flush()
        ruled = _refund(run.id, "a", status="approved", decided_by="rule:pay__create_refund")
        waiting = _refund(run.id, "b", status="pending", required_approvals=1)
        s.add_all([ruled, waiting])
        s.flush()
        ruled_id, waiting_id = ruled.id, waiting.id

    holds_the_charge = threading.Event()
    original = approvals.requeue_if_decided

    def requeue_later(*args: Any, **kwargs: Any) -> bool:
        holds_the_charge.set()  # the approval holds the charge's lock now
        time.sleep(0.5)  # the worker comes in meanwhile and waits for what it needs
        return original(*args, **kwargs)

    monkeypatch.setattr(approvals, "requeue_if_decided", requeue_later)
    errors: list[BaseException] = []

    def approve() -> None:
        try:
            approvals.approve(Database(migrated_url), waiting_id, Principal("pat", "approver"), lambda: None)  # type: ignore[arg-type,return-value]
        except BaseException as exc:
            errors.append(exc)

    def start() -> None:
        holds_the_charge.wait(10)
        try:
            SqlRunStore(Database(migrated_url), admission=rule_admission(50_000)).start_execution(
                ruled_id, "w1"
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=approve), threading.Thread(target=start)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    with db.session() as s:
        assert s.get(Action, waiting_id).status == "approved"  # type: ignore[union-attr]
        assert s.get(Action, ruled_id).status == "executing"  # type: ignore[union-attr]
    db.dispose()
