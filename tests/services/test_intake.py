"""Intake keys items by their system's id: a delivery that comes again gets its first run back,
even when two deliveries of one item race past the look-up and meet in the unique index."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.services import intake
from app.store.db import Database
from app.store.tables import AuditEntry, Item, Run


def submit(db: Database) -> tuple[str, bool]:
    payload = {"external_id": 7, "subject": "Charged twice", "body": "Refund one, please."}
    return intake.submit(
        db, kind="ticket", run_kind="triage", payload=payload, source="api", actor="api-client"
    )


def test_a_delivery_that_loses_the_race_gets_the_first_run(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, created = submit(db)
    assert created
    looked_up = intake._existing_run
    misses: list[tuple[str | None, bool]] = [
        (None, False)
    ]  # the racing delivery's look-up ran before the first one committed

    def late(*args: object) -> tuple[str | None, bool]:
        return misses.pop() if misses else looked_up(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(intake, "_existing_run", late)
    assert submit(db) == (first, False)
    assert not misses
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 1
        assert s.scalar(select(func.count()).select_from(Run)) == 1
        assert (
            s.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.event == "ticket.received")
            )
            == 1
        )


@pytest.mark.parametrize(
    ("via", "actor", "poster"),
    [
        ("api", "alice", "alice"),  # POST /api/v1/tickets under alice's token
        ("ui", "alice", "alice"),  # the web UI's form
        ("cli", "alice", "alice"),  # `switchboard triage FILE` under alice's token
        ("helpdesk", "cli", None),  # pulled from the help desk: the system delivered it
        ("payments", "webhook:payments", None),  # a webhook
    ],
)
def test_an_item_a_person_posts_names_its_poster(
    db: Database, via: str, actor: str, poster: str | None
) -> None:
    """The gate keeps the poster from approving the refunds and final submissions proposed from it."""
    payload = {"subject": "Charged twice", "body": "Refund one, please.", "requester_email": "a@b.co"}
    run_id, _ = intake.submit(db, kind="ticket", run_kind="triage", payload=payload, source=via, actor=actor)
    with db.read() as s:
        data = s.get(Run, run_id).input  # type: ignore[union-attr]
    assert data["delivered"] is True and data.get("posted_by") == poster


@pytest.mark.parametrize(
    ("via", "system"),
    [
        ("api", "helpdesk"),
        ("cli", "helpdesk"),
        ("ui", "helpdesk"),
        ("helpdesk", "helpdesk"),
        ("desk", "desk"),
    ],
)
def test_a_ticket_names_the_help_desk_its_ids_belong_to(db: Database, via: str, system: str) -> None:
    """Triage reads and writes on that help desk, never on another connection of its kind; a
    ticket posted through a channel (API, CLI, web UI) belongs to the configured help desk."""
    payload = {"external_id": 7, "subject": "Charged twice", "body": "Refund one, please."}
    run_id, _ = intake.submit(db, kind="ticket", run_kind="triage", payload=payload, source=via, actor="a")
    with db.read() as s:
        assert s.get(Run, run_id).input["system"] == system  # type: ignore[union-attr]
        assert s.scalar(select(Item.source)) == system


@pytest.mark.parametrize("kept_as", ["api", "cli", "ui", "helpdesk"])
def test_a_ticket_stored_under_its_channel_is_found_again(db: Database, kept_as: str) -> None:
    """Tickets stored before items were keyed by their system kept the channel they came by as
    their source: the same ticket arriving again gets that first run back, not a second triage;
    a ticket of another system with the same id is another item."""
    first, _ = submit(db)
    with db.session() as s:
        item = s.scalars(select(Item)).one()
        item.source = kept_as  # as stored then
    assert submit(db) == (first, False)
    other, created = intake.submit(
        db, kind="ticket", run_kind="triage", payload={"external_id": 7}, source="shop", actor="a"
    )
    assert created and other != first
