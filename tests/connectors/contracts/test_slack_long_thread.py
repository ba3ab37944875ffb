"""A retried reply in a busy thread is found: the scan starts shortly before the action was
proposed (no attempt of it can have gone out earlier), not at the start of the 24-hour lookback,
so an incident thread with 80 updates today does not hide the earlier attempt's post."""

from __future__ import annotations

from typing import Any

from connectors.base import proposed_at
from connectors.chat.client import ChatConnector
from tests.connectors.contracts.recorder import Recorder
from tests.connectors.contracts.test_slack_thread_dedup import BASE, CHANNEL, NOW, PARENT, DocumentedSlack


def _busy_thread() -> list[dict[str, Any]]:
    parent = {"type": "message", "ts": PARENT, "thread_ts": PARENT, "user": "U1", "text": "Incident: payouts"}
    replies = [
        {
            "type": "message",
            "ts": f"{NOW - 5 * 3600 + i * 60:.6f}",
            "thread_ts": PARENT,
            "user": "U2",
            "text": f"update {i}",
        }
        for i in range(80)
    ]
    replies.append(
        {
            "type": "message",
            "ts": f"{NOW - 30:.6f}",
            "thread_ts": PARENT,
            "bot_id": "B1",
            "text": "Refund approved",
            "metadata": {"event_type": "switchboard_action", "event_payload": {"action_id": "act-9"}},
        }
    )
    return [parent, *replies]


async def test_a_retried_reply_in_a_thread_of_80_replies_today_is_not_posted_again() -> None:
    slack = DocumentedSlack()
    slack.thread = _busy_thread()
    rec = Recorder(slack)
    chat = ChatConnector(rec.client(BASE))
    chat.clock = lambda: NOW  # type: ignore[method-assign]
    with proposed_at(NOW - 120):  # as the run sets it: the action was proposed two minutes ago
        result = await chat.post_message(
            CHANNEL, "Refund approved", thread_ts=PARENT, idempotency_key="act-9"
        )
    posts = rec.calls("POST", "/api/chat.postMessage")
    await chat.aclose()
    assert not posts and result.get("deduplicated") is True, (
        f"the earlier attempt's reply (newest of 81 today) was not found; posted again: {result}"
    )
