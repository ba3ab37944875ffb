"""A write a person dismissed ("it did not happen") does not keep its item from running again.

`approvals.dismiss` is "accept that a failed write did not happen". Re-posting an item whose
cancelled run's only attempted write was dismissed creates a new run (created True); a write
retried and waiting again still keeps its item from running
(tests/services/test_repost_after_retried_write.py).
"""

from __future__ import annotations

from sqlalchemy import update

from app.services import approvals, intake
from app.store.db import Database
from app.store.tables import Run
from tests.services.test_repost_after_retried_write import BOB, REFUND, failed_refund


async def test_an_item_whose_only_attempted_write_was_dismissed_runs_again_when_posted(db: Database) -> None:
    first, refund_id, _system, _cat, _policy = await failed_refund(db)
    refund = {"id": refund_id}
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
