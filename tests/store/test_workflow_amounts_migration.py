"""Migration 0018: workflows the local engine drafted before the `major` filter summarised a
payment's amount as `amount / 100`. The exact expressions it wrote are rewritten, so a ¥5,000
dispute no longer opens a ticket "for 50.00 JPY"; anything a person wrote is left alone.
Rows are written as the code at 0017 wrote them, then the database is upgraded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from app.services import audit as audit_service
from app.services.workflow_engine import render
from app.store.db import Database, upgrade
from app.store.tables import AuditEntry, Workflow

OLD_DISPUTE = (
    "Dispute {{ event.id }} opened on charge {{ event.charge }} for "
    "{{ '%.2f' % ((event.amount or 0) / 100) }} {{ (event.currency or '') | upper }} "
    "({{ event.reason or 'no reason given' }})"
)
OLD_REFUND = (
    "Charge {{ event.id }} was refunded: {{ '%.2f' % ((event.amount_refunded or 0) / 100) }} "
    "{{ (event.currency or '') | upper }}"
)
# A person's own template: not what the engine wrote, so not the migration's to change.
THEIRS = "Refund of {{ event.amount / 100 }} (cents / 100, as we book it)"


def spec(summary: str, *, also: str = "New ticket #{{ event.id }}") -> dict[str, Any]:
    return {
        "trigger": {"connection": "payments", "event": "charge.dispute.created"},
        "steps": [
            {"tool": "helpdesk__create_ticket", "arguments": {"subject": summary, "body": also}},
            {"tool": "chat__post_message", "arguments": {"channel": "#billing", "text": summary}},
        ],
    }


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    upgrade(db_url, "0017")
    database = Database(db_url)
    yield database
    database.dispose()


def saved(db: Database, name: str, workflow_spec: dict[str, Any], status: str = "active") -> str:
    with db.session() as s:
        w = Workflow(name=name, request=name, spec=workflow_spec, status=status)
        s.add(w)
        s.flush()
        return w.id


def specs(db: Database) -> dict[str, dict[str, Any]]:
    with db.session() as s:
        return {w.name: w.spec for w in s.scalars(select(Workflow))}


def test_old_summaries_write_each_currency_in_its_own_units(db: Database, db_url: str) -> None:
    dispute = saved(db, "disputes", spec(OLD_DISPUTE))
    refund = saved(db, "refunds", spec(OLD_REFUND), status="draft")
    mine = saved(db, "mine", spec(THEIRS))
    before = specs(db)

    upgrade(db_url)

    after = specs(db)
    yen = {"id": "dp_1", "charge": "ch_1", "amount": 5000, "currency": "jpy", "reason": "fraudulent"}
    subject = after["disputes"]["steps"][0]["arguments"]["subject"]
    assert render(subject, {"event": yen}) == "Dispute dp_1 opened on charge ch_1 for 5000 JPY (fraudulent)"
    text = after["disputes"]["steps"][1]["arguments"]["text"]
    assert render(text, {"event": yen}) == render(subject, {"event": yen})
    kwd = {"id": "ch_2", "amount_refunded": 5120, "currency": "kwd"}
    assert render(after["refunds"]["steps"][0]["arguments"]["subject"], {"event": kwd}) == (
        "Charge ch_2 was refunded: 5.120 KWD"
    )
    # Two decimals (and no currency at all): the same text the old expression wrote.
    for event in (
        {"id": "dp_3", "charge": "ch_3", "amount": 4599, "currency": "usd"},
        {"id": "dp_4", "charge": "ch_4", "amount": 100001, "currency": "eur", "reason": "duplicate"},
        {"id": "dp_5", "charge": "ch_5", "amount": None},
    ):
        old = render(before["disputes"]["steps"][0]["arguments"]["subject"], {"event": event})
        assert render(subject, {"event": event}) == old
    # The rest of each spec, and a person's own template, are as they were.
    assert after["mine"] == before["mine"]
    assert after["disputes"]["steps"][0]["arguments"]["body"] == "New ticket #{{ event.id }}"
    assert after["disputes"]["trigger"] == before["disputes"]["trigger"]

    with db.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.actor == "migration:0018")).all()
        assert {r.subject_id for r in rows} == {dispute, refund}
        assert mine not in {r.subject_id for r in rows}
        assert all(r.event == "workflow.amounts_in_currency" for r in rows)
        assert audit_service.verify(db).ok


def test_a_database_with_no_old_summaries_is_left_as_it_was(db: Database, db_url: str) -> None:
    saved(db, "mine", spec(THEIRS))
    before = specs(db)
    upgrade(db_url)
    assert specs(db) == before
    with db.session() as s:
        assert not s.scalars(select(AuditEntry).where(AuditEntry.actor == "migration:0018")).all()
