"""One approval for a new ticket and its reply.

A ticket that came in without a help-desk id is first created there, and only
then can the drafted reply be posted on it. Once it is created, the item learns
the new ticket's id (so a later pull of that ticket is the same item, not a new
triage). The queue shows both on one card;
an approver who approves "the ticket and its reply" approves the reply's exact
text at the same time. That decision is recorded (audit `action.reply_approved_ahead`),
and when the run then proposes the reply, this hook approves it in that
person's name through the ordinary approval service (schema, policy, four eyes)
only if it is the public reply of that text on the ticket just created, and not
high risk. Anything else stays in the queue for a person, as every write does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import bindparam, select

from app.agent.ports import ActionRecord
from app.services import approvals, auth, intake
from app.services.auth import Principal
from app.services.errors import ServiceError
from app.services.views import arguments_version
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Action, AuditEntry
from tools.base import Catalogue

log = logging.getLogger("switchboard.followups")
EVENT = "action.reply_approved_ahead"
CREATE = "create_ticket"
REPLY = "add_comment"


def follow_up_reply(run: dict[str, Any] | None) -> str | None:
    """The reply that follows a created ticket, as the run drafted it; None when a person must review first."""
    if not run:
        return None
    classification = run.get("classification") or {}
    draft = run.get("draft") or {}
    body = draft.get("body")
    if classification.get("needs_review") or not isinstance(body, str) or not body.strip():
        return None
    return body


def approve_ahead(db: Database, action_id: str, who: Principal, reply: str) -> None:
    """Record that `who`, approving the ticket's creation, approved this reply text too."""
    with db.session() as s:
        a = s.get(Action, action_id)
        if a is None or a.operation != CREATE:
            return
        data = {"run_id": a.run_id, "role": who.role, "reply": reply}
        audit(s, who.name, EVENT, "action", a.id, {**data, "token": who.token_id} if who.token_id else data)


def _created_id(result: Any) -> Any:
    data = result
    for _ in range(3):
        if not isinstance(data, dict):
            return None
        ticket = data.get("ticket")
        if isinstance(ticket, dict) and ticket.get("id") is not None:
            return ticket["id"]
        if data.get("id") is not None:
            return data["id"]
        data = data.get("result", data.get("data"))
    return None


_CREATED = (
    select(Action.id)
    .where(Action.run_id == bindparam("run_id"), Action.operation == CREATE, Action.status == "succeeded")
    .limit(1)
)


class ReplyFollowUp:
    """Called when a run parks: approves a reply that a person approved ahead, as described above."""

    def __init__(self, db: Database, catalogue: Callable[[], Catalogue]):
        self.db = db
        self.catalogue = catalogue

    @staticmethod
    def may_apply(actions: Iterable[ActionRecord]) -> bool:
        """Whether the run has a ticket creation at all, by the actions its pass knows (an action's
        operation never changes): almost no parking run has, and then nothing is read."""
        return any(a.operation == CREATE for a in actions)

    def learn(self, run_id: str, made: list[tuple[str, Any]]) -> None:
        """The run's item is the ticket it created: keyed by that ticket's id on its help desk."""
        for connection, ticket_id in made:
            if ticket_id is not None and intake.learn_external_id(self.db, run_id, connection, ticket_id):
                return

    def created(self, run_id: str) -> None:
        """For a run that ended after creating a ticket (with nothing left to park on): the item
        learns the ticket's id all the same."""
        with self.db.read() as s:
            made = [
                (c.connection, _created_id(c.result))
                for c in s.scalars(
                    select(Action).where(
                        Action.run_id == run_id, Action.operation == CREATE, Action.status == "succeeded"
                    )
                )
            ]
        self.learn(run_id, made)

    def __call__(self, run_id: str) -> int:
        with self.db.read() as s:
            # One plain statement says whether the creation succeeded.
            if s.connection().scalar(_CREATED, {"run_id": run_id}) is None:
                return 0
            created = s.scalars(
                select(Action).where(
                    Action.run_id == run_id, Action.operation == CREATE, Action.status == "succeeded"
                )
            ).all()
            ahead = {
                e.subject_id: e
                for e in s.scalars(
                    select(AuditEntry).where(
                        AuditEntry.event == EVENT, AuditEntry.subject_id.in_([c.id for c in created])
                    )
                )
            }
            pending = s.scalars(
                select(Action).where(
                    Action.run_id == run_id, Action.operation == REPLY, Action.status == "pending"
                )
            ).all()
            # Applied in its approver's name only while the token they approved with stands.
            revoked = auth.revoked_of(
                s.connection(), (str(e.data.get("token") or "") for e in ahead.values())
            )
            plans: list[tuple[str, Principal, str]] = []
            made = [(c.connection, _created_id(c.result)) for c in created]
            for c in created:
                entry = ahead.get(c.id)
                if entry is None or entry.data.get("token") in revoked:
                    continue
                who = Principal(
                    entry.actor, str(entry.data.get("role") or "approver"), entry.data.get("token")
                )
                ticket_id = _created_id(c.result)
                for a in pending:
                    args = a.arguments or {}
                    if (
                        a.connection == c.connection
                        and str(args.get("ticket_id")) == str(ticket_id)
                        and args.get("body") == entry.data.get("reply")
                        and args.get("public", True) is True
                        and a.risk != "high"
                    ):
                        plans.append((a.id, who, arguments_version(args)))
        self.learn(run_id, made)
        done = 0
        for action_id, who, version in plans:
            try:  # of the arguments checked above, not of any edit made since
                approvals.approve(self.db, action_id, who, self.catalogue, seen=version)
            except ServiceError as exc:  # e.g. decided meanwhile, or four eyes: it stays for a person
                log.info("reply %s approved ahead was left for a person: %s", action_id, exc.message)
                continue
            done += 1
        return done
