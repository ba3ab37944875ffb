"""A simulator's outgoing webhooks: where they go, what signs them, what was sent.

The CRM and tracker simulators queue events as their vendor would emit them and post
them signed exactly as the vendor does. Signing happens at send time, not when the event
is queued, because both vendors sign the moment of sending (HubSpot's timestamp header,
Linear's `webhookTimestamp` in the body) and HubSpot signs the URL it calls. A redelivery
signs the same events again with a higher attempt number, as a vendor's retry does.

Control endpoints built on it (no auth, no faults), per simulator:
    POST /_webhook   {"url"?, "secret"?}: where deliveries go and the secret they are signed with
    GET  /_webhook   that (without the secret) and every delivery made
    POST /_webhook/redeliver  {"delivery"?: n}: send delivery n (default the last) again
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

# (events, secret, url, attempt) -> (body, headers): one delivery, signed as the vendor signs it.
Render = Callable[[list[dict[str, Any]], str, str, int], tuple[bytes, dict[str, str]]]


class WebhookSender:
    """Queued events, sent `batch` at a time (HubSpot up to 100, Linear one) to `url`."""

    def __init__(self, render: Render, *, secret: str, batch: int = 1):
        self.render, self.secret, self.batch = render, secret, batch
        self.url: str | None = None
        self.lock = threading.Lock()
        self.pending: list[dict[str, Any]] = []
        self.sent: list[list[dict[str, Any]]] = []  # the events of each delivery, for redelivery
        self.deliveries: list[dict[str, Any]] = []
        # Tests hand in an ASGI transport to deliver into an app in the same process.
        self.transport: httpx.AsyncBaseTransport | None = None

    def queue(self, *events: dict[str, Any]) -> None:
        """Queue events for the next `flush`; nothing is kept while no URL is set."""
        with self.lock:
            if self.url:
                self.pending.extend(events)

    def configure(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if "url" in data:
                self.url = data["url"] or None
            if data.get("secret"):
                self.secret = str(data["secret"])
            return {"url": self.url}

    async def flush(self) -> list[dict[str, Any]]:
        """Post what is queued, `batch` events a delivery; the records of what happened."""
        with self.lock:
            events, self.pending = self.pending, []
            numbers = []
            for i in range(0, len(events), self.batch):
                self.sent.append(events[i : i + self.batch])
                numbers.append(len(self.sent) - 1)
        return [await self._send(n, 1) for n in numbers]

    async def redeliver(self, index: int = -1) -> dict[str, Any]:
        """Send delivery `index` again, signed afresh, as the vendor's retry would."""
        with self.lock:
            number = range(len(self.sent))[index]
            attempt = 1 + sum(1 for d in self.deliveries if d["delivery"] == number)
        return await self._send(number, attempt)

    async def _send(self, number: int, attempt: int) -> dict[str, Any]:
        with self.lock:
            url, secret, events = self.url, self.secret, self.sent[number]
        record: dict[str, Any] = {"delivery": number, "attempt": attempt, "events": len(events)}
        if url:
            body, headers = self.render(events, secret, url, attempt)
            try:
                async with httpx.AsyncClient(timeout=10, transport=self.transport) as client:
                    record["status"] = (await client.post(url, content=body, headers=headers)).status_code
            except httpx.HTTPError as exc:
                record["error"] = str(exc)
        with self.lock:
            self.deliveries.append(record)
        return record


def control_router(sender_of: Callable[[Request], WebhookSender]) -> APIRouter:
    """`/_webhook` and `/_webhook/redeliver` for the simulator whose sender `sender_of` finds."""
    router = APIRouter(include_in_schema=False)

    @router.post("/_webhook")
    async def set_webhook(request: Request) -> Any:
        data = await request.json()
        if not isinstance(data, dict):
            return JSONResponse({"error": "the body must be an object"}, status_code=422)
        return sender_of(request).configure(data)

    @router.get("/_webhook")
    async def get_webhook(request: Request) -> Any:
        sender = sender_of(request)
        with sender.lock:
            return {"url": sender.url, "deliveries": list(sender.deliveries)}

    @router.post("/_webhook/redeliver")
    async def redeliver(request: Request) -> Any:
        sender = sender_of(request)
        data = await request.json() if await request.body() else {}
        index = int(data.get("delivery", -1)) if isinstance(data, dict) else -1
        if not -len(sender.sent) <= index < len(sender.sent):
            return JSONResponse({"error": f"no delivery {index}"}, status_code=404)
        return await sender.redeliver(index)

    return router


CONTROL_PATHS = ("/_webhook", "/_webhook/redeliver")
