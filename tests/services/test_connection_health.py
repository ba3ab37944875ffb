"""Connections seen by the people who own them: token expiry, failed refresh, open circuits."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.config import Settings
from app.main import Container
from app.services.connections import add_connection, list_connections
from connectors.helpdesk.simulator import create_app
from connectors.simulator_base import OAuthSettings, SimulatorAuth


def make(db_url: str, tmp_path: Path, sim: object) -> Container:
    c = Container(
        Settings.model_validate({"DATABASE_URL": db_url, "SWITCHBOARD_DATA_DIR": str(tmp_path)}),
        transport=httpx.ASGITransport(app=sim),  # type: ignore[arg-type]
    )
    c.db.upgrade()
    return c


async def test_oauth_token_expiry_is_recorded_and_a_failed_refresh_is_an_alert(
    db_url: str, tmp_path: Path
) -> None:
    oauth = OAuthSettings(client_id="sb", client_secret="right-secret", expires_in=3600)
    sim = create_app(auth=SimulatorAuth(oauth=oauth))
    c = make(db_url, tmp_path, sim)
    add_connection(
        c.db,
        c.box,
        name="helpdesk",
        kind="helpdesk",
        base_url="http://hd.sim",
        auth_type="oauth2_client_credentials",
        credentials={"client_id": "sb", "client_secret": "right-secret"},
        config={"token_url": "http://hd.sim/oauth/token"},
        owner="ops",
    )
    ticket = await c.pool.connector("helpdesk").get_ticket(ticket_id=1)  # type: ignore[attr-defined]
    assert ticket["id"] == 1
    [row] = list_connections(c.db)
    assert row["token_expires_at"] is not None and row["health"] != "error"
    await c.pool.aclose()

    # the secret is rotated on the authorization server: the next refresh fails
    oauth.client_secret = "rotated-secret"
    c2 = make(db_url, tmp_path, sim)
    result = await c2.pool.test("helpdesk")
    assert result["health"] == "error"
    [row] = list_connections(c2.db)
    assert row["health"] == "error"
    assert any("credential" in a for a in row["alerts"]), row
    assert "right-secret" not in str(row) and "rotated-secret" not in str(row)
    await c2.pool.aclose()


async def test_an_open_circuit_is_shown_on_the_connection_and_told_to_the_model(
    db_url: str, tmp_path: Path
) -> None:
    sim = create_app()
    c = make(db_url, tmp_path, sim)
    add_connection(
        c.db,
        c.box,
        name="helpdesk",
        kind="helpdesk",
        base_url="http://hd.sim",
        config={"circuit_failures": 2, "circuit_reset_seconds": 600, "retry_backoff_seconds": 0},
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://hd.sim") as control:
        await control.post("/_faults", json={"fail_next": 100, "status": 503})
    tool = c.pool.catalogue().get("helpdesk__get_ticket")
    for _ in range(3):
        try:
            await tool.invoke({"ticket_id": 1}, None)
        except Exception as exc:
            last = str(exc)
    assert "helpdesk is unavailable" in last
    [row] = list_connections(c.db, c.pool.breakers)
    assert row["circuit"]["state"] == "open"
    assert any(a.startswith("circuit open") for a in row["alerts"])
    await c.pool.aclose()
