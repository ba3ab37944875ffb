"""Two copies of one invoice triaged side by side: both may wait in the queue, one is booked.

Neither run saw the other's proposal when it checked for duplicates, so the approval is where
the second copy is caught: approvals of bookings queue on one lock, and the second approver
sees the first. Checked one after the other and with both approvers at the same instant, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from app.services import approvals
from app.services.auth import Principal
from app.services.errors import Conflict
from app.store.db import Database
from app.store.tables import Action, Run
from tools.base import Catalogue

PAT, LEE = Principal("pat", "approver"), Principal("lee", "approver")
INVOICE = {"kind": "invoice", "vendor_id": "V1004", "invoice_number": "INV-7781", "amount": "1200.00"}


def booking(db: Database, record: dict[str, Any], operation: str = "post_journal_entry") -> str:
    """A parked record run with one proposed write; returns the action's id."""
    with db.session() as s:
        run = Run(kind="record", input={"record": record}, status="waiting_approval")
        s.add(run)
        s.flush()
        action = Action(
            run_id=run.id,
            tool_call_id="c1",
            tool=f"erp__{operation}",
            connection="erp",
            operation=operation,
            arguments={"memo": record.get("invoice_number")},
            proposed_arguments={"memo": record.get("invoice_number")},
        )
        s.add(action)
        s.flush()
        return action.id


def status(db: Database, action_id: str) -> str:
    with db.read() as s:
        return str(s.scalar(select(Action.status).where(Action.id == action_id)))


def approve(db: Database, action_id: str, who: Principal) -> dict[str, Any]:
    return approvals.approve(db, action_id, who, lambda: Catalogue())


def test_the_second_copy_of_an_invoice_cannot_be_approved_once_the_first_is(db: Database) -> None:
    first, second = booking(db, INVOICE), booking(db, {**INVOICE, "invoice_number": " inv-7781 "})
    approve(db, first, PAT)
    with pytest.raises(Conflict, match=r"(?i)INV-7781 from v1004 is booked already by action"):
        approve(db, second, LEE)
    assert (status(db, first), status(db, second)) == ("approved", "pending")  # nothing stored is lost
    approvals.reject(db, second, LEE, "duplicate of the first copy")
    assert status(db, second) == "rejected"


def test_other_invoices_and_other_writes_are_not_held_back(db: Database) -> None:
    approve(db, booking(db, INVOICE), PAT)
    other_number = booking(db, {**INVOICE, "invoice_number": "INV-7782"})
    other_vendor = booking(db, {**INVOICE, "vendor_id": "V1005"})
    vendor_creation = booking(db, INVOICE, operation="create_vendor")
    for action_id in (other_number, other_vendor, vendor_creation):
        approve(db, action_id, LEE)
        assert status(db, action_id) == "approved"


def test_a_rejected_copy_does_not_hold_the_other_back(db: Database) -> None:
    first, second = booking(db, INVOICE), booking(db, INVOICE)
    approvals.reject(db, first, PAT, "we booked it by hand")
    approve(db, second, LEE)
    assert status(db, second) == "approved"


def test_two_approvers_at_the_same_instant_book_one_copy(db: Database) -> None:
    def go(barrier: threading.Barrier, action_id: str, who: Principal) -> str:
        barrier.wait(timeout=30)
        try:
            approve(db, action_id, who)
        except Conflict:
            return "refused"
        return "approved"

    for _ in range(10):
        first, second = booking(db, INVOICE), booking(db, INVOICE)
        barrier = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(go, (barrier, barrier), (first, second), (PAT, LEE)))
        assert outcomes == ["approved", "refused"]
        assert sorted((status(db, first), status(db, second))) == ["approved", "pending"]
        # clear the way for the next round: the approved copy is rejected after the fact
        with db.session() as s:
            for a in s.scalars(select(Action).where(Action.id.in_([first, second]))):
                a.status = "rejected"


def _try(db: Database, action_id: str, who: Principal) -> str:
    try:
        approve(db, action_id, who)
    except Conflict:
        return "refused"
    return "approved"


def test_a_copy_naming_the_vendor_by_name_is_booked_a_second_time(db: Database) -> None:
    by_id = booking(db, INVOICE)  # vendor_id V1004, INV-7781
    by_name = booking(
        db,
        {
            "kind": "invoice",
            "counterparty": "Lindqvist Design AB",
            "invoice_number": "INV-7781",
            "amount": "1200.00",
        },
    )
    assert _try(db, by_id, PAT) == "approved"
    assert _try(db, by_name, LEE) == "refused"  # the same number and amount, the vendor by name
    assert status(db, by_name) == "pending"


def test_copies_are_compared_by_the_vendor_each_run_resolved(db: Database) -> None:
    """A run keeps the ERP's vendor id with its classification: copies naming the vendor two ways
    are one invoice even at another amount, and another vendor's INV-7781 is not."""
    first = booking(db, INVOICE)
    other_vendor = booking(db, {**INVOICE, "vendor_id": "V2001"})
    by_name = booking(db, {"kind": "invoice", "counterparty": "lindqvist design", "invoice_number": "INV-7781",
                           "amount": "1250.00"})  # fmt: skip
    with db.session() as s:
        run_id = s.scalar(select(Action.run_id).where(Action.id == by_name))
        s.get(Run, run_id).classification = {"vendor_id": "V1004"}
    assert _try(db, first, PAT) == "approved"
    assert _try(db, other_vendor, PAT) == "approved"
    assert _try(db, by_name, LEE) == "refused"


def _two_in_one_run(db: Database, record: dict[str, Any]) -> tuple[str, str]:
    lines = [{"account": "6100", "debit": 1200.0}, {"account": "2000", "credit": 1200.0}]
    args = {"date": "2026-11-20", "memo": "INV-7781", "lines": lines}
    with db.session() as s:
        run = Run(kind="record", input={"record": record}, status="waiting_approval")
        s.add(run)
        s.flush()
        ids = []
        for call in ("c1", "c2"):
            a = Action(
                run_id=run.id,
                tool_call_id=call,
                tool="erp__post_journal_entry",
                connection="erp",
                operation="post_journal_entry",
                arguments=args,
                proposed_arguments=args,
            )
            s.add(a)
            s.flush()
            ids.append(a.id)
        return ids[0], ids[1]


def test_two_entries_for_one_invoice_in_one_run_are_both_approvable(db: Database) -> None:
    first, second = _two_in_one_run(db, INVOICE)
    assert _try(db, first, PAT) == "approved"
    assert _try(db, second, LEE) == "refused"  # 2,400.00 would be booked for a 1,200.00 invoice


@pytest.mark.parametrize("spelled", ["INV7781", "INV/7781", "inv 7781"])
def test_a_copy_spelling_the_number_another_way_is_not_booked_again(db: Database, spelled: str) -> None:
    first = booking(db, INVOICE)  # vendor V1004, INV-7781, 1200.00
    copy = booking(db, {**INVOICE, "invoice_number": spelled})
    assert _try(db, first, PAT) == "approved"
    assert _try(db, copy, LEE) == "refused"


def test_the_journal_is_searched_for_the_number_however_it_was_spelled() -> None:
    from app.services import booked

    entry = {"EntryId": "E1", "Memo": "INV-7781 Lindqvist Design AB", "Lines": [], "TotalDebit": 1.0}
    for spelled in ("INV7781", "inv/7781", "INV-7781"):
        found = booked.journal_duplicates({"invoice_number": spelled, "amount": "1200.00"}, None, [entry])
        assert [f["kind"] for f in found] == ["already_booked"], spelled
    other = booked.journal_duplicates({"invoice_number": "INV-778", "amount": "1200.00"}, None, [entry])
    assert other == []
