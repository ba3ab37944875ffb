"""A standing rule revoked before its write went out no longer approves that write.

A standing rule is a person's approval given ahead; revoking it withdraws that approval. A
rule-approved write is committed as `approved` and may wait for its start (a dropped database
connection requeues the run; a lease running out; a worker that died), and a pass keeps the rules
it read when it first proposed a write. The action keeps the id of the rule that approved it, and
when the write is about to go out (`approvals.rule_admission`) a revoked rule hands it to people
(pending, as any rule approval that no longer holds) and nothing is sent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from app.agent.orchestrator import Orchestrator
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals, rules
from app.services.approvals import rule_admission
from app.services.auth import Principal
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from tests.services.test_edit_reassessed import Payments, pipeline
from tests.services.test_split_refunds import refunds

THRESHOLD = 20_000
ADMIN = Principal("lead", "admin")


class DropsOnce(SqlRunStore):
    """The database connection drops the first time a write is started (a transient fault: the
    run goes back to the queue, its rule-approved write committed and waiting)."""

    dropped = False

    def start_execution(self, *args: Any, **kwargs: Any) -> Any:
        if not self.dropped:
            self.dropped = True
            raise OperationalError("UPDATE actions ...", {}, Exception("server closed the connection"))
        return super().start_execution(*args, **kwargs)


def ruled_refund(
    db: Database, system: Payments, store: SqlRunStore
) -> tuple[dict[str, Any], Orchestrator, str]:
    """A standing rule for a refund of 4,000 from ch_1, a run whose model proposes it, and the
    orchestrator that advances that run on `store`: (the rule, the orchestrator, the run's id)."""
    rule = rules.create_rule(
        db,
        ADMIN,
        tool="pay__create_refund",
        max_risk="medium",
        max_amount=5_000,
        arguments_schema={
            "type": "object",
            "properties": {"charge_id": {"const": "ch_1"}, "amount": {"enum": [4_000]}},
            "additionalProperties": False,
        },
    )
    cat = system.catalogue()
    model = ScriptedModel(
        [
            tool_use("pay__find_customer", {"email": "ann@example.com"}),
            tool_use("pay__get_charge", {"charge_id": "ch_1"}),
            refunds(4_000),
            text("done"),
        ]
    )
    orch = Orchestrator(
        store,
        model,
        lambda: cat,
        lambda: rules.load_policy(db, two_approvers_above=THRESHOLD),
        {"t": pipeline},
        backoff_max=0.0,
    )
    with db.session() as s:
        run = Run(kind="t", input={})
        s.add(run)
        s.flush()
        return rule, orch, run.id


async def test_a_write_approved_by_a_rule_revoked_before_it_went_out_is_not_sent(db: Database) -> None:
    system = Payments()
    rule, orch, run_id = ruled_refund(db, system, DropsOnce(db, admission=rule_admission(THRESHOLD)))

    assert await orch.run_once("w1") == run_id  # the rule approves; the write's start meets the drop
    [action] = [a for a in approvals.list_actions(db, status=None) if a["run_id"] == run_id]
    assert action["status"] == "approved" and str(action["decided_by"]).startswith("rule:"), action
    assert system.writes == []

    rules.revoke_rule(db, rule["id"], ADMIN)  # the admin withdraws the rule's approval

    await orch.drain("w2")
    after = approvals.get_action(db, action["id"])
    assert system.writes == [], (
        f"standing rule {rule['id']} was revoked before its write went out, and the write was sent "
        f"anyway on the next pass: {system.writes} (action {after['status']}, decided_by "
        f"{after['decided_by']})"
    )
    assert after["status"] == "pending", after


async def test_a_rule_revoked_while_the_model_thinks_does_not_approve_the_passs_next_write(
    db: Database,
) -> None:
    """The same withdrawal within one pass: the gate's rules are read when the pass first proposes a
    write (`RunContext.policy`) and kept for the rest of the pass. A free loop goes on after a
    rule-approved write ran: when the admin revokes the rule while the model works out its next
    turn, that turn's write is still approved by the revoked rule, and sent."""
    rule = rules.create_rule(
        db,
        ADMIN,
        tool="pay__create_refund",
        max_risk="medium",
        max_amount=5_000,
        arguments_schema={
            "type": "object",
            "properties": {"charge_id": {"enum": ["ch_1", "ch_2"]}, "amount": {"enum": [4_000]}},
            "additionalProperties": False,
        },
    )

    class RevokedWhileThinking(ScriptedModel):
        async def complete(self, request: Any) -> Any:
            if len(self.requests) == 4:  # the turn after the first refund ran
                rules.revoke_rule(db, rule["id"], ADMIN)
            return await super().complete(request)

    system = Payments()
    cat = system.catalogue()
    model = RevokedWhileThinking(
        [
            tool_use("pay__find_customer", {"email": "ann@example.com"}),
            tool_use("pay__get_charge", {"charge_id": "ch_1"}),
            tool_use("pay__create_refund", {"charge_id": "ch_1", "amount": 4_000}),
            tool_use("pay__get_charge", {"charge_id": "ch_2"}),
            tool_use("pay__create_refund", {"charge_id": "ch_2", "amount": 4_000}),
            text("done"),
        ]
    )
    orch = Orchestrator(
        SqlRunStore(db, admission=rule_admission(THRESHOLD)),
        model,
        lambda: cat,
        lambda: rules.load_policy(db, two_approvers_above=THRESHOLD),
        {"t": pipeline},
    )
    with db.session() as s:
        run = Run(kind="t", input={})
        s.add(run)
        s.flush()
        run_id = run.id
    await orch.drain("w1")

    assert rules.list_rules(db) == []  # revoked before the second refund was proposed
    sent = [w["charge_id"] for w in system.writes]
    assert sent == ["ch_1"], (
        f"refunds sent: {sent}; the refund of ch_2 was proposed after standing rule {rule['id']} was "
        f"revoked, and ran under it: "
        f"{[(a['arguments'], a['status'], a['decided_by']) for a in approvals.list_actions(db, status=None) if a['run_id'] == run_id]}"
    )
