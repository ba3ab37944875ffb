"""A Slack post retried more than a day after its first attempt must still find that attempt.

Vendor: conversations.history (docs.slack.dev/reference/methods/conversations.history) returns
the channel's messages newest first, cursor-paginated, and `oldest` means "only messages after
this Unix timestamp will be included in results". A message does not leave the history after a
day (message retention is a workspace setting; free workspaces show 90 days): a post made two
days ago is still there, and is found only by a scan whose `oldest` is before it.

When the first attempt's time is known, the scan for it starts there (less a clock skew),
however long ago: a write a person retries with the same key two days later finds its post and
posts nothing. The page limit keeps the scan short; it refuses to post blind past it.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.base import ConnectorError, proposed_at
from connectors.chat.client import ChatConnector
from tests.connectors.contracts.recorder import Recorder, body, reply

BASE = "https://slack.com"
NOW = 1_760_000_000.0
CHANNEL = "C05BILLING1"
FIRST_ATTEMPT = NOW - 50 * 3600  # the first attempt went out 50 hours ago


class DocumentedSlack:
    """conversations.history newest first, `oldest` exclusive, at most 15 a page (apps outside
    the Marketplace), metadata only with include_all_metadata."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = [
            # The first attempt did post; its answer was lost.
            {
                "type": "message",
                "ts": f"{FIRST_ATTEMPT + 2:.6f}",
                "bot_id": "B1",
                "text": "Refund of $120 approved for dana@example.com",
                "metadata": {"event_type": "switchboard_action", "event_payload": {"action_id": "act-7"}},
            },
            # A quiet channel: three messages since.
            *[
                {"type": "message", "ts": f"{NOW - h * 3600:.6f}", "user": "U2", "text": f"note {h}"}
                for h in (30, 12, 2)
            ],
        ]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.removeprefix("/api/")
        if method == "conversations.history":
            p = request.url.params
            assert p["channel"] == CHANNEL
            oldest = float(p.get("oldest") or 0)
            window = sorted(
                (m for m in self.messages if float(m["ts"]) > oldest), key=lambda m: -float(m["ts"])
            )
            limit = min(int(p.get("limit") or 15), 15)
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
            ts = f"{NOW:.6f}"
            self.messages.append({"type": "message", "ts": ts, "bot_id": "B1", "text": sent["text"]})
            return reply(
                200,
                {
                    "ok": True,
                    "channel": sent["channel"],
                    "ts": ts,
                    "message": {"text": sent["text"], "ts": ts},
                },
            )
        if method == "chat.getPermalink":
            return reply(200, {"ok": True, "permalink": "https://x.slack.com/archives/C1/p1"})
        return reply(200, {"ok": False, "error": "unknown_method"})


async def test_a_post_retried_two_days_after_its_first_attempt_is_not_posted_again() -> None:
    slack = DocumentedSlack()
    rec = Recorder(slack)
    chat = ChatConnector(rec.client(BASE))
    chat.clock = lambda: NOW  # type: ignore[method-assign]
    result: dict[str, Any] | None
    # As the run sets it for a resumed action: its first attempt went out 50 hours ago.
    with proposed_at(FIRST_ATTEMPT):
        try:
            result = await chat.post_message(
                CHANNEL, "Refund of $120 approved for dana@example.com", idempotency_key="act-7"
            )
        except ConnectorError:
            result = None  # leaving it to a person is exactly-once too
    posts = rec.calls("POST", "/api/chat.postMessage")
    scanned_from = [float(c.url.params["oldest"]) for c in rec.calls("GET", "/api/conversations.history")]
    await chat.aclose()
    assert not posts, (
        f"posted the same message again: the scan started at oldest={scanned_from} "
        f"(now - {[(NOW - s) / 3600 for s in scanned_from]} h), after the first attempt "
        f"{(NOW - FIRST_ATTEMPT) / 3600:.0f} h ago"
    )
    if result is not None:
        assert result["deduplicated"] is True
