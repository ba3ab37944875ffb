"""A standing rule through a real run: it approves another person's request, never its maker's
(a rule is its maker's approval given ahead of time, and nobody approves their own request)."""

from __future__ import annotations

from typing import Any

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy, StandingRule
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals
from app.services.views import run_view
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from tests.services.test_edit_reassessed import Payments, pipeline

REPLY = {"body": "Your refund is on its way."}
RULE = StandingRule(
    tool="pay__reply",
    approved_by="lead",
    max_risk="medium",
    arguments_schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {"body": {"enum": [REPLY["body"]]}},
    },
)


async def asked_by(db: Database, who: str) -> tuple[Payments, dict[str, Any]]:
    system = Payments()
    cat = system.catalogue()
    model = ScriptedModel(
        [
            tool_use("pay__find_customer", {"email": "ann@example.com"}),
            tool_use("pay__reply", REPLY),
            text("done"),
        ]
    )
    policy = Policy([RULE])
    orch = Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: policy, {"t": pipeline})
    with db.session() as s:
        run = Run(kind="t", input={}, created_by=who)  # a person's own request (not delivered)
        s.add(run)
        s.flush()
        run_id = run.id
    await orch.drain("w")
    return system, run_view(db, run_id)


async def test_the_rule_approves_olgas_request_but_not_its_makers(db: Database) -> None:
    system, olgas = await asked_by(db, "olga")
    assert olgas["status"] == "succeeded" and system.writes == [REPLY]
    [done] = olgas["actions"]
    assert done["decided_by"] == "rule:pay__reply"

    system, leads = await asked_by(db, "lead")
    assert leads["status"] == "waiting_approval" and system.writes == []
    [waiting] = leads["actions"]
    assert waiting["status"] == "pending" and waiting["requested_by"] == "lead"
    assert any("was made by lead, who asked for this write" in r for r in waiting["reasons"])
    assert [a["id"] for a in approvals.list_actions(db)] == [waiting["id"]]
