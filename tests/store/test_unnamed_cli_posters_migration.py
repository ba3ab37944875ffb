"""Migration 0017: runs of tickets the CLI posted with no token (`posted_by: "cli"`, a name that
names nobody) are marked as runs whose poster nobody recorded, so their refunds, final
submissions and payees need two different approvers, as intake marks such runs now. Rows are
written as the code at 0016 wrote them, then the database is upgraded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select

from app.services import approvals
from app.services import audit as audit_service
from app.services.auth import Principal
from app.store.db import Database, upgrade
from app.store.tables import Action, AuditEntry, Run, new_id
from tools.base import Catalogue

BOB, CAROL = Principal("bob", "approver"), Principal("carol", "approver")
REFUND = {"kind": "refund", "charge": "ch_1", "amount": 4200, "currency": "usd"}


def no_catalogue() -> Catalogue:
    raise AssertionError("a decision without an edit reads no tools")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    upgrade(db_url, "0016")
    database = Database(db_url)
    yield database
    database.dispose()


def proposed(
    db: Database, run_input: dict[str, Any], effects: dict[str, Any], *, status: str = "pending"
) -> str:
    """A run and one write it proposed, as the code at 0016 left them: one approver."""
    with db.session() as s:
        run = Run(kind="triage", input=run_input, created_by="cli", status="waiting_approval")
        s.add(run)
        s.flush()
        # Only the columns its code wrote: the table at that revision lacks any added since.
        action_id = new_id()
        s.execute(
            insert(Action).values(
                id=action_id,
                run_id=run.id,
                tool_call_id=new_id(),
                tool="payments__create_refund",
                connection="payments",
                operation="create_refund",
                arguments=REFUND,
                proposed_arguments=REFUND,
                status=status,
                risk="medium",
                reasons=[],
                effects=effects,
                required_approvals=1,
                approvals=[],
            )
        )
        return action_id


def state(db: Database, action_id: str) -> tuple[int, dict[str, Any]]:
    with db.read() as s:
        a = s.scalars(select(Action).where(Action.id == action_id)).one()
        run_input = s.scalars(select(Run.input).where(Run.id == a.run_id)).one()
        return a.required_approvals, run_input


def test_runs_posted_as_cli_want_two_approvers_for_their_money_writes(db: Database) -> None:
    money = {"reversible": False, "final": False, "money": {"amount": 4200, "currency": "usd"}}
    reply = {"reversible": True, "final": False}
    by_cli = {"ticket": {"subject": "refund me"}, "delivered": True, "posted_by": "cli"}
    refund = proposed(db, by_cli, money)
    comment = proposed(db, by_cli, reply)
    decided = proposed(db, by_cli, money, status="approved")
    named = proposed(db, {**by_cli, "posted_by": "alice"}, money)

    upgrade(db.url)

    assert state(db, refund) == (2, {**by_cli, "requester_unknown": "poster"})
    assert state(db, comment)[0] == 1  # a reply stays one person's decision
    assert state(db, decided)[0] == 1
    assert state(db, named) == (1, {**by_cli, "posted_by": "alice"})

    # Whoever ran the CLI cannot approve the refund alone any more: it takes two people.
    assert approvals.approve(db, refund, BOB, no_catalogue)["status"] == "pending"
    assert approvals.approve(db, refund, CAROL, no_catalogue)["status"] == "approved"

    with db.read() as s:
        said = s.scalars(select(AuditEntry.event).where(AuditEntry.actor == "migration:0017")).all()
    assert sorted(said) == ["action.approvals_raised", *["run.requester_unknown"] * 3]  # alice's run: none
    assert audit_service.verify(db).ok
