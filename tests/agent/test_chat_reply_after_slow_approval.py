"""A thread reply approved hours after it was proposed, whose answer was lost, is posted once.

The first attempt goes out only when a person approves, which may be hours after the proposal:
a busy thread gets more than 60 replies in between. The run tells the connector when the first
attempt went out (`not_written_before`, from the audit's first `action.executing`), and
`_find_action` reads the thread oldest first from there (minus five minutes), so the earlier
attempt's post is on the first pages read and the retry does not post again.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from app.agent.orchestrator import Orchestrator
from app.agent.policy import Policy
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services import approvals
from app.services.auth import Principal
from app.store.db import Database
from app.store.runs import SqlRunStore
from app.store.tables import Action, Run, utcnow
from connectors.chat.client import ChatConnector
from connectors.http import NO_RETRY, build_client
from tests.agent.fakes import loop
from tests.connectors.contracts.recorder import body, reply
from tools.base import Catalogue
from tools.from_connector import tools_for

PAT = Principal("pat", "approver")
CHANNEL = "C05BILLING1"


class Slack:
    """conversations.replies / chat.postMessage as Slack documents them, on the real clock."""

    def __init__(self, parent_ts: float) -> None:
        self.parent = f"{parent_ts:.6f}"
        self.thread: list[dict[str, Any]] = [
            {"type": "message", "ts": self.parent, "thread_ts": self.parent, "user": "U1", "text": "Incident"}
        ]
        self.posts: list[dict[str, Any]] = []
        self.lose_answers = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        method = request.url.path.removeprefix("/api/")
        p = request.url.params
        if method == "conversations.replies":
            oldest = float(p.get("oldest") or 0)
            window = [m for m in self.thread if m["ts"] == self.parent or float(m["ts"]) > oldest]
            limit = min(int(p.get("limit") or 15), 15)
            start = int(p.get("cursor") or 0)
            page = window[start : start + limit]
            more = start + limit < len(window)
            out: dict[str, Any] = {"ok": True, "messages": page, "has_more": more}
            if more:
                out["response_metadata"] = {"next_cursor": str(start + limit)}
            return reply(200, out)
        if method == "chat.postMessage":
            sent = body(request)
            ts = f"{time.time():.6f}"
            message = {
                "type": "message",
                "ts": ts,
                "thread_ts": sent.get("thread_ts"),
                "bot_id": "B1",
                "text": sent["text"],
                "metadata": sent.get("metadata"),
            }
            self.thread.append(message)
            self.posts.append(message)
            if self.lose_answers:
                self.lose_answers -= 1
                return httpx.Response(503, text="upstream timeout")  # posted; the answer is lost
            return reply(200, {"ok": True, "channel": sent["channel"], "ts": ts, "message": message})
        if method == "chat.getPermalink":
            return reply(200, {"ok": True, "permalink": "https://x.slack.com/archives/C1/p1"})
        return reply(200, {"ok": False, "error": "unknown_method"})


async def test_a_reply_approved_hours_later_whose_answer_was_lost_is_not_posted_twice(db: Database) -> None:
    now = time.time()
    slack = Slack(parent_ts=now - 20 * 3600)
    chat = ChatConnector(
        build_client("https://slack.com", transport=httpx.MockTransport(slack), retry=NO_RETRY)
    )
    cat = Catalogue(tools_for("chat", chat))
    model = ScriptedModel(
        [
            tool_use(
                "chat__post_message",
                {"channel": CHANNEL, "text": "Refund approved", "thread_ts": slack.parent},
            ),
            text("posted"),
        ]
    )
    orch = Orchestrator(SqlRunStore(db), model, lambda: cat, lambda: Policy(), {"t": loop})
    with db.session() as s:
        run = Run(kind="t", input={})
        s.add(run)
        s.flush()
        run_id = run.id
    await orch.drain("w")
    [action] = approvals.list_actions(db)
    assert action["status"] == "pending"

    # It was proposed ten hours ago; the incident thread got 80 updates while it waited.
    with db.session() as s:
        s.execute(
            update(Action).where(Action.id == action["id"]).values(created_at=utcnow() - timedelta(hours=10))
        )
    for i in range(80):
        slack.thread.append(
            {
                "type": "message",
                "ts": f"{now - 10 * 3600 + 60 + i * 400:.6f}",
                "thread_ts": slack.parent,
                "user": "U2",
                "text": f"update {i}",
            }
        )

    slack.lose_answers = 1
    approvals.approve(db, action["id"], PAT, lambda: cat)
    await orch.drain("w")  # posted; the answer lost (503): the run goes back to the queue
    with db.session() as s:
        s.execute(update(Run).where(Run.id == run_id).values(not_before=utcnow() - timedelta(seconds=1)))
    await orch.drain("w")  # the retry looks for the earlier post first
    await chat.aclose()
    assert len(slack.posts) == 1, (
        f"the approved reply was posted {len(slack.posts)} times to the thread: the retry scanned 60 "
        "replies from its proposal, ten hours before its first attempt went out"
    )
