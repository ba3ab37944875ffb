"""`switchboard demo` beside an exported DATABASE_URL (the production database `serve` uses)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.services.connections import add_connection
from app.store.crypto import SecretBox
from app.store.db import Database
from app.store.tables import Action, Connection, Item, Run
from tests.newcomer._demo import serving_or_exited, start_demo, stop
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e

KEY = "production-secret-key-0123456789"


def test_the_demo_never_rewrites_the_database_that_database_url_names(tmp_path: Path) -> None:
    """CONTRACT: `switchboard demo` is "everything in one process: SQLite in DIR ... seeded data".
    An operator with `DATABASE_URL` (and `SWITCHBOARD_SECRET_KEY`) exported for `switchboard
    serve` who runs `make demo` to try something keeps that database as it was: its own
    `helpdesk` connection, its pending approval, and no demo connections in it."""
    prod = tmp_path / "prod.db"
    db = Database(f"sqlite:///{prod}")
    db.upgrade()
    add_connection(
        db,
        SecretBox(KEY),
        name="helpdesk",
        kind="helpdesk",
        base_url="https://acme.zendesk.com",
        auth_type="zendesk_token",
        credentials={"email": "bot@acme.com", "token": "real-token"},
        config={},
        owner="ops",
        actor="ops",
        allow_private=False,
    )
    with db.session() as s:
        item = Item(kind="ticket", source="helpdesk", external_id="4711", payload={"subject": "x"})
        s.add(item)
        s.flush()
        run = Run(kind="triage", status="waiting_approval", item_id=item.id, input={})
        s.add(run)
        s.flush()
        s.add(
            Action(
                run_id=run.id,
                tool_call_id="c1",
                tool="helpdesk__add_comment",
                connection="helpdesk",
                operation="add_comment",
                arguments={"ticket_id": 4711, "body": "Hello"},
                proposed_arguments={"ticket_id": 4711, "body": "Hello"},
                status="pending",
            )
        )
    port = free_port()
    demo = start_demo(
        tmp_path, port, tmp_path / "demo-data", DATABASE_URL=f"sqlite:///{prod}", SWITCHBOARD_SECRET_KEY=KEY
    )
    try:
        serving_or_exited(demo, port)
    finally:
        stop(demo)
    with db.session() as s:
        conn = s.scalar(select(Connection).where(Connection.name == "helpdesk"))
        statuses = list(s.scalars(select(Action.status)))
        demo_rows = list(s.scalars(select(Connection.name).where(Connection.owner == "demo")))
    assert conn is not None and conn.base_url == "https://acme.zendesk.com", (
        f"the demo repointed the production helpdesk connection at {conn.base_url if conn else None}"
    )
    assert statuses == ["pending"], f"the production database's pending approval is now {statuses}"
    assert not demo_rows, f"the demo added its connections to the production database: {demo_rows}"
