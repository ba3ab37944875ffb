"""Migration 0015: vendors and labels still pending from before their declarations changed (a
payee set; postage of an unknown amount) meet the gate as such writes proposed now would: the
item's poster cannot approve them, and a label needs two approvers. Rows are written as the
code at 0014 wrote them, then the database is upgraded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select

from app.services import approvals
from app.services import audit as audit_service
from app.services.auth import Principal
from app.services.errors import Forbidden
from app.store.db import Database, upgrade
from app.store.tables import Action, AuditEntry, Connection, Run, new_id
from tools.base import Catalogue

ALICE, BOB, CAROL = (Principal(n, "approver") for n in ("alice", "bob", "carol"))
VENDOR = {"name": "Acme GmbH", "currency": "EUR", "iban": "DE89370400440532013000"}


def no_catalogue() -> Catalogue:
    raise AssertionError("a decision without an edit reads no tools")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    upgrade(db_url, "0014")
    database = Database(db_url)
    with database.session() as s:  # connection names are the owner's; kinds are the connectors'
        # the columns 0014 has (a later one, revision, is not there yet)
        s.execute(
            insert(Connection.__table__),
            [
                {"id": new_id(), "name": "books", "kind": "erp", "base_url": "http://erp.invalid"},
                {"id": new_id(), "name": "ship", "kind": "warehouse", "base_url": "http://warehouse.invalid"},
            ],
        )
    yield database
    database.dispose()


def pending(db: Database, run_input: dict[str, Any], tool: str, *, status: str = "pending") -> str:
    """A run and one write it proposed, as the gate at 0014 left them: no requester, one approver."""
    connection, operation = tool.split("__")
    with db.session() as s:
        run = Run(kind="finance", input=run_input, created_by="api-client", status="waiting_approval")
        s.add(run)
        s.flush()
        # Only the columns its code wrote: the table at that revision lacks any added since.
        action_id = new_id()
        s.execute(
            insert(Action).values(
                id=action_id,
                run_id=run.id,
                tool_call_id=new_id(),
                tool=tool,
                connection=connection,
                operation=operation,
                arguments=VENDOR,
                proposed_arguments=VENDOR,
                status=status,
                risk="low",
                reasons=[],
                effects={"reversible": False, "final": False},
                required_approvals=1,
                approvals=[],
            )
        )
        return action_id


def row(db: Database, action_id: str) -> tuple[str | None, int, str]:
    with db.read() as s:
        a = s.scalars(select(Action).where(Action.id == action_id)).one()
        return a.requested_by, a.required_approvals, a.risk


def test_pending_vendors_and_labels_are_held_as_the_gate_holds_them_now(db: Database) -> None:
    posted = {"invoice": {"vendor": "Acme"}, "delivered": False, "posted_by": "alice"}
    vendor = pending(db, posted, "books__create_vendor")
    label = pending(db, posted, "ship__buy_label")
    unknown_poster = pending(db, {"delivered": True, "requester_unknown": "poster"}, "books__create_vendor")
    delivered = pending(db, {"delivered": True}, "books__create_vendor")
    reply = pending(db, posted, "books__list_vendors")  # not one of the two writes
    decided = pending(db, posted, "books__create_vendor", status="approved")
    elsewhere = pending(db, posted, "helpdesk__create_vendor")  # no such connection: not the ERP's

    upgrade(db.url)

    assert row(db, vendor) == ("alice", 1, "medium")
    assert row(db, label) == ("alice", 2, "high")
    assert row(db, unknown_poster) == (None, 2, "medium")
    assert row(db, delivered) == (None, 1, "medium")
    for untouched in (reply, decided, elsewhere):
        assert row(db, untouched) == (None, 1, "low")

    # The poster cannot approve the payee proposed from what she posted; someone else can.
    with pytest.raises(Forbidden):
        approvals.approve(db, vendor, ALICE, no_catalogue)
    assert approvals.approve(db, vendor, BOB, no_catalogue)["status"] == "approved"
    # A label needs two people besides her.
    assert approvals.approve(db, label, BOB, no_catalogue)["status"] == "pending"
    assert approvals.approve(db, label, CAROL, no_catalogue)["status"] == "approved"

    with db.read() as s:
        said = s.scalars(select(AuditEntry.subject_id).where(AuditEntry.actor == "migration:0015")).all()
    assert sorted(said) == sorted([vendor, label, unknown_poster, delivered])
    assert audit_service.verify(db).ok
