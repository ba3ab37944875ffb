"""Removing a connection leaves nothing of it in force for a later connection of that name.

Every standing rule whose connection side names it is revoked, whatever the glob looks like
("desk*__add_tags", "de?k__*", "[d]esk__add_tags"; a bare "*" is for every connection and
stays), and a failed write of a run still going, which a person could retry, refuses the removal
as a pending one does: it was approved for the system that is going away.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from app.agent.policy import covers
from app.services import rules
from app.services.auth import Principal
from app.services.connections import remove_connection
from tests.services.test_connection_changes import _desk, c  # noqa: F401  (fixture)

LEAD = Principal("lead", "admin")


@pytest.mark.parametrize("pattern", ["desk*__add_tags", "de?k__*", "[d]esk__add_tags"])
def test_a_rule_whose_glob_names_the_removed_connection_does_not_outlive_it(
    c: Any,  # noqa: F811
    pattern: str,
) -> None:
    _desk(c)
    rules.create_rule(c.db, LEAD, tool=pattern, max_risk="low")
    remove_connection(c.db, "desk")
    _desk(c)  # another system, added later under the same name
    new_tool = SimpleNamespace(name="desk__add_tags", connection="desk", operation="add_tags")
    still = [r["tool"] for r in rules.list_rules(c.db) if covers(r["tool"], new_tool)]  # type: ignore[arg-type]
    assert not still, (
        f"after 'desk' was removed and a new 'desk' added, standing rule(s) {still} made for the old "
        "one still approve the new one's writes ahead"
    )


def test_a_failed_write_on_a_removed_connection_is_never_sent_to_a_later_one_of_that_name(
    c: Any,  # noqa: F811
) -> None:
    """A failed write can be retried while its run waits (approvals.retry): it was approved for
    the removed system. `remove_connection` refuses only pending, approved and executing writes
    (UNFINISHED), so the failed one stays retryable, and a retry after a new 'desk' was added
    sends a person's approval of a write on the old system to the new one. Removal must refuse
    (or dismiss the write), or a retry must refuse a write whose connection is not the one it was
    approved on."""
    from app.services import approvals
    from app.services.errors import ServiceError
    from app.store.tables import Action, Run

    _desk(c)
    with c.db.session() as s:
        run = Run(kind="triage", input={}, status="needs_attention")
        s.add(run)
        s.flush()
        action = Action(
            run_id=run.id,
            tool_call_id="c1",
            tool="desk__add_comment",
            connection="desk",
            operation="add_comment",
            arguments={"ticket_id": 1, "body": "Your refund is on its way", "public": True},
            proposed_arguments={"ticket_id": 1, "body": "Your refund is on its way", "public": True},
            status="failed",
            approvals=[{"by": "pat", "at": "2024-01-01T00:00:00+00:00", "edited": False}],
            error="503 from the help desk",
        )
        s.add(action)
        s.flush()
        action_id = action.id
    try:
        remove_connection(c.db, "desk")
    except ServiceError:
        return  # refused while a write on it may still be sent: fine
    _desk(c)  # another system, later, under the same name
    try:
        retried = approvals.retry(c.db, action_id, Principal("lee", "approver"))
    except ServiceError:
        return  # refused: fine
    assert retried["status"] != "approved", (
        "a write pat approved for the removed 'desk' was retried and is approved to go out through "
        "the new connection of that name"
    )


def test_workflows_on_the_removed_connection_are_paused_with_it(c: Any) -> None:  # noqa: F811
    """A workflow triggered by the connection's events, or calling its tools, is paused when the
    connection is removed (audited, with why); one that does neither stays active."""
    from sqlalchemy import select

    from app.store.tables import AuditEntry, Workflow

    _desk(c)

    def workflow(trigger: str, tool: str) -> str:
        spec = {
            "name": "w",
            "trigger": {"event": "ticket.created"},
            "steps": [{"tool": tool, "arguments": {}}],
        }
        with c.db.session() as s:
            w = Workflow(name="w", request="r", spec=spec, status="active", trigger_connection=trigger)
            s.add(w)
            s.flush()
            return w.id

    triggered, calling, other = (
        workflow("desk", "chat__post"),
        workflow("chat", "desk__add_tags"),
        workflow("chat", "chat__post"),
    )
    remove_connection(c.db, "desk")
    with c.db.session() as s:
        status = {w.id: w.status for w in s.scalars(select(Workflow))}
        paused = set(s.scalars(select(AuditEntry.subject_id).where(AuditEntry.event == "workflow.paused")))
    assert (status[triggered], status[calling], status[other]) == ("paused", "paused", "active")
    assert paused == {triggered, calling}
