"""A restarted demo starts its systems from their seed: what the previous session booked went
with them.

README: "The simulators keep their state in memory and start from their seed data, so a restart
… triages the seeded tickets and proposes the seeded $780.00 refund again." The previous
session's refund of that charge (approved, made against simulator state the restart threw away)
does not count as made, and a ticket whose run the restart cancelled is triaged again when it is
posted again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.demo import prepare, seed_large_refund
from app.store.tables import Action, Run
from tests.services.test_demo_restart import BASE, _Payments, _refund_runs, demo_container


async def test_a_refund_made_before_the_restart_does_not_block_the_seeded_refund_after_it(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = demo_container(db_url, tmp_path)
    prepare(c, tmp_path, BASE)
    monkeypatch.setattr(c.pool, "connector", lambda name: _Payments())
    await seed_large_refund(c)
    [first] = _refund_runs(c)
    charge = first.input["record"]["charge_id"]
    with c.db.session() as s:  # the first session: both approvers said yes and the refund was made
        run = s.get(Run, first.id)
        assert run is not None
        run.status = "succeeded"
        s.add(
            Action(
                run_id=first.id,
                tool_call_id="c1",
                tool="payments__create_refund",
                connection="payments",
                operation="create_refund",
                arguments={"charge_id": charge, "amount": 78000},
                proposed_arguments={"charge_id": charge, "amount": 78000},
                status="succeeded",
            )
        )

    again = demo_container(db_url, tmp_path)
    prepare(again, tmp_path, BASE)  # the restart: the simulators start again from their seed data
    monkeypatch.setattr(again.pool, "connector", lambda name: _Payments())
    await seed_large_refund(again)
    rerun = _refund_runs(again)[-1]
    assert rerun.id != first.id

    booked = again._bookings(rerun.id)
    stale = [
        b for b in booked if b["operation"] == "create_refund" and b["arguments"].get("charge_id") == charge
    ]
    assert stale == [], (
        "after a demo restart the finance pipeline still counts the previous session's refund of "
        f"{charge} as made, so the seeded refund is reported as a duplicate and not proposed: {stale}"
    )


async def test_a_ticket_whose_run_the_restart_cancelled_can_be_triaged_again_through_the_api(
    db_url: str, tmp_path: Path
) -> None:
    """A restart cancels the previous session's unfinished runs ("the demo restarted: …"); the
    ticket posted again gets a new run (a cancelled run leaves its item undone)."""
    import httpx

    from app.api.app import create_app
    from app.services.auth import create_token
    from tests.services.test_demo_restart import _pending_write

    c = demo_container(db_url, tmp_path)
    prepare(c, tmp_path, BASE)
    run_id, _ = _pending_write(c)  # a ticket (external_id 4242) waiting for a decision
    again = demo_container(db_url, tmp_path)
    prepare(again, tmp_path, BASE)  # the restart cancels its run
    token = create_token(again.db, "ops", "admin")[1]
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(again)), base_url="http://sb"
        ) as client:
            posted = await client.post(
                "/api/v1/tickets",
                headers=headers,
                json={"subject": "Refund", "body": "b", "requester_email": "a@b.co", "external_id": 4242},
            )
            rerun = await client.post(f"/api/v1/runs/{run_id}/again", headers=headers)
    finally:
        await again.pool.aclose()
        await c.pool.aclose()
    assert posted.status_code == 202, posted.text
    queued_again = posted.json()["run_id"] != run_id or rerun.status_code == 202
    assert queued_again, (
        f"the cancelled ticket cannot be triaged again: POST /tickets -> {posted.json()}, "
        f"POST /runs/{{id}}/again -> {rerun.status_code} {rerun.text}"
    )


def test_a_demo_started_on_another_port_gives_its_connections_a_new_revision(
    db_url: str, tmp_path: Path
) -> None:
    """A worker running beside the demo keeps each connector until its connection's revision
    changes: a demo restarted on another port moves every connection, so each gets a new one;
    restarted on the same port, none does."""
    from sqlalchemy import select

    from app.store.tables import Connection

    def revisions(c: object) -> dict[str, tuple[str, int]]:
        with c.db.session() as s:  # type: ignore[attr-defined]
            return {r.name: (r.base_url, r.revision) for r in s.scalars(select(Connection))}

    first = demo_container(db_url, tmp_path)
    prepare(first, tmp_path, BASE)
    before = revisions(first)
    same = demo_container(db_url, tmp_path)
    prepare(same, tmp_path, BASE)
    assert revisions(same) == before
    moved = demo_container(db_url, tmp_path)
    prepare(moved, tmp_path, "http://127.0.0.1:8123")
    after = revisions(moved)
    assert before and all(after[n][1] == rev + 1 and "8123" in after[n][0] for n, (_, rev) in before.items())


def test_connections_added_at_the_demos_simulators_move_with_the_demo(db_url: str, tmp_path: Path) -> None:
    """The README has a newcomer add `pets`, `stock` and `desk` at the demo's own simulators
    (`$URL/sim/...`, an OAuth2 token URL there too). Restarted on another port, the demo moves them
    with its own connections (URL, settings, a new revision); one pointing elsewhere stays."""
    from sqlalchemy import select

    from app.services.connections import add_connection
    from app.store.tables import Connection

    first = demo_container(db_url, tmp_path)
    prepare(first, tmp_path, BASE)
    for name, url in (("desk", f"{BASE}/sim/helpdesk"), ("elsewhere", "https://acme.zendesk.com")):
        add_connection(
            first.db,
            first.box,
            name=name,
            kind="helpdesk",
            base_url=url,
            auth_type="none",
            credentials={},
            config={"token_url": f"{BASE}/sim/oauth/oauth/tokens"} if name == "desk" else {},
            owner="cli",
            actor="cli",
            allow_private=True,
        )
    moved = demo_container(db_url, tmp_path)
    prepare(moved, tmp_path, "http://127.0.0.1:8123")
    with moved.db.session() as s:
        rows = {
            r.name: r for r in s.scalars(select(Connection).where(Connection.name.in_(["desk", "elsewhere"])))
        }
        desk, elsewhere = rows["desk"], rows["elsewhere"]
        assert desk.base_url == "http://127.0.0.1:8123/sim/helpdesk" and desk.revision == 2
        assert desk.config["token_url"] == "http://127.0.0.1:8123/sim/oauth/oauth/tokens"
        assert elsewhere.base_url == "https://acme.zendesk.com" and elsewhere.revision == 1
