"""A write a person dismissed ("it did not happen") does not keep its item from running again.

`approvals.dismiss` is "accept that a failed write did not happen". Re-posting an item whose
cancelled run's only attempted write was dismissed creates a new run (created True); a write
retried and waiting again still keeps its item from running
(tests/services/test_repost_after_retried_write.py).
"""

from __future__ import annotations

from sqlalchemy import update

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals, intake
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from tests.services.test_edit_reassessed import pipeline
from tests.services.test_repost_after_retried_write import ALICE, BOB, REFUND, LandsThenErrs


async def test_an_item_whose_only_attempted_write_was_dismissed_runs_again_when_posted(db: Database) -> None:
    first, created = intake.submit(
        db, kind="record", run_kind="t", payload=REFUND, source="api", actor=ALICE.name
    )
    assert created
    system = LandsThenErrs()
    cat = system.catalogue()
    model = ScriptedModel(
        [
            tool_use("pay__find_customer", {"email": "ann@example.com"}),
            tool_use("pay__get_charge", {"charge_id": "ch_1"}),
            tool_use("pay__create_refund", {"charge_id": "ch_1", "amount": 4_000}),
            text("done"),
        ]
    )
    policy = Policy(two_approvers_above=50_000)
    orch = Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: policy, {"t": pipeline})
    await orch.drain("w")
    [refund] = [a for a in approvals.list_actions(db) if a["run_id"] == first]
    approvals.approve(db, refund["id"], BOB, lambda: cat, policy=lambda: policy)
    await orch.drain("w")
    assert approvals.get_action(db, refund["id"])["status"] == "failed"

    # Bob checks the payment system: the refund is not there. He dismisses it.
    dismissed = approvals.dismiss(db, refund["id"], BOB, "checked Stripe: no refund was made")
    assert dismissed["status"] == "dismissed" and dismissed["attempts"] == 1
    with db.session() as s:  # the demo restarts before the run goes on: it is cancelled
        s.execute(update(Run).where(Run.id == first).values(status="cancelled"))

    again, created = intake.submit(
        db, kind="record", run_kind="t", payload=REFUND, source="api", actor=BOB.name
    )
    assert created and again != first, (
        f"the only write of cancelled run {first} was dismissed as never made, yet posting the item "
        f"again returned {again} (created {created}): the refund request is never processed"
    )
