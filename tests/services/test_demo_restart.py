"""A restarted demo: the same admin token, and nothing left waiting on simulator state that is gone.

The simulators keep their state in memory and start again from their seed data, so a restart puts
away what the previous session proposed (pending actions expire with that reason, unfinished runs
are cancelled) rather than leave approvals that would write against records that no longer exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.demo import RESTARTED, demo_settings, prepare, seed_large_refund
from app.main import Container
from app.services import approvals, intake
from app.services.auth import authenticate, revoke_token
from app.store.tables import Action, ApiToken, Item, Run

BASE = "http://127.0.0.1:8000"


def demo_container(db_url: str, data_dir: Path) -> Container:
    settings = demo_settings(data_dir, BASE)
    settings.database_url = db_url
    return Container(settings)


def _pending_write(c: Container) -> tuple[str, str]:
    run_id, _ = intake.submit(
        c.db,
        kind="ticket",
        run_kind="triage",
        payload={"subject": "Refund", "body": "b", "requester_email": "a@b.co", "external_id": 4242},
        source="helpdesk",
        actor="demo-seed",
    )
    with c.db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        run.status = "waiting_approval"
        a = Action(
            run_id=run_id,
            tool_call_id="c1",
            tool="helpdesk__add_comment",
            connection="helpdesk",
            operation="add_comment",
            arguments={"ticket_id": 4242, "body": "Refunded."},
            proposed_arguments={"ticket_id": 4242, "body": "Refunded."},
        )
        s.add(a)
        s.flush()
        return run_id, a.id


def _admin_tokens(c: Container) -> int:
    with c.db.session() as s:
        return int(
            s.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.name == "demo-admin")) or 0
        )


def test_each_start_reuses_the_admin_token_in_the_data_dir(db_url: str, tmp_path: Path) -> None:
    first = prepare(demo_container(db_url, tmp_path), tmp_path, BASE)
    c = demo_container(db_url, tmp_path)
    assert prepare(c, tmp_path, BASE) == first
    assert prepare(demo_container(db_url, tmp_path), tmp_path, BASE) == first
    assert _admin_tokens(c) == 1 and (tmp_path / "admin-token").read_text().strip() == first
    # a token that no longer signs in is replaced, and the new one is written down
    who = authenticate(c.db, first)
    assert who is not None and who.token_id is not None
    revoke_token(c.db, who.token_id, actor="test")
    second = prepare(demo_container(db_url, tmp_path), tmp_path, BASE)
    assert second != first and authenticate(c.db, second) is not None
    assert (tmp_path / "admin-token").read_text().strip() == second


def test_a_restart_puts_away_what_the_previous_session_left_waiting(db_url: str, tmp_path: Path) -> None:
    c = demo_container(db_url, tmp_path)
    prepare(c, tmp_path, BASE)
    run_id, action_id = _pending_write(c)
    prepare(demo_container(db_url, tmp_path), tmp_path, BASE)  # the restart
    action = approvals.get_action(c.db, action_id)
    assert action["status"] == "expired" and action["reason"] == RESTARTED
    assert approvals.list_actions(c.db, "pending") == []
    with c.db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None and run.status == "cancelled" and run.error == RESTARTED


class _Payments:
    """The payments connection as the seed reads it: the hotel and its seeded charge."""

    async def find_customer(self, email: str) -> dict[str, Any]:
        return {"id": "cus_harbor", "email": email}

    async def list_charges(self, customer_id: str) -> list[dict[str, Any]]:
        return [{"id": "ch_harbor_3120", "customer": customer_id}]


def _refund_runs(c: Container) -> list[Run]:
    with c.db.session() as s:
        item = s.scalar(select(Item).where(Item.kind == "record", Item.external_id == "demo-refund-NW-48230"))
        assert item is not None
        return list(s.scalars(select(Run).where(Run.item_id == item.id).order_by(Run.created_at)))


async def test_a_restart_proposes_the_seeded_two_approver_refund_again(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README promises the queue starts with the $780.00 refund, on every start: its first run
    is cancelled by the restart, so the seed runs it again, as it triages the seeded tickets again."""
    c = demo_container(db_url, tmp_path)
    prepare(c, tmp_path, BASE)
    monkeypatch.setattr(c.pool, "connector", lambda name: _Payments())
    await seed_large_refund(c)
    [first] = _refund_runs(c)
    assert first.status == "queued" and first.input["record"]["charge_id"] == "ch_harbor_3120"

    again = demo_container(db_url, tmp_path)
    prepare(again, tmp_path, BASE)  # the restart: the first run is put away
    monkeypatch.setattr(again.pool, "connector", lambda name: _Payments())
    await seed_large_refund(again)
    cancelled, rerun = _refund_runs(again)
    assert (cancelled.id, cancelled.status, cancelled.error) == (first.id, "cancelled", RESTARTED)
    assert rerun.status == "queued" and rerun.kind == "record" and rerun.created_by == "demo-seed"
    assert rerun.input == first.input  # the same request for a refund, four eyes and all
