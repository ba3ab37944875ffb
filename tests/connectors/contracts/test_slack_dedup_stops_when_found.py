"""A retried Slack post that the look-up has already found is not held up by reading more pages.

docs.slack.dev (conversations.history, conversations.replies): for apps distributed outside the
Marketplace, "this method is rate limited to 1 request per minute" (limit at most 15). The scan
checks each page as it arrives and stops when the earlier post is in hand, so a post found on the
first page costs one call, not a rate-limited second.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError, proposed_at
from connectors.chat.client import ChatConnector
from tests.connectors.contracts.recorder import Recorder, body, reply

BASE = "https://slack.com"
NOW = 1_760_000_000.0
KEY = "act-found-1"
CHANNEL = "C05BILLING1"
PARENT = f"{NOW - 900:.6f}"


def slack_one_call_a_minute() -> tuple[Recorder, dict[str, int]]:
    """Slack for a non-Marketplace app: the first conversations.history/replies call answers a
    full page holding the earlier post and a next cursor; a second call within the minute is 429."""
    calls = {"conversations": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        method = request.url.path.removeprefix("/api/")
        if method in ("conversations.history", "conversations.replies"):
            calls["conversations"] += 1
            if calls["conversations"] > 1:
                return reply(429, {"ok": False, "error": "ratelimited"}, **{"Retry-After": "60"})
            ours = {
                "type": "message",
                "ts": f"{NOW - 500:.6f}",
                "text": "Refund approved",
                "bot_id": "B01",
                "metadata": {"event_type": "switchboard_action", "event_payload": {"action_id": KEY}},
            }
            others: list[dict[str, Any]] = [
                {"type": "message", "ts": f"{NOW - 400 + i:.6f}", "text": f"chatter {i}"} for i in range(14)
            ]
            messages = [ours, *others] if method == "conversations.replies" else [*others[::-1], ours]
            if method == "conversations.replies":
                for m in messages:
                    m["thread_ts"] = PARENT
            return reply(
                200,
                {"ok": True, "messages": messages, "has_more": True,
                 "response_metadata": {"next_cursor": "bmV4dA=="}},
            )  # fmt: skip
        if method == "chat.postMessage":
            sent = body(request)
            return reply(200, {"ok": True, "channel": sent["channel"], "ts": f"{NOW}.000200",
                               "message": {"text": sent["text"], "ts": f"{NOW}.000200"}})  # fmt: skip
        if method == "chat.getPermalink":
            return reply(200, {"ok": True, "permalink": "https://x.slack.com/archives/C1/p1"})
        return reply(200, {"ok": False, "error": "unknown_method"})

    return Recorder(handler), calls


@pytest.mark.parametrize("thread_ts", [PARENT, None], ids=["thread reply", "channel post"])
async def test_found_on_the_first_page_returns_without_another_rate_limited_call(
    thread_ts: str | None,
) -> None:
    """The earlier post is on the first page: the retry returns it, deduplicated, after one
    conversations.* call, never a second one that Slack rate limits."""
    rec, calls = slack_one_call_a_minute()
    chat = ChatConnector(rec.client(BASE))
    chat.clock = lambda: NOW  # type: ignore[method-assign]
    outcome: object
    try:
        with proposed_at(NOW - 600):  # a resumed action (not first_attempt): it looks first
            outcome = await chat.post_message(
                CHANNEL, "Refund approved", thread_ts=thread_ts, idempotency_key=KEY
            )
    except ConnectorError as exc:
        outcome = exc
    finally:
        await chat.aclose()
    assert rec.calls("POST", "/api/chat.postMessage") == []
    assert calls["conversations"] == 1, (
        f"the earlier post was on the first page, yet the scan made {calls['conversations']} calls of a "
        f"once-a-minute method; the retry answered {outcome!r}"
    )
    assert isinstance(outcome, dict) and outcome["deduplicated"] is True
