"""A retried thread reply is found however long the thread: its pages are followed.

Vendor: docs.slack.dev/reference/methods/conversations.replies ("returns a cursor-paginated
thread of messages"; the parent message comes first and the replies follow in the order they
were posted, with `has_more` and `response_metadata.next_cursor`; for apps outside the
Marketplace `limit` is at most 15). conversations.history, by contrast, returns the newest
messages first, so one page of it holds an earlier attempt's post; a thread's first page holds
its oldest replies, and the earlier attempt's post (the newest) lies on a later page.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.chat.client import ChatConnector
from tests.connectors.contracts.recorder import Recorder, body, reply

BASE = "https://slack.com"
NOW = 1_760_000_000.0
CHANNEL = "C05BILLING1"
PARENT = f"{NOW - 6 * 3600:.6f}"


def _thread() -> list[dict[str, Any]]:
    parent = {
        "type": "message",
        "ts": PARENT,
        "thread_ts": PARENT,
        "user": "U1",
        "text": "Incident: payouts",
        "reply_count": 21,
    }
    replies = [
        {
            "type": "message",
            "ts": f"{NOW - 5 * 3600 + i * 60:.6f}",
            "thread_ts": PARENT,
            "user": "U2",
            "text": f"update {i}",
        }
        for i in range(20)
    ]
    # The earlier attempt of the action did post (its answer was lost): the newest reply.
    replies.append(
        {
            "type": "message",
            "ts": f"{NOW - 60:.6f}",
            "thread_ts": PARENT,
            "bot_id": "B1",
            "text": "Refund approved",
            "metadata": {"event_type": "switchboard_action", "event_payload": {"action_id": "act-9"}},
        }
    )
    return [parent, *replies]


class DocumentedSlack:
    def __init__(self) -> None:
        self.thread = _thread()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.removeprefix("/api/")
        if method == "conversations.replies":
            p = request.url.params
            assert p["channel"] == CHANNEL and p["ts"] == PARENT
            oldest = float(p.get("oldest") or 0)
            latest = float(p["latest"]) if p.get("latest") else None
            window = [
                m
                for m in self.thread
                if m["ts"] == PARENT
                or (float(m["ts"]) > oldest and (latest is None or float(m["ts"]) < latest))
            ]
            limit = min(int(p.get("limit") or 15), 15)  # non-Marketplace apps: at most 15
            start = int(p.get("cursor") or 0)
            page = window[start : start + limit]
            more = start + limit < len(window)
            if p.get("include_all_metadata") not in ("true", "1"):
                page = [{k: v for k, v in m.items() if k != "metadata"} for m in page]
            out: dict[str, Any] = {"ok": True, "messages": page, "has_more": more}
            if more:
                out["response_metadata"] = {"next_cursor": str(start + limit)}
            return reply(200, out)
        if method == "chat.postMessage":
            sent = body(request)
            return reply(
                200,
                {
                    "ok": True,
                    "channel": sent["channel"],
                    "ts": f"{NOW}.000200",
                    "message": {"text": sent["text"], "ts": f"{NOW}.000200"},
                },
            )
        if method == "chat.getPermalink":
            return reply(200, {"ok": True, "permalink": "https://x.slack.com/archives/C1/p1"})
        return reply(200, {"ok": False, "error": "unknown_method"})


async def test_retried_thread_reply_is_found_in_a_thread_longer_than_one_page() -> None:
    """A retry (tried_before) of a reply whose first attempt landed must not post again."""
    rec = Recorder(DocumentedSlack())
    chat = ChatConnector(rec.client(BASE))
    chat.clock = lambda: NOW  # type: ignore[method-assign]
    result = await chat.post_message(CHANNEL, "Refund approved", thread_ts=PARENT, idempotency_key="act-9")
    posts = rec.calls("POST", "/api/chat.postMessage")
    assert not posts, (
        "the action's earlier reply is the newest message of a 22-message thread; "
        "conversations.replies returned the oldest 15 and the reply was posted again"
    )
    assert result["deduplicated"] is True
    await chat.aclose()
