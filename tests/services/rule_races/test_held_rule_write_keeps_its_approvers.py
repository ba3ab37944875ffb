"""A rule-approved write that is held for people keeps every approver the gate would ask for.

A run whose requester nobody recorded (`requester_unknown`, migration 0013; or a file posted by
the CLI with no token) wants two different approvers for any write a person decides
(`Policy.decide`: "after the rules: a standing rule asks nobody"). When the standing rule's
approval no longer holds at the moment the write is about to go out (another run took money from
the same charge meanwhile: `approvals.rule_admission`), the store hands the write to people
(`SqlRunStore._hold`); from then on it is a person's decision like any other, so it wants two
approvers, as the same write would had no rule matched, and expires as any pending write does.
"""

from __future__ import annotations

from typing import Any

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.agent.run import REQUESTER_UNKNOWN
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals
from app.services.approvals import rule_admission
from app.services.auth import Principal
from app.services.views import arguments_version
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from tests.services.test_edit_reassessed import Payments, pipeline
from tests.services.test_split_refunds import refund_rule, refunds

THRESHOLD = 20_000  # both refunds together (8,000) stay below it: only the unknown requester asks for two
PAT, LEE = Principal("pat", "approver"), Principal("lee", "approver")


def _script() -> ScriptedModel:
    return ScriptedModel(
        [
            tool_use("pay__find_customer", {"email": "ann@example.com"}),
            tool_use("pay__get_charge", {"charge_id": "ch_1"}),
            refunds(4_000),
            text("done"),
        ]
    )


def _run(db: Database, run_input: dict[str, Any]) -> str:
    with db.session() as s:
        run = Run(kind="t", input=run_input)
        s.add(run)
        s.flush()
        return run.id


async def _held(db: Database) -> tuple[Payments, Any, Policy, dict[str, Any]]:
    """Run B's rule-approved refund, handed to people at its start; (system, catalogue, gate, action)."""
    system = Payments()
    cat = system.catalogue()
    plain = Policy(two_approvers_above=THRESHOLD)
    ruled = Policy(two_approvers_above=THRESHOLD, standing_rules=[refund_rule()])
    admit = rule_admission(THRESHOLD)

    # Run A's 4,000 from ch_1 waits for a person (proposed before the rule existed).
    first = _run(db, {})
    await Orchestrator(
        SqlRunStore(db, admission=admit), _script(), lambda: cat, lambda: plain, {"t": pipeline}
    ).run_once("w0")
    [waiting] = [a for a in approvals.list_actions(db) if a["run_id"] == first]

    class PatDecidesMeanwhile(SqlRunStore):
        """Pat approves run A's refund just after run B's gate read what ch_1 had moved (nothing)."""

        def moved_from(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
            found = super().moved_from(*args, **kwargs)
            approvals.approve(db, waiting["id"], PAT, lambda: cat, policy=lambda: plain)
            return found

    # Run B: nobody recorded who asked for it; the rule approves its 4,000, then the admission
    # check at start finds run A's refund and hands it to people.
    second = _run(db, {REQUESTER_UNKNOWN: "creator"})
    store = PatDecidesMeanwhile(db, admission=admit)
    await Orchestrator(store, _script(), lambda: cat, lambda: ruled, {"t": pipeline}).run_once("w1")
    [held] = [a for a in approvals.list_actions(db, status=None) if a["run_id"] == second]
    assert held["status"] == "pending", held  # the hold happened
    assert system.writes == [], system.writes
    return system, cat, plain, held


async def test_a_held_rule_refund_of_a_run_without_a_known_requester_wants_two_approvers(
    db: Database,
) -> None:
    _, cat, plain, held = await _held(db)
    decided = approvals.approve(
        db, held["id"], LEE, lambda: cat, policy=lambda: plain, seen=arguments_version(held["arguments"])
    )
    assert decided["status"] == "pending" and held["required_approvals"] == 2, (
        f"a refund of a run whose requester nobody recorded was approved by lee alone after the rule's "
        f"approval was withdrawn: status {decided['status']}, required {held['required_approvals']}, "
        f"reasons {held['reasons']}"
    )


async def test_a_held_rule_refund_expires_like_any_pending_write(db: Database) -> None:
    """A write waiting for people expires after approval_ttl_hours (its own state, and its run goes
    on), the held write as well: a rule's approval had no expiry to keep."""
    _, _, _, held = await _held(db)
    assert held["expires_at"] is not None, (
        f"held write {held['id']} is pending with no expiry: {held['expires_at']}"
    )


def test_a_failed_rule_write_retried_goes_to_two_people_when_nobody_recorded_its_requester(
    db: Database,
) -> None:
    """A standing rule's failed refund, retried by a person, is now people's to decide: two of them
    when the run's requester is unknown, and it expires as any pending write does."""
    from datetime import timedelta

    from app.store.tables import Action, utcnow

    with db.session() as s:
        run = Run(kind="t", status="running", input={REQUESTER_UNKNOWN: "creator"})
        s.add(run)
        s.flush()
        action = Action(
            run_id=run.id,
            tool_call_id="c1",
            tool="pay__create_refund",
            connection="pay",
            operation="create_refund",
            arguments={"charge_id": "ch_1", "amount": 4_000},
            proposed_arguments={"charge_id": "ch_1", "amount": 4_000},
            status="failed",
            decided_by="rule:pay__create_refund",
            effects={"money": {"amount": 4_000, "source": "ch_1"}},
            error="the payment system answered 503",
            expires_at=None,
        )
        s.add(action)
        s.flush()
        action_id = action.id
    retried = approvals.retry(db, action_id, PAT, policy=lambda: Policy(two_approvers_above=THRESHOLD))
    assert retried["status"] == "pending" and retried["required_approvals"] == 2, retried
    assert (
        retried["expires_at"] is not None
        and retried["expires_at"] > (utcnow() + timedelta(hours=71)).isoformat()
    )
