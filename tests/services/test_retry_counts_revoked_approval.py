"""A failed write retried after its approver's token was revoked does not run on that approval.

`approvals.retry` decides again whether the retried write is `approved` (sent at once) or
`pending`: it counts only the approvals that still stand, so a write approved with a token
revoked since (the approver left, or the token leaked) goes back to `pending`, and nothing is
sent until someone whose token stands approves.
"""

from __future__ import annotations

from typing import Any

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals, auth
from app.services.auth import Principal
from app.services.views import run_view
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from connectors.base import ConnectorError
from tests.services.test_edit_reassessed import Payments, pipeline

BOB = Principal("bob", "operator")


class RefusesOnce(Payments):
    """The first refund is refused outright (nothing done); later ones go through."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def write(self, args: dict[str, Any], key: str | None) -> Any:
        if not self.refused:
            self.refused += 1
            raise ConnectorError("payments answered 400: charge is locked for review", status=400)
        return await super().write(args, key)


async def test_a_retry_does_not_count_an_approval_whose_token_was_revoked(db: Database) -> None:
    token_id, token = auth.create_token(db, "pat", "approver", actor="admin")
    pat = auth.authenticate(db, token)
    assert pat is not None and pat.token_id == token_id
    system = RefusesOnce()
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
    with db.session() as s:
        run = Run(kind="t", input={})
        s.add(run)
        s.flush()
        run_id = run.id
    await orch.drain("w")
    [action] = approvals.list_actions(db)
    approvals.approve(db, action["id"], pat, lambda: cat, policy=lambda: policy)
    await orch.drain("w")
    assert approvals.get_action(db, action["id"])["status"] == "failed"
    assert run_view(db, run_id)["status"] == "needs_attention"

    auth.revoke_token(db, token_id, actor="admin")  # pat's token leaked: revoked

    retried = approvals.retry(db, action["id"], BOB, policy=lambda: policy)
    await orch.drain("w")
    after = approvals.get_action(db, action["id"])
    assert retried["status"] == "pending" and system.writes == [], (
        f"the retried refund ran on pat's approval, given with a token revoked before the retry: "
        f"retry left it {retried['status']}, now {after['status']}, writes {system.writes}"
    )
