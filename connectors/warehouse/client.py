"""The warehouse connector, speaking ShipStation's API v2 (formerly ShipEngine).

`base_url` is `https://api.shipstation.com` (or the demo's `/sim/warehouse`); auth is the
API key in the `API-Key` header (auth_type `api_key`, header `API-Key`). Errors come as
`{"request_id", "errors": [{"error_source", "error_type", "error_code", "message"}]}`.

Creating a shipment is check-then-write: the approved action's id goes in
`external_shipment_id`, which ShipStation keeps unique and can look up, so a retry after
a crash finds the shipment already made instead of sending a parcel twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field

from connectors.base import Connector, ConnectorError, Money, about, operation, path_segment, tried_before
from connectors.warehouse import webhooks
from connectors.webhooks import WebhookEvent


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1)
    name: str = ""
    quantity: Annotated[int, Field(ge=1)] = 1


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    address_line1: str = Field(min_length=1)
    city_locality: str = Field(min_length=1)
    state_province: str = Field(min_length=1)
    postal_code: str = Field(min_length=1)
    country_code: str = Field(min_length=2, max_length=2)
    phone: str | None = None


class WarehouseConnector(Connector):
    """ShipStation: shipments from Northwind's warehouses, labels, tracking, cancellation."""

    kind: ClassVar[str] = "warehouse"
    description: ClassVar[str] = (
        "ShipStation shipping: create shipments from a warehouse, buy labels, track and cancel."
    )
    default_label: ClassVar[str] = "ShipStation"
    events: ClassVar[tuple[str, ...]] = tuple(webhooks.EVENTS.values())
    # One published key set signs every ShipStation account's webhooks.
    webhook_signature_names_account: ClassVar[bool] = False

    @classmethod
    def verify_webhook(
        cls, body: bytes, headers: Mapping[str, str], secret: str, *, method: str = "POST", url: str = ""
    ) -> None:
        """RSA-SHA256 over `"{timestamp}.{body}"`; `secret` is ShipStation's published key set (JWKS)."""
        webhooks.check(body, headers, secret)

    @classmethod
    def parse_webhook(cls, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """`resource_type` names the event; label, tracking number and status identify it."""
        return webhooks.parse(body)

    def error(self, response: httpx.Response, what: str = "") -> ConnectorError:
        status = response.status_code
        try:
            errors = response.json().get("errors") or []
        except (ValueError, AttributeError):
            errors = []
        detail = "; ".join(
            f"{e.get('message')} ({e.get('error_code')})" for e in errors if isinstance(e, dict)
        ) or (response.reason_phrase or "no details")
        return ConnectorError(
            f"{self.label} answered {status}: {detail}{about(what)}",
            status=status,
            retryable=status in (408, 429) or status >= 500,
        )

    async def _json(self, method: str, path: str, *, what: str = "", **kwargs: Any) -> dict[str, Any]:
        response = await self.send(method, path, what=what, **kwargs)
        return {} if response.status_code == 204 or not response.content else self.json_object(response)

    # --- reads ---

    @operation(effect="read")
    async def list_warehouses(self) -> list[dict[str, Any]]:
        """The warehouses parcels ship from (id, name, origin address)."""
        return list((await self._json("GET", "/v2/warehouses")).get("warehouses") or [])

    @operation(effect="read")
    async def get_shipment(self, shipment_id: str) -> dict[str, Any]:
        """One shipment: status (pending, label_purchased, cancelled), address, items."""
        return await self._json(
            "GET", f"/v2/shipments/{path_segment(shipment_id, 'shipment id')}", what=f"shipment {shipment_id}"
        )

    @operation(effect="read")
    async def get_tracking(self, label_id: str) -> dict[str, Any]:
        """Where a parcel is: tracking number and URL, status (AC, IT, DE, EX), events, ETA."""
        return await self._json(
            "GET", f"/v2/labels/{path_segment(label_id, 'label id')}/track", what=f"label {label_id}"
        )

    # --- writes ---

    @operation(effect="write", idempotency="check", reversible=True)
    async def create_shipment(
        self,
        order_number: str,
        ship_to: Address,
        items: list[Item],
        warehouse_id: str | None = None,
        service_code: str = "ups_ground",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Send an order to the warehouse: a shipment to pick, pack and ship (cancellable until
        a label is bought). warehouse_id defaults to the default warehouse."""
        external = f"switchboard-{idempotency_key}" if idempotency_key else f"order-{order_number}"
        if idempotency_key and tried_before() and (found := await self._shipment_keyed(external)) is not None:
            return {"shipment": found, "deduplicated": True}
        if warehouse_id is None:
            houses = await self.list_warehouses()
            default = next((w for w in houses if w.get("is_default")), houses[0] if houses else None)
            if default is None:
                raise ConnectorError(f"{self.label} has no warehouse to ship from")
            warehouse_id = default["warehouse_id"]
        to = ship_to if isinstance(ship_to, Address) else Address.model_validate(ship_to)
        lines = [i if isinstance(i, Item) else Item.model_validate(i) for i in items]
        shipment = {
            "external_shipment_id": external,
            "shipment_number": order_number,
            "warehouse_id": warehouse_id,
            "service_code": service_code,
            "ship_to": to.model_dump(exclude_none=True),
            "items": [i.model_dump() for i in lines],
        }
        try:
            data = await self._json(
                "POST", "/v2/shipments", json={"shipments": [shipment]}, what=f"order {order_number}"
            )
        except ConnectorError as exc:
            # external_shipment_id "must be unique. If you provide a duplicate ID, you receive an
            # error": an earlier attempt landed after the look-up above (its request was still on
            # its way). The shipment is this action's: found, not failed.
            # Any refusal of a retried create: the GET is authoritative (only this action's key
            # makes that id), whatever words or shape the refusal came in.
            refused = idempotency_key is not None and exc.status is not None and 400 <= exc.status < 500
            if refused and (found := await self._shipment_keyed(external)) is not None:
                return {"shipment": found, "deduplicated": True}
            raise
        [created] = data.get("shipments") or [{}]
        if data.get("has_errors") or created.get("errors"):
            if idempotency_key and (found := await self._shipment_keyed(external)) is not None:
                return {"shipment": found, "deduplicated": True}  # refused as the earlier attempt's
            raise ConnectorError(f"{self.label} refused the shipment: {created.get('errors')}")
        return {"shipment": created, "deduplicated": False}

    async def _shipment_keyed(self, external: str) -> dict[str, Any] | None:
        """The shipment with this external id, or None when ShipStation has none (404)."""
        try:
            return await self._json(
                "GET", f"/v2/shipments/external_shipment_id/{path_segment(external, 'shipment id')}"
            )
        except ConnectorError as exc:
            if exc.status != 404:
                raise
            return None

    @operation(effect="write", idempotency="check", reversible=True)
    async def cancel_shipment(self, shipment_id: str) -> dict[str, Any]:
        """Cancel a shipment that has no label yet (the parcel has not left)."""
        current = await self.get_shipment(shipment_id)
        if current.get("shipment_status") == "cancelled":
            return {"shipment_id": shipment_id, "cancelled": True, "deduplicated": True}
        await self._json(
            "PUT",
            f"/v2/shipments/{path_segment(shipment_id, 'shipment id')}/cancel",
            what=f"shipment {shipment_id}",
        )
        return {"shipment_id": shipment_id, "cancelled": True, "deduplicated": False}

    # Postage is spent: money, whose amount no argument states. ShipStation prices the label
    # when it is bought (its `shipment_cost`); a shipment carries no price before that.
    @operation(effect="write", idempotency="check", reversible=False, money=Money(amount=None, currency=None))
    async def buy_label(self, shipment_id: str) -> dict[str, Any]:
        """Buy the shipping label for a shipment: the carrier's tracking number. Costs postage."""
        current = await self.get_shipment(shipment_id)
        if current.get("shipment_status") == "label_purchased":
            labels = await self._json("GET", "/v2/labels", params={"shipment_id": shipment_id})
            live = [lb for lb in labels.get("labels") or [] if lb.get("status") == "completed"]
            if live:
                return {**live[-1], "deduplicated": True}
        return await self._json(
            "POST",
            f"/v2/labels/shipment/{path_segment(shipment_id, 'shipment id')}",
            what=f"shipment {shipment_id}",
        )

    async def check(self) -> dict[str, Any]:
        houses = await self.list_warehouses()
        return {"ok": True, "warehouses": len(houses)}
