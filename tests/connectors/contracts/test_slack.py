"""The chat client's requests against Slack's Web API (see connectors/chat/CONTRACT.md)."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.chat.client import ChatConnector
from tests.connectors.contracts.recorder import Recorder, body, reply

BASE = "https://slack.com"
NOW = 1_760_000_000.0


def slack(request: httpx.Request) -> httpx.Response:
    method = request.url.path.removeprefix("/api/")
    if method == "conversations.history":
        # A full page that says there is more, every time (a channel busier than the scan reads).
        messages: list[dict[str, Any]] = [
            {"type": "message", "ts": f"{NOW - i}.000100", "text": "x"} for i in range(15)
        ]
        return reply(200, {"ok": True, "messages": messages, "has_more": True,
                           "response_metadata": {"next_cursor": "bmV4dA=="}})  # fmt: skip
    if method == "chat.postMessage":
        sent = body(request)
        return reply(200, {"ok": True, "channel": sent["channel"], "ts": f"{NOW}.000200",
                           "message": {"text": sent["text"], "ts": f"{NOW}.000200"}})  # fmt: skip
    if method == "chat.getPermalink":
        return reply(200, {"ok": True, "permalink": "https://x.slack.com/archives/C1/p1"})
    return reply(200, {"ok": False, "error": "unknown_method"})


async def test_dedup_scan_reads_back_to_the_first_attempt_or_leaves_the_write_to_a_person() -> None:
    """docs.slack.dev/apis/web-api/rate-limits: apps outside the Marketplace get one
    conversations.history call a minute, `limit` at most 15. The scan asks for at most 15 messages
    a page, none older than a day (`oldest`), and follows the cursor at most DEDUP_PAGES pages: a
    channel that still has more past that cannot rule out an earlier post, so nothing is posted
    (a person decides) rather than a second post made blind."""
    import pytest

    from connectors.base import ConnectorError

    rec = Recorder(slack)
    chat = ChatConnector(rec.client(BASE))
    chat.clock = lambda: NOW  # type: ignore[method-assign]
    with pytest.raises(ConnectorError, match="cannot be ruled out") as refused:
        await chat.post_message("C05BILLING1", "Refund approved", idempotency_key="act-1")
    assert not refused.value.retryable
    history = rec.calls("GET", "/api/conversations.history")
    assert len(history) == ChatConnector.DEDUP_PAGES
    for call in history:
        assert int(call.url.params["limit"]) <= 15
        assert float(call.url.params["oldest"]) == NOW - 24 * 3600
    assert history[1].url.params["cursor"] == "bmV4dA=="
    assert rec.calls("POST", "/api/chat.postMessage") == []
    await chat.aclose()


async def test_dedup_scan_posts_once_the_window_is_read_whole() -> None:
    """A channel whose messages since the first attempt fit in the pages read: posted, with the
    action id in its metadata."""
    quiet = Recorder(lambda r: _quiet(r))
    chat = ChatConnector(quiet.client(BASE))
    chat.clock = lambda: NOW  # type: ignore[method-assign]
    result = await chat.post_message("C05BILLING1", "Refund approved", idempotency_key="act-1")
    assert result["deduplicated"] is False
    assert len(quiet.calls("GET", "/api/conversations.history")) == 1
    rec = quiet
    post = body(rec.calls("POST", "/api/chat.postMessage")[0])
    assert post["metadata"] == {"event_type": "switchboard_action", "event_payload": {"action_id": "act-1"}}
    await chat.aclose()


def _quiet(request: httpx.Request) -> httpx.Response:
    """Slack with a quiet channel: one page of history, no cursor."""
    if request.url.path.endswith("/conversations.history"):
        return reply(200, {"ok": True, "messages": [], "has_more": False})
    return slack(request)
