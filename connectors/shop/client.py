"""The shop connector, speaking Shopify's Admin REST API.

`base_url` is `https://{shop}.myshopify.com` (or the demo's `/sim/shop`); the version
sits in every path (`config.api_version`, default 2024-10). Auth is an Admin API access
token in `X-Shopify-Access-Token` (auth_type `api_key`, header `X-Shopify-Access-Token`).
Errors come as `{"errors": "..."}` or `{"errors": {field: [messages]}}`.

Fulfilling is check-then-write: Shopify has no idempotency header for REST writes, but a
fulfillment order can be fulfilled only once, so before writing the connector reads it,
and a retry that finds it closed returns the fulfillment already made.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import Field

from connectors.base import Connector, ConnectorError, Message, about, operation, tried_before
from connectors.shop import webhooks
from connectors.webhooks import WebhookEvent

DEFAULT_VERSION = "2024-10"
Limit = Annotated[int, Field(ge=1, le=250)]


class ShopConnector(Connector):
    """Shopify: orders, customers, products, fulfillment orders and fulfillments."""

    kind: ClassVar[str] = "shop"
    description: ClassVar[str] = (
        "Shopify store: orders and their payments, customers, products, fulfillment orders and fulfillments."
    )
    default_label: ClassVar[str] = "Shopify"
    # What the store announces through its webhooks (X-Shopify-Topic).
    events: ClassVar[tuple[str, ...]] = webhooks.TOPICS

    @classmethod
    def verify_webhook(
        cls, body: bytes, headers: Mapping[str, str], secret: str, *, method: str = "POST", url: str = ""
    ) -> None:
        """`X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 over the raw body (no timestamp signed)."""
        webhooks.check(body, headers, secret)

    @classmethod
    def parse_webhook(cls, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """The topic header names the event; its signed body identifies it (headers are unsigned)."""
        return webhooks.parse(body, headers)

    @property
    def version(self) -> str:
        return str(self.config.get("api_version", DEFAULT_VERSION))

    def _path(self, path: str) -> str:
        return f"/admin/api/{self.version}/{path.lstrip('/')}"

    async def _get(self, path: str, *, what: str = "", **params: Any) -> dict[str, Any]:
        params = {k: v for k, v in params.items() if v is not None}
        return self.json_object(await self.send("GET", self._path(path), what=what, params=params))

    def error(self, response: httpx.Response, what: str = "") -> ConnectorError:
        status = response.status_code
        try:
            errors: Any = response.json().get("errors")
        except (ValueError, AttributeError):
            errors = None
        if isinstance(errors, dict):
            detail = "; ".join(
                f"{field} {', '.join(map(str, msgs if isinstance(msgs, list) else [msgs]))}"
                for field, msgs in errors.items()
            )
        else:
            detail = str(errors or response.reason_phrase or "no details")
        return ConnectorError(
            f"{self.label} answered {status}: {detail}{about(what)}",
            status=status,
            retryable=status in (408, 429) or status >= 500,
        )

    # --- reads ---

    @operation(effect="read")
    async def get_order(self, order_id: int) -> dict[str, Any]:
        """One order: number, customer email, line items (sku, quantity, price), totals,
        financial status (paid, authorized, pending) and fulfillment status."""
        return (await self._get(f"orders/{order_id}.json", what=f"order {order_id}"))["order"]

    @operation(effect="read")
    async def list_orders(
        self,
        financial_status: str | None = None,
        fulfillment_status: str | None = None,
        limit: Limit = 20,
    ) -> list[dict[str, Any]]:
        """Recent orders, oldest first; filter by financial_status (paid, authorized, pending)
        or fulfillment_status (unfulfilled, shipped)."""
        data = await self._get(
            "orders.json",
            status="any",
            financial_status=financial_status,
            fulfillment_status=fulfillment_status,
            limit=limit,
        )
        return list(data.get("orders") or [])

    @operation(effect="read")
    async def get_order_payment(self, order_id: int) -> dict[str, Any]:
        """How an order was paid: gateway, kind (sale, authorization, capture), amount, what was
        refunded since, and `payment_reference`, the payment processor's id (a Stripe charge for
        gateway stripe)."""
        data = await self._get(f"orders/{order_id}/transactions.json", what=f"order {order_id}")
        done = [t for t in data.get("transactions") or [] if t.get("status") == "success"]
        # The payment is the money taken (a sale or a capture), else what was only authorized;
        # refunds and voids come after it and are not the payment (Shopify lists oldest first).
        # An authorization may be captured several times (partial captures): the money taken is
        # every sale and capture together, not the last one.
        taken = [t for t in done if t.get("kind") in ("sale", "capture")]
        held = [t for t in done if t.get("kind") == "authorization"]
        payment = (taken or held or [None])[-1]
        if payment is None:
            return {"order_id": order_id, "paid": False, "transactions": data.get("transactions") or []}
        refunds = [t for t in done if t.get("kind") == "refund"]
        found: dict[str, Any] = {
            "order_id": order_id,
            "paid": bool(taken),
            "gateway": payment.get("gateway"),
            "kind": payment.get("kind"),
            "amount": str(_total(taken)) if taken else payment.get("amount"),
            "currency": payment.get("currency"),
            "refunded": str(_total(refunds)),
            "voided": any(t.get("kind") == "void" for t in done),
            "payment_reference": (taken or held)[0].get("authorization"),
        }
        if len(taken) > 1:
            found["captures"] = [
                {"id": t.get("id"), "kind": t.get("kind"), "amount": t.get("amount")} for t in taken
            ]
        return found

    @operation(effect="read")
    async def find_customer(self, email: str) -> dict[str, Any] | None:
        """A store customer by exact email: name, default address, orders count, total spent."""
        data = await self._get("customers/search.json", query=f"email:{email.strip()}", limit=5)
        return next(iter(data.get("customers") or []), None)

    @operation(effect="read")
    async def list_products(self, limit: Limit = 50) -> list[dict[str, Any]]:
        """Products with their variants (sku, price, weight)."""
        return list((await self._get("products.json", limit=limit)).get("products") or [])

    @operation(effect="read")
    async def list_fulfillment_orders(self, order_id: int) -> list[dict[str, Any]]:
        """The fulfillment orders of an order (what is to be shipped from where), with status."""
        data = await self._get(f"orders/{order_id}/fulfillment_orders.json", what=f"order {order_id}")
        return list(data.get("fulfillment_orders") or [])

    # --- writes ---

    @operation(
        effect="write",
        idempotency="check",
        # All three reach the customer (the shipping email, the order status page).
        message=Message(
            "public", ("tracking_number", "tracking_company", "tracking_url"), public_flag="notify_customer"
        ),
        reversible=False,
        final=True,
    )
    async def fulfill_order(
        self,
        order_id: int,
        tracking_number: str | None = None,
        tracking_company: str | None = None,
        tracking_url: str | None = None,
        notify_customer: bool = False,
        location_id: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Ship what is left of an order (every fulfillment order still open or partly shipped),
        with its tracking number. An order stocked at several locations ships from each apart
        (one location per fulfillment, one tracking number each): location_id names which (see
        list_fulfillment_orders, assigned_location_id). Cannot be undone once shipped;
        notify_customer emails the customer the tracking."""
        retry = bool(idempotency_key) and tried_before()
        # A retry looks for its own fulfillment (its tracking number) first: what was released from
        # hold since is not this action's to ship.
        mine = (
            await self._fulfillment_tracked(order_id, tracking_number) if retry and tracking_number else None
        )
        if mine is not None:
            return {"fulfillment": mine, "deduplicated": True}
        fos = await self.list_fulfillment_orders(order_id)
        open_fos = [fo for fo in fos if _fulfillable(fo) and _at(fo, location_id)]
        where = "" if location_id is None else f" at location {location_id}"
        if not open_fos:
            done = await self._get(f"orders/{order_id}/fulfillments.json", what=f"order {order_id}")
            earlier = [f for f in done.get("fulfillments") or [] if _at(f, location_id, key="location_id")]
            if earlier and retry and not tracking_number:  # nothing left: the retry's own, shipped
                return {"fulfillment": earlier[-1], "deduplicated": True}
            raise ConnectorError(f"{self.label}: order {order_id} has nothing left to fulfil{where}")
        locations = sorted({str(fo.get("assigned_location_id")) for fo in open_fos})
        if len(locations) > 1:  # Shopify refuses one fulfillment across locations (422)
            raise ConnectorError(
                f"{self.label}: order {order_id} ships from {len(locations)} locations "
                f"({', '.join(locations)}): fulfil it once per location, each with location_id and "
                "its own tracking number"
            )
        fulfillment: dict[str, Any] = {
            "line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]} for fo in open_fos],
            "notify_customer": notify_customer,
        }
        tracking = {
            k: v
            for k, v in (("number", tracking_number), ("company", tracking_company), ("url", tracking_url))
            if v
        }
        if tracking:
            fulfillment["tracking_info"] = tracking
        response = await self.send(
            "POST",
            self._path("fulfillments.json"),
            json={"fulfillment": fulfillment},
            what=f"order {order_id}",
        )
        return {"fulfillment": self.json_object(response).get("fulfillment"), "deduplicated": False}

    async def _fulfillment_tracked(self, order_id: int, tracking_number: str) -> dict[str, Any] | None:
        done = await self._get(f"orders/{order_id}/fulfillments.json", what=f"order {order_id}")
        found = [f for f in done.get("fulfillments") or [] if f.get("tracking_number") == tracking_number]
        return found[-1] if found else None

    async def check(self) -> dict[str, Any]:
        """GET shop.json: proves the token works and names the store."""
        shop = (await self._get("shop.json")).get("shop") or {}
        return {"ok": True, "shop": shop.get("myshopify_domain"), "currency": shop.get("currency")}


def _at(record: dict[str, Any], location_id: int | None, key: str = "assigned_location_id") -> bool:
    return location_id is None or str(record.get(key)) == str(location_id)


def _total(transactions: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(str(t.get("amount") or 0)) for t in transactions), Decimal(0))


def _fulfillable(fo: dict[str, Any]) -> bool:
    """Whether Shopify takes a fulfillment for it: its supported_actions say so when sent, else
    its status (open, or in_progress: partly shipped, the rest still to go)."""
    actions = fo.get("supported_actions")
    if isinstance(actions, list):
        return "create_fulfillment" in actions
    return fo.get("status") in ("open", "in_progress")
