"""A refund request run again after its run was cancelled is still its requester's request.

A refund record is a person's request for a write (intake.REQUESTS): the run is its creator's,
and four eyes keeps the creator from approving its refund (RunContext.requested_by; DESIGN.md:
"Whoever asked for a write (a person in chat, a refund request, an MCP client) can never approve
it"). `reruns.run_again` keeps the first run's creator for exactly this reason.

`intake.submit` has a second way to run an item again: an item whose every run was cancelled (a
demo restart cancels unfinished runs) gets a new run when it is posted again. That run takes the
first run's input (Alice's request), so it keeps Alice as its creator whoever posted again, and
Alice cannot approve the refund she asked for.
"""

from __future__ import annotations

import pytest
from sqlalchemy import update

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals, intake
from app.services.auth import Principal
from app.services.errors import Forbidden
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from tests.services.test_edit_reassessed import Payments, pipeline

ALICE, BOB = Principal("alice", "approver"), Principal("bob", "approver")
REFUND = {
    "kind": "refund",
    "amount": 40.0,
    "currency": "EUR",
    "counterparty": "ann@example.com",
    "description": "refund order 7 (charge ch_1)",
    "external_id": "refund-7",
}


def refund_script() -> ScriptedModel:
    """A model that reads the customer and the charge, then proposes a refund of 4,000 of ch_1."""
    return ScriptedModel(
        [
            tool_use("pay__find_customer", {"email": "ann@example.com"}),
            tool_use("pay__get_charge", {"charge_id": "ch_1"}),
            tool_use("pay__create_refund", {"charge_id": "ch_1", "amount": 4_000}),
            text("done"),
        ]
    )


async def test_a_reposted_refund_request_cannot_be_approved_by_whoever_asked_for_it(db: Database) -> None:
    first, created = intake.submit(
        db, kind="record", run_kind="t", payload=REFUND, source="api", actor=ALICE.name
    )
    assert created
    # The demo restarts before the run is done: its unfinished runs are cancelled.
    with db.session() as s:
        s.execute(update(Run).where(Run.id == first).values(status="cancelled"))
    # Bob posts the same record again; the item gets a new run with Alice's request as its input.
    again, created = intake.submit(
        db, kind="record", run_kind="t", payload=REFUND, source="api", actor=BOB.name
    )
    assert created and again != first

    system = Payments()
    cat = system.catalogue()
    model = refund_script()
    policy = Policy(two_approvers_above=50_000)
    await Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: policy, {"t": pipeline}).drain("w")
    [refund] = [a for a in approvals.list_actions(db) if a["run_id"] == again]

    with pytest.raises(Forbidden):
        approvals.approve(db, refund["id"], ALICE, lambda: cat, policy=lambda: policy)
    assert system.writes == []


async def test_an_item_whose_cancelled_run_made_writes_is_not_run_again_when_posted_again(
    db: Database,
) -> None:
    """A cancelled run that sent a write is not run again by posting its item again: the new run
    would propose the write again under a new key, which no system can tell from a new write."""
    from app.store.tables import Action

    first, _ = intake.submit(db, kind="record", run_kind="t", payload=REFUND, source="api", actor=ALICE.name)
    with db.session() as s:
        s.add(
            Action(
                run_id=first,
                tool_call_id="c1",
                tool="pay__create_refund",
                connection="pay",
                operation="create_refund",
                arguments={"charge_id": "ch_1", "amount": 4_000},
                proposed_arguments={"charge_id": "ch_1", "amount": 4_000},
                status="succeeded",
                risk="medium",
                attempts=1,
            )
        )
        s.execute(update(Run).where(Run.id == first).values(status="cancelled"))
    again, created = intake.submit(
        db, kind="record", run_kind="t", payload=REFUND, source="api", actor=BOB.name
    )
    assert (again, created) == (first, False)
    # Asked for in so many words (triage --again), it is run again: people approve what it proposes.
    asked, created = intake.submit(
        db, kind="record", run_kind="t", payload=REFUND, source="api", actor=BOB.name, again=True
    )
    assert created and asked != first
