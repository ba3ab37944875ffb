"""An approver cannot edit a write an attempt of which may already have gone out.

Exactly once rests on the action id being the idempotency key of one set of arguments: a
retried write is sent again with the same key, and the system (Stripe's Idempotency-Key) or
the connector (Zendesk, Slack, the CRM look for the earlier write with that key) makes the
second send the first one. A failed write that a person retries goes back to `pending` when its
approvals no longer stand (here: its approver's token was revoked). Sent edited under the key
its first attempt used, it would land twice (a look-up on the edited target finds nothing) or
be reported as sent while the system holds the text before the edit. So the edit is refused;
approved as it is, the write lands once.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.llm.scripted import ScriptedModel, text
from app.services import approvals, auth
from app.services.auth import Principal
from app.services.errors import Conflict
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Run
from connectors.base import ConnectorError, tried_before
from tests.agent.fakes import FakeSystem, loop, one_send

LEE = Principal("lee", "approver")


class LandsThenFails(FakeSystem):
    """The first send is made, then its answer is an error (the message went out all the same).
    Later sends look for an earlier write with their key, per recipient, as Zendesk's look-up
    reads the audits of the ticket it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.failed_once = False
        self.keys_by_recipient: dict[str, set[str]] = {}

    async def send(self, args: dict[str, Any], key: str | None) -> Any:
        if tried_before() and (key or "") in self.keys_by_recipient.get(args["to"], set()):
            return {"sent": True, "deduplicated": True}
        self.keys_by_recipient.setdefault(args["to"], set()).add(key or "")
        self.writes.append({**args, "key": key})
        if not self.failed_once:
            self.failed_once = True
            raise ConnectorError("the mail system answered 500 after accepting the message", status=500)
        return {"sent": True, "message_id": len(self.writes)}


async def _failed_then_pending(db: Database) -> tuple[LandsThenFails, Orchestrator, Any, dict[str, Any]]:
    """A message approved by pat goes out, its answer is an error: failed, attempt made. Pat's
    token is revoked (pat left); lee retries it, so it waits for people again."""
    token_id, token = auth.create_token(db, "pat", "approver", actor="admin")
    pat = auth.authenticate(db, token)
    assert pat is not None
    system = LandsThenFails()
    cat = system.catalogue()
    orch = Orchestrator(
        SqlRunStore(db), ScriptedModel([one_send(), text("sent")]), lambda: cat, Policy, {"t": loop}
    )
    with db.session() as s:
        s.add(Run(kind="t", input={}))
    await orch.drain("w")
    [action] = approvals.list_actions(db)
    approvals.approve(db, action["id"], pat, lambda: cat, policy=Policy)
    await orch.drain("w")
    failed = approvals.get_action(db, action["id"])
    assert failed["status"] == "failed" and failed["attempts"] == 1, failed
    assert len(system.writes) == 1  # it went out
    auth.revoke_token(db, token_id, actor="admin")
    retried = approvals.retry(db, action["id"], LEE, policy=Policy)
    assert retried["status"] == "pending", retried
    return system, orch, (lambda: cat), retried


async def test_an_edit_of_a_write_that_may_have_landed_is_refused(db: Database) -> None:
    _, _, cat, pending = await _failed_then_pending(db)
    for edited in (
        {**pending["arguments"], "to": "bob@example.com"},  # another recipient
        {**pending["arguments"], "body": "Sorry, the earlier note had the wrong date: it is the 14th."},
    ):
        with pytest.raises(Conflict, match="attempted 1 time"):
            approvals.approve(db, pending["id"], LEE, cat, edited, policy=Policy, seen=pending["version"])
    still = approvals.get_action(db, pending["id"])
    assert still["status"] == "pending" and still["arguments"] == pending["arguments"], still


async def test_the_write_approved_as_it_was_lands_once(db: Database) -> None:
    system, orch, cat, pending = await _failed_then_pending(db)
    approvals.approve(db, pending["id"], LEE, cat, policy=Policy)
    await orch.drain("w")
    after = approvals.get_action(db, pending["id"])
    assert after["status"] == "succeeded", after
    assert [w["to"] for w in system.writes] == ["ann@example.com"], system.writes
