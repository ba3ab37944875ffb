"""Shopify webhook signatures: `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(secret, raw body)).

The secret is the app's client secret (or the one shown for webhooks made in the admin).
The digest is base64, not hex, and covers the raw body only, so a receiver must verify
before parsing. The topic (`orders/paid`) comes in `X-Shopify-Topic`. Shopify signs no
timestamp and no header, so an event is known by what it says happened (its topic and its
order's or refund's id, each of which happens once), never by the event-id headers: a replay,
even under a new `X-Shopify-Event-Id` or another topic, is recognised.

Pure (no FastAPI, no httpx): the shop connector verifies and reads deliveries with it
and the shop simulator signs with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors import webhooks as base
from connectors.webhooks import PayloadError, WebhookEvent

log = logging.getLogger("switchboard.connectors.shop")

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPICS = ("orders/create", "orders/paid", "refunds/create")


class SignatureError(base.SignatureError):
    """The webhook is not from the shop (missing or wrong signature)."""


@dataclass(frozen=True)
class ShopEvent:
    topic: str
    event_id: str
    shop_domain: str
    data: dict[str, Any]


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signed_headers(
    body: bytes, secret: str, topic: str, *, event_id: str, shop_domain: str, api_version: str
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        HMAC_HEADER: sign(body, secret),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": f"wh-{event_id}",
        "X-Shopify-Event-Id": event_id,
    }


def check(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Raise SignatureError unless the body carries the shop's signature and a topic."""
    lowered = base.lowered(headers)
    given = lowered.get(HMAC_HEADER.lower())
    if not given:
        raise SignatureError(f"no {HMAC_HEADER} header: the request was not signed by the shop")
    if not secret:
        raise SignatureError("no webhook secret is configured for this shop")
    if not hmac.compare_digest(sign(body, secret), given.strip()):
        raise SignatureError("signature does not match: wrong secret, or the body was changed")
    if not lowered.get("x-shopify-topic"):
        raise SignatureError("no X-Shopify-Topic header")


def read(body: bytes, headers: Mapping[str, str]) -> ShopEvent:
    """The topic, event id and order (or refund) a checked delivery carries."""
    lowered = base.lowered(headers)
    topic = lowered.get("x-shopify-topic", "")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise PayloadError(f"the signed webhook body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("the signed webhook body is not a JSON object")
    # Known by its signed body, never by the event-id headers: Shopify signs the body alone, so
    # anyone holding one delivery could resend it under a fresh X-Shopify-Event-Id and start it
    # again. A redelivery (Shopify's own retry) carries the same body, and is still recognised.
    return ShopEvent(topic, base.body_id(body), lowered.get("x-shopify-shop-domain", ""), data)


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> ShopEvent:
    """Check the signature, then return the topic, event id and order (or refund) it carries."""
    check(body, headers, secret)
    return read(body, headers)


# What a body must be to be the topic it arrives under: Shopify signs the body, not the topic
# header, so a signed `orders/create` body resent as `orders/paid` would otherwise be taken for a
# paid order. A paid order may be refunded by the time its `orders/paid` is delivered.
PAID = frozenset({"paid", "partially_refunded", "refunded"})


def misfit(topic: str, data: dict[str, Any]) -> str | None:
    """Why `data` cannot be a `topic` delivery, or None when it can."""
    is_order = "line_items" in data and "financial_status" in data
    is_refund = "order_id" in data and "refund_line_items" in data
    if topic.startswith("orders/") and not is_order:
        return f"an {topic} delivery whose body is not an order"
    if topic == "orders/paid" and data.get("financial_status") not in PAID:
        return f"an orders/paid delivery for an order whose payment is {data.get('financial_status')!r}"
    if topic.startswith("refunds/") and not is_refund:
        return f"a {topic} delivery whose body is not a refund"
    return None


def parse(body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
    """An order or refund from the store: only workflows act on it (the event id deduplicates).
    A body that does not fit its (unsigned) topic is accepted, so the shop does not retry it,
    and starts nothing: it carries no event id."""
    event = read(body, headers)
    why = misfit(event.topic, event.data)
    if why is not None:
        log.warning("shop webhook starts nothing: %s", why)
        return WebhookEvent(event.topic, None, event.data)
    known = happening(event)
    # Known by its body's hash before: a run started then for this delivery is its run.
    earlier = (event.event_id,) if known != event.event_id else ()
    return WebhookEvent(event.topic, known, event.data, earlier_ids=earlier)


def happening(event: ShopEvent) -> str:
    """The event's identity: what happened, to which order or refund. Each of TOPICS happens
    once to its object (an order is created once and paid once, a refund created once), and
    the topic header is not signed: keyed by its body alone, a later body of the same order
    (the order as paid, or refunded) resent under `orders/create` was a new creation. An
    object without an id is known by its body, as before."""
    object_id = event.data.get("id")
    if event.topic in TOPICS and isinstance(object_id, int | str) and not isinstance(object_id, bool):
        return f"{event.topic}:{object_id}"
    return event.event_id
