"""Tell the team when a write waits for approval: a message in a chat channel.

The notice is Switchboard's own, configured by an operator (SWITCHBOARD_NOTIFY,
e.g. "chat:#approvals") as a standing decision: fixed wording, the tool, its
risk and a link to the queue; no text from the model or the item. Each action
is announced once (the chat connector deduplicates on the action id), and a
failure to notify never holds up a run.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from app.services.connections import ConnectorPool
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Action, AuditEntry

log = logging.getLogger("switchboard.notify")


class ApprovalNotifier:
    def __init__(self, db: Database, pool: ConnectorPool, target: str, public_url: str | None):
        connection, _, channel = target.partition(":")
        self.db, self.pool = db, pool
        self.connection, self.channel = connection, channel or "#approvals"
        self.public_url = (public_url or "").rstrip("/")

    def _link(self, action_id: str) -> str:
        return f"{self.public_url}/ui/queue/{action_id}" if self.public_url else f"/ui/queue/{action_id}"

    async def __call__(self, run_id: str) -> None:
        with self.db.session() as s:
            pending = [
                (a.id, a.tool, a.risk)
                for a in s.scalars(select(Action).where(Action.run_id == run_id, Action.status == "pending"))
            ]
            # A run parks again after each approved write runs; announce each action only once.
            told = set(
                s.scalars(
                    select(AuditEntry.subject_id).where(
                        AuditEntry.event == "approval.notified",
                        AuditEntry.subject_id.in_([p[0] for p in pending]),
                    )
                )
            )
            pending = [p for p in pending if p[0] not in told]
        if not pending:
            return
        try:
            post = getattr(self.pool.connector(self.connection), "post_message", None)
        except Exception:
            post = None
        if post is None:
            log.warning(
                "notification connection %s is not configured or cannot post messages", self.connection
            )
            return
        for action_id, tool, risk in pending:
            text = (
                f"A write is waiting for approval: {tool} ({risk} risk). Review it: {self._link(action_id)}"
            )
            try:
                await post(channel=self.channel, text=text, idempotency_key=f"notify-{action_id}")
            except Exception as exc:
                log.warning("could not notify %s about action %s: %s", self.channel, action_id, exc)
                continue
            with self.db.session() as s:
                audit(
                    s,
                    "system",
                    "approval.notified",
                    "action",
                    action_id,
                    {"connection": self.connection, "channel": self.channel},
                )
