"""An item whose cancelled run retried a write that may have landed is not run again when posted
again.

A failed write a person retried is `approved` again (or `pending` a second approver, or `expired`
once a demo restart expired it) and keeps its attempts: its first attempt may have landed. When
its run is cancelled before the retry goes out, posting the item again returns the cancelled run
(created False) rather than a new run that would propose the refund again under a new key: any
action with an attempt made counts as a write that may have been sent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.services import approvals, intake
from app.services.auth import Principal
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from connectors.base import ConnectorError
from tests.services.test_edit_reassessed import Payments, pipeline
from tests.services.test_refund_request_reposted import refund_script

ALICE, BOB = Principal("alice", "approver"), Principal("bob", "approver")
REFUND = {
    "kind": "refund",
    "amount": 40.0,
    "currency": "EUR",
    "counterparty": "ann@example.com",
    "description": "refund order 7 (charge ch_1)",
    "external_id": "refund-7",
}


class LandsThenErrs(Payments):
    """The refund lands, but the answer comes back as an error nobody retries automatically."""

    async def write(self, args: dict[str, Any], key: str | None) -> Any:
        self.writes.append(args)
        raise ConnectorError("payments answered 400: malformed response", status=400)


async def failed_refund(db: Database) -> tuple[str, str, LandsThenErrs, Any, Policy]:
    """Alice's refund request, proposed, approved by Bob, and failed after its attempt landed:
    (the run, the refund's action id, the payments system, its catalogue, the gate)."""
    first, created = intake.submit(
        db, kind="record", run_kind="t", payload=REFUND, source="api", actor=ALICE.name
    )
    assert created
    system = LandsThenErrs()
    cat = system.catalogue()
    model = refund_script()
    policy = Policy(two_approvers_above=50_000)
    orch = Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: policy, {"t": pipeline})
    await orch.drain("w")
    [refund] = [a for a in approvals.list_actions(db) if a["run_id"] == first]
    approvals.approve(db, refund["id"], BOB, lambda: cat, policy=lambda: policy)
    await orch.drain("w")
    return first, refund["id"], system, cat, policy


async def test_an_item_whose_retried_write_may_have_landed_is_not_run_again(db: Database) -> None:
    first, refund_id, system, _cat, policy = await failed_refund(db)
    refund = {"id": refund_id}
    failed = approvals.get_action(db, refund["id"])
    assert failed["status"] == "failed" and failed["attempts"] == 1 and len(system.writes) == 1, failed

    # Bob retries it (same key); before a worker resends it, the demo restarts and cancels the run.
    retried = approvals.retry(db, refund["id"], BOB, policy=lambda: policy)
    assert retried["status"] == "approved" and retried["attempts"] == 1
    with db.session() as s:
        s.execute(update(Run).where(Run.id == first).values(status="cancelled"))

    again, created = intake.submit(
        db, kind="record", run_kind="t", payload=REFUND, source="api", actor=BOB.name
    )
    assert (again, created) == (first, False), (
        f"run {first}'s refund went out once (attempts 1, retried, status approved) and the item was "
        f"run again as {again} when posted again: its new run proposes the refund under a new key"
    )
