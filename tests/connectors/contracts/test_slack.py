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
        # A full page that says there is more: the scan must not follow it.
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


async def test_dedup_scan_is_one_bounded_history_call() -> None:
    """docs.slack.dev/apis/web-api/rate-limits: apps outside the Marketplace get one
    conversations.history call a minute, `limit` at most 15. The scan asks once, for at
    most 15 messages no older than a day (`oldest`), and never pages on."""
    rec = Recorder(slack)
    chat = ChatConnector(rec.client(BASE))
    chat.clock = lambda: NOW  # type: ignore[method-assign]
    result = await chat.post_message("C05BILLING1", "Refund approved", idempotency_key="act-1")
    assert result["deduplicated"] is False
    history = rec.calls("GET", "/api/conversations.history")
    assert len(history) == 1
    params = history[0].url.params
    assert int(params["limit"]) <= 15
    assert float(params["oldest"]) == NOW - 24 * 3600
    assert "cursor" not in params
    post = body(rec.calls("POST", "/api/chat.postMessage")[0])
    assert post["metadata"] == {"event_type": "switchboard_action", "event_payload": {"action_id": "act-1"}}
    await chat.aclose()
