"""Tickets posted through the API, CLI or web UI go to the help desk connection, whatever it is
called: the one named `helpdesk`, else the only help-desk connection (here `zendesk`)."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.api.app import create_app
from app.main import Container
from app.services.auth import create_token
from app.services.connections import add_connection
from connectors.helpdesk.simulator import create_app as helpdesk_sim
from evals.wiring import HELPDESK_URL, settings


async def test_a_help_desk_named_zendesk_gets_the_api_tickets(tmp_path: Path) -> None:
    c = Container(
        settings(f"sqlite:///{tmp_path / 'sb.db'}", tmp_path),
        transport=httpx.ASGITransport(app=helpdesk_sim()),
    )
    c.db.upgrade()
    add_connection(
        c.db,
        c.box,
        name="zendesk",
        kind="helpdesk",
        base_url=HELPDESK_URL,
        auth_type="zendesk_token",
        credentials={"email": "switchboard@northwind.example", "token": "s3cr3t-helpdesk-token"},
        owner="ops",
    )
    token = create_token(c.db, "ops", "admin")[1]
    app = create_app(c)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sb") as client:
            r = await client.post(
                "/api/v1/tickets",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "subject": "Where is my parcel?",
                    "body": "Order 4417 has not arrived and tracking shows nothing.",
                    "requester_email": "bo@example.com",
                },
            )
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]
            await c.orchestrator.drain("w")
            run = (
                await client.get(f"/api/v1/runs/{run_id}", headers={"Authorization": f"Bearer {token}"})
            ).json()
    finally:
        await c.pool.aclose()
    summary = (run.get("result") or {}).get("summary", "")
    assert "the connection helpdesk" not in summary, summary
    assert [a["tool"] for a in run["actions"]] == ["zendesk__create_ticket"], (run["status"], summary)


def test_a_help_desk_added_later_gets_the_next_ticket(tmp_path: Path) -> None:
    """The help desk is remembered for a few seconds; adding one forgets it at once."""
    from app.services import intake

    c = Container(settings(f"sqlite:///{tmp_path / 'sb.db'}", tmp_path))
    c.db.upgrade()
    assert intake.ticket_system(c.db) == "helpdesk"
    add_connection(c.db, c.box, name="zendesk", kind="helpdesk", base_url=HELPDESK_URL, allow_private=True)
    assert intake.ticket_system(c.db) == "zendesk"
