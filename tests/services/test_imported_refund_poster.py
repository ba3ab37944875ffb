"""Whoever posted an item by hand never approves the money the agent proposes from it alone,
whether the refund is the declared operation or an imported one (OpenAPI/MCP).

RunContext.requester_of names the poster as the requester of writes that commit the company for
good (`commits_for_good`). An imported write declares nothing it does, so it counts, whatever its
arguments say: the poster is its requester and cannot approve it (four eyes).
"""

from __future__ import annotations

from typing import Any

import pytest

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals
from app.services.auth import Principal
from app.services.errors import Forbidden
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from tests.agent.test_imported_money_rules import ImportedPayments
from tests.agent.test_imported_money_rules import refunds as imported_refunds
from tests.services.test_edit_reassessed import Payments, pipeline
from tests.services.test_split_refunds import pending
from tests.services.test_split_refunds import refunds as declared_refunds

PAT = Principal("pat", "approver")


async def _posted_by_pat(db: Database, system: Payments, turn: Any) -> str:
    cat = system.catalogue()
    model = ScriptedModel(
        [
            tool_use("pay__find_customer", {"email": "ann@example.com"}),
            tool_use("pay__get_charge", {"charge_id": "ch_1"}),
            turn,
            text("done"),
        ]
    )
    orch = Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: Policy(), {"t": pipeline})
    with db.session() as s:
        run = Run(kind="t", input={"posted_by": "pat"})
        s.add(run)
        s.flush()
        run_id = run.id
    await orch.drain("w")
    return run_id


@pytest.mark.parametrize("how", ["declared", "imported"])
async def test_the_poster_cannot_approve_the_refund_proposed_from_their_item(db: Database, how: str) -> None:
    system = Payments() if how == "declared" else ImportedPayments()
    turn = declared_refunds(1_000) if how == "declared" else imported_refunds(1_000)
    [action] = pending(db, await _posted_by_pat(db, system, turn))
    with pytest.raises(Forbidden):
        decided = approvals.approve(db, action["id"], PAT, system.catalogue, policy=lambda: Policy())
        pytest.fail(
            f"pat posted the item and alone approved the {how} refund proposed from it: "
            f"{decided['status']}, requested_by={action['requested_by']!r}"
        )
