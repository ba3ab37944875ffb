"""A loopback OpenAI-compatible model that triages tickets, and can be rate limited for a while.

Worker processes reach it through the product's real `openai:` adapter (the official SDK,
with its own retries honouring `retry-after`): `SWITCHBOARD_MODEL=openai:triage-bot` and
`OPENAI_BASE_URL=<url>/v1`. It answers the triage pipeline the way a well-behaved model
would (the same turns as `tests.support.app.triage_script`), reading the request rather than
a queue, so any number of runs in any order get sensible answers:

- a `response_format` whose schema asks for a category: the classification;
- one that asks for a body: the draft reply;
- tools and no tool results yet: a public reply and a priority/tag update on the ticket;
- tools and tool results: a closing sentence.

`latency` makes each answer take that long, as a hosted model's do, so a fault lands mid-call.
`rate_limit(seconds, retry_after=...)` makes every request in that window answer 429 in
OpenAI's shape with a `retry-after` header, as the real API does when a quota runs out.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.llm.vendor_servers import Reply, openai_completion, openai_error, openai_tool_call

REPLY = "Thanks for telling us; we have refunded the duplicate charge."
_tags = itertools.count(1)
_TICKET = re.compile(r'"(?:external_id|ticket_id)"\s*:\s*"?(\d+)')


class TriageModelServer:
    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency  # seconds each answer takes, so a fault can land mid-call
        self._lock = threading.Lock()
        self._limited_until = 0.0
        self._retry_after = 1.0
        self.served = 0
        self.refused = 0
        self.app = FastAPI()
        self.app.add_api_route("/v1/chat/completions", self._handle, methods=["POST"])

    def rate_limit(self, seconds: float, *, retry_after: float = 1.0) -> None:
        """Answer 429 to everything for the next `seconds`."""
        with self._lock:
            self._limited_until = time.monotonic() + seconds
            self._retry_after = retry_after

    @property
    def limited(self) -> bool:
        return time.monotonic() < self._limited_until

    async def _handle(self, request: Request) -> Response:
        body = await request.json()
        if self.latency:
            await asyncio.sleep(self.latency)
        with self._lock:
            limited = time.monotonic() < self._limited_until
            if limited:
                self.refused += 1
            else:
                self.served += 1
        reply = (
            openai_error(429, "Rate limit reached for requests", retry_after=f"{self._retry_after:g}")
            if limited
            else answer(body, tag=f"fault-{next(_tags)}")
        )
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


def answer(body: dict[str, Any], *, tag: str = "billing-review") -> Reply:
    """What a sensible model says to one Chat Completions request of the triage pipeline.

    The ticket update adds `tag` besides "billing": a tag of its own makes every update a
    change, so the help desk keeps an audit of each one (it keeps none of an update that
    changes nothing) and the test can count them."""
    messages = body.get("messages") or []
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
    properties = schema.get("properties") or {}
    if "category" in properties:
        return openai_completion(
            json.dumps(
                {
                    "category": "billing",
                    "priority": "high",
                    "sentiment": "negative",
                    "language": "en",
                    "confidence": 0.91,
                    "rationale": "mentions a double charge",
                }
            )
        )
    if "body" in properties:
        return openai_completion(json.dumps({"body": REPLY, "sources": [], "grounded": True}))
    if body.get("tools") and not any(m.get("role") == "tool" for m in messages):
        text = " ".join(str(m.get("content") or "") for m in messages)
        found = _TICKET.search(text)
        if found is None:
            return openai_completion("There is no ticket to act on.")
        ticket_id = int(found.group(1))
        calls = [
            openai_tool_call(
                "helpdesk__add_comment", {"ticket_id": ticket_id, "body": REPLY, "public": True}
            ),
            openai_tool_call(
                "helpdesk__update_ticket",
                {"ticket_id": ticket_id, "priority": "high", "add_tags": ["billing", tag]},
            ),
        ]
        return openai_completion(None, tool_calls=calls, finish_reason="tool_calls")
    return openai_completion("Replied to the customer and raised the priority.")
