"""Connections change while workers and the API run: added, edited (a rotated key), removed.

A running process must offer a connection added elsewhere (the README adds systems with the CLI
while `make demo` runs), call an edited one with its new settings, and stop calling a removed one;
an edit is audited without its values, and a removal never strands writes waiting on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.services.connections import add_connection, remove_connection, update_connection
from app.services.errors import Conflict, Invalid, NotFound
from app.store.tables import Action, AuditEntry, Connection, Run, StandingRuleRow
from connectors.helpdesk.simulator import create_app
from connectors.simulator_base import SimulatorAuth
from evals.wiring import container

EMAIL, TOKEN = "switchboard@northwind.example", "s3cr3t-helpdesk-token"


@pytest.fixture
async def c(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    desk = create_app(auth=SimulatorAuth(basic=(f"{EMAIL}/token", TOKEN)))  # checks the key, as Zendesk does
    c = container(db_url, tmp_path, sim=desk)
    c.pool.fresh_seconds = 0  # look at the rows on every load (a running process looks every 2 s)
    yield c
    await c.pool.aclose()


def _desk(c: Any, name: str = "desk", **extra: Any) -> None:
    add_connection(
        c.db,
        c.box,
        name=name,
        kind="helpdesk",
        base_url="http://helpdesk.sim",
        auth_type="zendesk_token",
        credentials={"email": EMAIL, "token": TOKEN},
        allow_private=True,
        **extra,
    )


async def test_a_connection_added_elsewhere_is_offered_by_a_running_process(c: Any) -> None:
    before = await c.pool.load()
    assert not [t for t in before if t.name.startswith("desk__")]
    _desk(c)  # as the CLI does, in another process, while this one runs
    after = await c.pool.load()
    assert "desk__get_ticket" in {t.name for t in after}


async def test_a_rotated_key_is_used_by_a_running_process(c: Any) -> None:
    _desk(c)
    cat = await c.pool.load()
    first = await cat.get("desk__get_ticket").invoke({"ticket_id": 1}, None)
    assert first["id"] == 1

    changed = update_connection(c.db, c.box, "desk", credentials={"token": "wrong-token"}, allow_private=True)
    assert changed == ["credentials"]
    cat = await c.pool.load()
    with pytest.raises(Exception, match=r"401|uthenticat"):
        await cat.get("desk__get_ticket").invoke({"ticket_id": 1}, None)

    update_connection(c.db, c.box, "desk", credentials={"token": TOKEN}, allow_private=True)
    cat = await c.pool.load()
    assert (await cat.get("desk__get_ticket").invoke({"ticket_id": 1}, None))["id"] == 1


async def test_an_edit_is_audited_by_name_never_by_value_and_keeps_the_other_keys(c: Any) -> None:
    _desk(c)
    update_connection(c.db, c.box, "desk", credentials={"token": "n3w-t0ken-value"}, allow_private=True)
    with c.db.session() as s:
        row = s.scalars(select(AuditEntry).where(AuditEntry.event == "connection.updated")).one()
        data = dict(row.data)
    assert data["changed"] == ["credentials"] and data["credential_keys"] == ["token"]
    assert "n3w-t0ken-value" not in json.dumps(data)
    with c.db.session() as s:
        stored = s.scalars(select(Connection).where(Connection.name == "desk")).one()
        creds = c.box.open(stored.credentials)
    assert creds == {"email": EMAIL, "token": "n3w-t0ken-value"}


def test_an_edit_that_breaks_the_connection_is_refused_and_changes_nothing(c: Any) -> None:
    _desk(c)
    with pytest.raises(Invalid, match="base_url must start with http"):
        update_connection(c.db, c.box, "desk", base_url="ftp://desk", allow_private=True)
    with pytest.raises(Invalid, match="bearer auth needs credentials: token"):
        update_connection(c.db, c.box, "desk", auth_type="bearer", allow_private=True)
    with pytest.raises(NotFound, match="no connection nope"):
        update_connection(c.db, c.box, "nope", base_url="http://x", allow_private=True)
    assert update_connection(c.db, c.box, "desk", allow_private=True) == []


def pending_write(c: Any, connection: str, operation: str, arguments: dict[str, Any]) -> str:
    """A write on `connection` waiting for a person, in a run of its own; its action id."""
    with c.db.session() as s:
        run = Run(kind="triage", input={})
        s.add(run)
        s.flush()
        action = Action(
            run_id=run.id,
            tool_call_id="c1",
            tool=f"{connection}__{operation}",
            connection=connection,
            operation=operation,
            arguments=arguments,
            proposed_arguments=arguments,
            status="pending",
        )
        s.add(action)
        s.flush()
        return str(action.id)


async def test_a_removed_connection_is_no_longer_offered(c: Any) -> None:
    _desk(c)
    assert "desk__get_ticket" in {t.name for t in await c.pool.load()}
    remove_connection(c.db, "desk")
    assert not [t for t in await c.pool.load() if t.name.startswith("desk__")]


def test_a_connection_with_writes_waiting_is_not_removed(c: Any) -> None:
    _desk(c)
    with c.db.session() as s:
        run = Run(kind="triage", input={})
        s.add(run)
        s.flush()
        s.add(
            Action(
                run_id=run.id,
                tool_call_id="c1",
                tool="desk__add_comment",
                connection="desk",
                operation="add_comment",
                arguments={},
                proposed_arguments={},
                status="pending",
            )
        )
    with pytest.raises(Conflict, match="1 write\\(s\\) pending, approved, running or failed"):
        remove_connection(c.db, "desk")


def test_removing_a_connection_revokes_its_standing_rules(c: Any) -> None:
    """Else a later connection of that name, perhaps another system, would inherit them."""
    _desk(c)
    with c.db.session() as s:
        s.add(StandingRuleRow(tool="desk__add_tags", approved_by="lead"))
        s.add(StandingRuleRow(tool="helpdesk__add_tags", approved_by="lead"))
    remove_connection(c.db, "desk")
    with c.db.session() as s:
        rules = {r.tool: r.revoked_at is not None for r in s.scalars(select(StandingRuleRow))}
    assert rules == {"desk__add_tags": True, "helpdesk__add_tags": False}


async def test_a_replaced_connector_is_closed_with_the_pool_not_under_a_call(c: Any) -> None:
    _desk(c)
    old = (await c.pool.load()).get("desk__get_ticket")
    update_connection(c.db, c.box, "desk", config={"timeout": 20}, allow_private=True)
    await c.pool.load()
    # the tool a call already holds still works: its client was not closed under it
    assert (await old.invoke({"ticket_id": 1}, None))["id"] == 1
    await c.pool.aclose()
    with pytest.raises((RuntimeError, httpx.HTTPError)):
        await old.invoke({"ticket_id": 1}, None)


def test_a_write_proposed_for_a_connection_since_replaced_is_not_approved(c: Any) -> None:
    """A pass that started before a connection was removed may still propose a write on it; once
    another connection of that name is added (perhaps another system), approving the old write
    would send it there. It is refused, naming why; rejecting it works."""
    from datetime import timedelta

    from app.services import approvals
    from app.services.auth import Principal
    from app.store.tables import utcnow

    _desk(c)
    with c.db.session() as s:
        run = Run(kind="triage", input={})
        s.add(run)
        s.flush()
        action = Action(
            run_id=run.id,
            tool_call_id="c1",
            tool="desk__add_tags",
            connection="desk",
            operation="add_tags",
            arguments={"ticket_id": 1, "tags": ["vip"]},
            proposed_arguments={"ticket_id": 1, "tags": ["vip"]},
            status="pending",
            created_at=utcnow() - timedelta(hours=1),
        )
        s.add(action)
        s.flush()
        action_id = action.id
        s.delete(s.scalars(select(Connection).where(Connection.name == "desk")).one())
    _desk(c)  # another system, added under the same name
    pat = Principal("pat", "approver")
    with pytest.raises(Conflict, match="was added again after action"):
        approvals.approve(c.db, action_id, pat, c.pool.catalogue)
    assert approvals.reject(c.db, action_id, pat, "for the old desk")["status"] == "rejected"
