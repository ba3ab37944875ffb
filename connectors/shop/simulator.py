"""A loopback Shopify store: the Admin REST API (version in the path) the shop connector uses.

    GET  /admin/api/{v}/shop.json
    GET  /admin/api/{v}/orders.json            status, financial_status, fulfillment_status,
                                               limit (1-250), since_id, ids
    GET  /admin/api/{v}/orders/{id}.json
    GET  /admin/api/{v}/orders/{id}/transactions.json
    GET  /admin/api/{v}/orders/{id}/fulfillment_orders.json
    GET  /admin/api/{v}/orders/{id}/fulfillments.json
    POST /admin/api/{v}/fulfillments.json      {"fulfillment": {"line_items_by_fulfillment_order",
                                               "tracking_info", "notify_customer"}} -> 201
    GET  /admin/api/{v}/customers/{id}.json, /customers/search.json?query=email:...
    GET  /admin/api/{v}/products.json, /products/{id}.json

Strict like the real one: the access token in `X-Shopify-Access-Token` (401 `{"errors":
"[API] Invalid API key or access token ..."}` otherwise), unknown fields in a write and
bad values are 422 `{"errors": {field: [messages]}}`, a missing object is 404 `{"errors":
"Not Found"}`, a closed fulfillment order cannot be fulfilled again, every answer carries
`X-Shopify-Shop-Api-Call-Limit`. Faults (429 with Retry-After, 5xx) come from
`connectors.simulator_base`.

Control endpoints (no auth, no faults), for tests and the demo:
    POST /_orders   {"email", "line_items": [{"sku", "quantity"}], "payment_reference"?,
                    "financial_status"?: "paid" | "authorized"} places an order as a
                    checkout would, and sends `orders/create` (and `orders/paid` when paid)
                    to the webhook address, signed with `X-Shopify-Hmac-Sha256`
    POST /_webhook  {"url", "secret"}; GET /_webhook: that and the deliveries made
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from connectors.shop import seed as seed_data
from connectors.shop import webhooks
from connectors.simulator_base import Faults, SimulatorAuth, relative_path, simulator_app

API_VERSIONS = ("2024-07", "2024-10", "2025-01", "2025-04")
SHOP_DOMAIN = "northwind-home.myshopify.com"
BUCKET = 40  # leaky-bucket size of the REST Admin API (standard plan)
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


# Fulfillment order statuses that take a fulfillment (Shopify: OPEN and IN_PROGRESS, a partly
# shipped order whose supported_actions still list create_fulfillment).
FULFILLABLE = ("open", "in_progress")


class ShopifyError(Exception):
    def __init__(self, status: int, errors: Any):
        super().__init__(str(errors))
        self.status, self.errors = status, errors

    def body(self) -> Any:
        return {"errors": self.errors}


def shopify_error_body(status: int) -> dict[str, Any]:
    if status == 401:
        return {"errors": INVALID_TOKEN}
    if status == 429:
        return {
            "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
        }
    return {"errors": "Internal Server Error" if status >= 500 else "Error"}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone().isoformat(timespec="seconds")


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


class ShopState:
    """One store's objects, thread-safe (the demo's server thread and tests share it)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.now = clock
        self.lock = threading.RLock()
        self._ids = itertools.count(5_406_000_000_001)
        self._numbers = itertools.count(1001)
        self.customers: dict[int, dict[str, Any]] = {}
        self.products: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.transactions: dict[int, list[dict[str, Any]]] = {}
        self.fulfillment_orders: dict[int, dict[str, Any]] = {}
        self.fulfillments: dict[int, list[dict[str, Any]]] = {}
        self.webhook: dict[str, Any] = {"url": None, "secret": "shpss_northwind_demo_secret"}
        self.deliveries: list[dict[str, Any]] = []
        self.outbox: list[tuple[str, bytes, dict[str, str]]] = []

    def new_id(self) -> int:
        return next(self._ids)

    # --- seeding and checkout ---

    def add_customer(self, c: seed_data.SeedCustomer, *, created: float) -> dict[str, Any]:
        with self.lock:
            cid = self.new_id()
            address = {
                "first_name": c.first_name,
                "last_name": c.last_name,
                "address1": c.address1,
                "city": c.city,
                "province": c.province,
                "province_code": c.province_code,
                "zip": c.zip,
                "country": c.country,
                "country_code": c.country_code,
                "phone": None,
            }
            self.customers[cid] = {
                "id": cid,
                "email": c.email,
                "first_name": c.first_name,
                "last_name": c.last_name,
                "created_at": _iso(created),
                "updated_at": _iso(created),
                "orders_count": 0,
                "state": "enabled",
                "total_spent": "0.00",
                "verified_email": True,
                "currency": "USD",
                "tags": "",
                "default_address": {"id": self.new_id(), "customer_id": cid, **address, "default": True},
            }
            return self.customers[cid]

    def add_product(self, p: seed_data.SeedProduct, *, created: float) -> dict[str, Any]:
        with self.lock:
            pid = self.new_id()
            variant = {
                "id": self.new_id(),
                "product_id": pid,
                "title": "Default Title",
                "price": p.price,
                "sku": p.sku,
                "grams": p.grams,
                "inventory_management": "shopify",
                "requires_shipping": True,
            }
            self.products[pid] = {
                "id": pid,
                "title": p.title,
                "vendor": "Northwind Home",
                "product_type": p.product_type,
                "handle": p.title.lower().split(",")[0].replace(" ", "-"),
                "status": "active",
                "created_at": _iso(created),
                "updated_at": _iso(created),
                "variants": [variant],
            }
            return self.products[pid]

    def variant_by_sku(self, sku: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for product in self.products.values():
            for variant in product["variants"]:
                if variant["sku"] == sku:
                    return product, variant
        raise ShopifyError(422, {"line_items": [f"sku {sku} does not match any variant"]})

    def customer_by_email(self, email: str) -> dict[str, Any] | None:
        return next((c for c in self.customers.values() if c["email"].lower() == email.lower()), None)

    def place_order(
        self,
        email: str,
        items: list[dict[str, Any]],
        *,
        payment_reference: str | None = None,
        financial_status: str = "paid",
        created: float | None = None,
        notify: bool = True,
    ) -> dict[str, Any]:
        """A checkout: the order, its payment transaction, one fulfillment order; webhooks queued."""
        if financial_status not in ("paid", "authorized", "pending"):
            raise ShopifyError(422, {"financial_status": ["is not included in the list"]})
        if not items:
            raise ShopifyError(422, {"line_items": ["can't be blank"]})
        with self.lock:
            customer = self.customer_by_email(email)
            if customer is None:
                raise ShopifyError(422, {"customer": [f"no customer with email {email}"]})
            at = created if created is not None else self.now()
            oid, number = self.new_id(), next(self._numbers)
            lines, total = [], Decimal(0)
            for item in items:
                quantity = int(item.get("quantity") or 0)
                if quantity < 1:
                    raise ShopifyError(422, {"line_items": ["quantity must be greater than 0"]})
                product, variant = self.variant_by_sku(str(item.get("sku")))
                total += Decimal(variant["price"]) * quantity
                lines.append(
                    {
                        "id": self.new_id(),
                        "variant_id": variant["id"],
                        "product_id": product["id"],
                        "title": product["title"],
                        "name": product["title"],
                        "sku": variant["sku"],
                        "quantity": quantity,
                        "price": variant["price"],
                        "grams": variant["grams"],
                        "fulfillable_quantity": quantity,
                        "fulfillment_status": None,
                        "requires_shipping": True,
                    }
                )
            address = {
                k: v
                for k, v in customer["default_address"].items()
                if k not in ("id", "customer_id", "default")
            }
            address["name"] = f"{customer['first_name']} {customer['last_name']}"
            order = {
                "id": oid,
                "admin_graphql_api_id": f"gid://shopify/Order/{oid}",
                "name": f"#{number}",
                "order_number": number,
                "email": customer["email"],
                "contact_email": customer["email"],
                "created_at": _iso(at),
                "updated_at": _iso(at),
                "processed_at": _iso(at),
                "currency": "USD",
                "presentment_currency": "USD",
                "subtotal_price": _money(total),
                "total_tax": "0.00",
                "total_price": _money(total),
                "financial_status": financial_status,
                "fulfillment_status": None,
                "cancelled_at": None,
                "closed_at": None,
                "gateway": "stripe",
                "payment_gateway_names": ["stripe"],
                "tags": "",
                "note": None,
                "customer": {
                    k: customer[k] for k in ("id", "email", "first_name", "last_name", "state", "currency")
                },
                "shipping_address": address,
                "billing_address": address,
                "line_items": lines,
                "fulfillments": [],
                "refunds": [],
            }
            self.orders[oid] = order
            customer["orders_count"] += 1
            customer["total_spent"] = _money(Decimal(customer["total_spent"]) + total)
            kind = "sale" if financial_status == "paid" else "authorization"
            self.transactions[oid] = [
                {
                    "id": self.new_id(),
                    "order_id": oid,
                    "kind": kind,
                    "gateway": "stripe",
                    "status": "success" if financial_status != "pending" else "pending",
                    "amount": _money(total),
                    "currency": "USD",
                    "authorization": payment_reference,
                    "created_at": _iso(at),
                    "processed_at": _iso(at),
                    "test": False,
                }
            ]
            fo_id = self.new_id()
            self.fulfillment_orders[fo_id] = {
                "id": fo_id,
                "order_id": oid,
                "status": "open",
                "request_status": "unsubmitted",
                "assigned_location_id": 7_651_000_001,
                "line_items": [
                    {
                        "id": self.new_id(),
                        "fulfillment_order_id": fo_id,
                        "line_item_id": li["id"],
                        "variant_id": li["variant_id"],
                        "quantity": li["quantity"],
                        "fulfillable_quantity": li["quantity"],
                    }
                    for li in lines
                ],
                "created_at": _iso(at),
            }
            self.fulfillments[oid] = []
            if notify:
                self.queue_webhook("orders/create", order)
                if financial_status == "paid":
                    self.queue_webhook("orders/paid", order)
            return copy.deepcopy(order)

    def fulfillment_orders_for(self, order_id: int) -> list[dict[str, Any]]:
        return [copy.deepcopy(fo) for fo in self.fulfillment_orders.values() if fo["order_id"] == order_id]

    def fulfill(
        self,
        fulfillment_order_ids: list[int],
        tracking: dict[str, Any] | None,
        *,
        notify_customer: bool,
        created: float | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            fos = []
            for fo_id in fulfillment_order_ids:
                fo = self.fulfillment_orders.get(fo_id)
                if fo is None:
                    raise ShopifyError(404, "Not Found")
                if fo["status"] not in FULFILLABLE:  # in_progress: partly shipped, the rest still to go
                    raise ShopifyError(
                        422,
                        {"base": [f"Fulfillment order {fo_id} has an unfulfillable status= {fo['status']}."]},
                    )
                fos.append(fo)
            if len({fo["order_id"] for fo in fos}) != 1:
                raise ShopifyError(422, {"base": ["All fulfillment orders must belong to the same order."]})
            if len({fo.get("assigned_location_id") for fo in fos}) != 1:
                raise ShopifyError(
                    422, {"base": ["All fulfillment orders must be assigned to a single location"]}
                )
            order = self.orders[fos[0]["order_id"]]
            at = created if created is not None else self.now()
            tracking = tracking or {}
            line_ids = {li["line_item_id"] for fo in fos for li in fo["line_items"]}
            fulfillment = {
                "id": self.new_id(),
                "order_id": order["id"],
                "status": "success",
                "shipment_status": None,
                "created_at": _iso(at),
                "updated_at": _iso(at),
                "location_id": fos[0].get("assigned_location_id"),
                "tracking_company": tracking.get("company"),
                "tracking_number": tracking.get("number"),
                "tracking_numbers": [tracking["number"]] if tracking.get("number") else [],
                "tracking_url": tracking.get("url"),
                "tracking_urls": [tracking["url"]] if tracking.get("url") else [],
                "notify_customer": notify_customer,
                "line_items": [li for li in order["line_items"] if li["id"] in line_ids],
                "name": f"{order['name']}.{len(self.fulfillments[order['id']]) + 1}",
                "fulfillment_order_ids": [fo["id"] for fo in fos],
            }
            for fo in fos:
                fo["status"] = "closed"
                for li in fo["line_items"]:
                    li["fulfillable_quantity"] = 0
            for li in order["line_items"]:
                if li["id"] in line_ids:
                    li["fulfillable_quantity"], li["fulfillment_status"] = 0, "fulfilled"
            self.fulfillments[order["id"]].append(fulfillment)
            order["fulfillments"].append(fulfillment)
            open_left = any(
                fo["status"] == "open"
                for fo in self.fulfillment_orders.values()
                if fo["order_id"] == order["id"]
            )
            order["fulfillment_status"] = "partial" if open_left else "fulfilled"
            order["updated_at"] = _iso(at)
            return copy.deepcopy(fulfillment)

    # --- webhooks ---

    def queue_webhook(self, topic: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload, separators=(",", ":")).encode()
        event_id = f"{self.new_id()}"
        headers = webhooks.signed_headers(
            body,
            self.webhook["secret"],
            topic,
            event_id=event_id,
            shop_domain=SHOP_DOMAIN,
            api_version=API_VERSIONS[1],
        )
        headers["X-Shopify-Triggered-At"] = datetime.now(UTC).isoformat()
        self.outbox.append((topic, body, headers))
        return body, headers

    def take_outbox(self) -> list[tuple[str, bytes, dict[str, str]]]:
        with self.lock:
            out, self.outbox = self.outbox, []
            return out

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(
                {
                    "orders": list(self.orders.values()),
                    "customers": list(self.customers.values()),
                    "products": list(self.products.values()),
                    "fulfillment_orders": list(self.fulfillment_orders.values()),
                    "fulfillments": {str(k): v for k, v in self.fulfillments.items()},
                }
            )


async def _shopify_layer(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    path = relative_path(request)
    if path.startswith("/_"):
        return await call_next(request)
    token = request.headers.get("x-shopify-access-token", "")
    access_token = request.app.state.access_token
    if not token or (access_token is not None and token != access_token):
        return JSONResponse({"errors": INVALID_TOKEN}, status_code=401)
    parts = path.split("/")
    if len(parts) < 4 or parts[1] != "admin" or parts[2] != "api" or parts[3] not in API_VERSIONS:
        return JSONResponse({"errors": "Not Found"}, status_code=404)
    response = await call_next(request)
    calls, state = request.app.state.calls, request.app.state.shop
    calls["n"] = calls["n"] % BUCKET + 1
    response.headers["X-Shopify-Shop-Api-Call-Limit"] = f"{calls['n']}/{BUCKET}"
    response.headers["X-Request-Id"] = f"req-{state.new_id()}"
    return response


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405):
        return JSONResponse({"errors": "Not Found"}, status_code=404)
    return JSONResponse({"errors": str(exc.detail)}, status_code=exc.status_code)


PREFIX = "/admin/api/{version}"
shop_router = APIRouter()
orders_router = APIRouter()
customers_router = APIRouter()
products_router = APIRouter()


def _order_or_404(state: ShopState, order_id: str) -> dict[str, Any]:
    if not order_id.isdigit() or int(order_id) not in state.orders:
        raise ShopifyError(404, "Not Found")
    return state.orders[int(order_id)]


def _limit_of(request: Request, default: int = 50) -> int:
    raw = request.query_params.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= 250:
        raise ShopifyError(400, {"limit": ["must be between 1 and 250"]})
    return int(raw)


@shop_router.get(PREFIX + "/shop.json")
async def shop(version: str, request: Request) -> Any:
    return {
        "shop": {
            "id": 68_310_000_001,
            "name": "Northwind Home",
            "email": "store@northwind.example",
            "domain": "shop.northwind.example",
            "myshopify_domain": SHOP_DOMAIN,
            "currency": "USD",
            "iana_timezone": "America/Chicago",
            "plan_name": "basic",
        }
    }


@orders_router.get(PREFIX + "/orders.json")
async def list_orders(version: str, request: Request) -> Any:
    state: ShopState = request.app.state.shop
    q = request.query_params
    allowed = {"status", "financial_status", "fulfillment_status", "limit", "since_id", "ids", "fields"}
    unknown = set(q.keys()) - allowed
    if unknown:
        raise ShopifyError(400, {sorted(unknown)[0]: ["is not a supported filter"]})
    status = q.get("status", "open")
    if status not in ("open", "closed", "cancelled", "any"):
        raise ShopifyError(400, {"status": ["is not included in the list"]})
    with state.lock:
        orders = sorted(state.orders.values(), key=lambda o: o["id"])
        if q.get("since_id"):
            orders = [o for o in orders if o["id"] > int(q["since_id"])]
        if q.get("ids"):
            wanted = {int(i) for i in q["ids"].split(",") if i.strip().isdigit()}
            orders = [o for o in orders if o["id"] in wanted]
        if q.get("financial_status") not in (None, "any"):
            orders = [o for o in orders if o["financial_status"] == q["financial_status"]]
        fs = q.get("fulfillment_status")
        if fs in ("unfulfilled", "unshipped"):
            orders = [o for o in orders if o["fulfillment_status"] is None]
        elif fs == "shipped":
            orders = [o for o in orders if o["fulfillment_status"] == "fulfilled"]
        if status == "open":
            orders = [o for o in orders if o["closed_at"] is None and o["cancelled_at"] is None]
        return {"orders": copy.deepcopy(orders[: _limit_of(request)])}


@orders_router.get(PREFIX + "/orders/{order_id}.json")
async def get_order(version: str, order_id: str, request: Request) -> Any:
    state: ShopState = request.app.state.shop
    with state.lock:
        return {"order": copy.deepcopy(_order_or_404(state, order_id))}


@orders_router.get(PREFIX + "/orders/{order_id}/transactions.json")
async def transactions(version: str, order_id: str, request: Request) -> Any:
    state: ShopState = request.app.state.shop
    with state.lock:
        order = _order_or_404(state, order_id)
        return {"transactions": copy.deepcopy(state.transactions[order["id"]])}


@orders_router.get(PREFIX + "/orders/{order_id}/fulfillment_orders.json")
async def fulfillment_orders(version: str, order_id: str, request: Request) -> Any:
    state: ShopState = request.app.state.shop
    with state.lock:
        order = _order_or_404(state, order_id)
        fos = state.fulfillment_orders_for(order["id"])
    # Shopify lists what each fulfillment order still takes; a closed one takes nothing.
    return {
        "fulfillment_orders": [
            {
                **fo,
                "supported_actions": ["create_fulfillment", "hold", "move"]
                if fo["status"] in FULFILLABLE
                else [],
            }
            for fo in fos
        ]
    }


@orders_router.get(PREFIX + "/orders/{order_id}/fulfillments.json")
async def order_fulfillments(version: str, order_id: str, request: Request) -> Any:
    state: ShopState = request.app.state.shop
    with state.lock:
        order = _order_or_404(state, order_id)
        return {"fulfillments": copy.deepcopy(state.fulfillments[order["id"]])}


@orders_router.post(PREFIX + "/fulfillments.json")
async def create_fulfillment(version: str, request: Request) -> Any:
    state: ShopState = request.app.state.shop
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise ShopifyError(400, "Bad Request: the body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("fulfillment"), dict):
        raise ShopifyError(400, {"fulfillment": ["Required parameter missing or invalid"]})
    f = body["fulfillment"]
    unknown = set(f) - {
        "line_items_by_fulfillment_order",
        "tracking_info",
        "notify_customer",
        "message",
        "origin_address",
    }
    if unknown:
        raise ShopifyError(422, {sorted(unknown)[0]: ["is not a permitted parameter"]})
    groups = f.get("line_items_by_fulfillment_order")
    if not isinstance(groups, list) or not groups:
        raise ShopifyError(422, {"line_items_by_fulfillment_order": ["can't be blank"]})
    ids = []
    for g in groups:
        if not isinstance(g, dict) or not isinstance(g.get("fulfillment_order_id"), int):
            raise ShopifyError(422, {"fulfillment_order_id": ["must be an integer"]})
        ids.append(g["fulfillment_order_id"])
    tracking = f.get("tracking_info")
    if tracking is not None and (
        not isinstance(tracking, dict) or set(tracking) - {"number", "company", "url"}
    ):
        raise ShopifyError(422, {"tracking_info": ["may only have number, company and url"]})
    notify = f.get("notify_customer", False)
    if not isinstance(notify, bool):
        raise ShopifyError(422, {"notify_customer": ["must be true or false"]})
    return JSONResponse(
        {"fulfillment": state.fulfill(ids, tracking, notify_customer=notify)}, status_code=201
    )


@customers_router.get(PREFIX + "/customers/search.json")
async def search_customers(version: str, request: Request) -> Any:
    state: ShopState = request.app.state.shop
    query = request.query_params.get("query", "")
    field, _, value = query.partition(":")
    with state.lock:
        if field.strip() == "email":
            hits = [c for c in state.customers.values() if c["email"].lower() == value.strip().lower()]
        else:
            hits = [c for c in state.customers.values() if query.lower() in json.dumps(c).lower()]
        return {"customers": copy.deepcopy(hits[: _limit_of(request)])}


@customers_router.get(PREFIX + "/customers/{customer_id}.json")
async def get_customer(version: str, customer_id: str, request: Request) -> Any:
    state: ShopState = request.app.state.shop
    with state.lock:
        if not customer_id.isdigit() or int(customer_id) not in state.customers:
            raise ShopifyError(404, "Not Found")
        return {"customer": copy.deepcopy(state.customers[int(customer_id)])}


@products_router.get(PREFIX + "/products.json")
async def list_products(version: str, request: Request) -> Any:
    state: ShopState = request.app.state.shop
    with state.lock:
        return {"products": copy.deepcopy(list(state.products.values())[: _limit_of(request)])}


@products_router.get(PREFIX + "/products/{product_id}.json")
async def get_product(version: str, product_id: str, request: Request) -> Any:
    state: ShopState = request.app.state.shop
    with state.lock:
        if not product_id.isdigit() or int(product_id) not in state.products:
            raise ShopifyError(404, "Not Found")
        return {"product": copy.deepcopy(state.products[int(product_id)])}


async def _deliver(state: ShopState) -> list[dict[str, Any]]:
    sent = []
    for topic, body, headers in state.take_outbox():
        record: dict[str, Any] = {"topic": topic, "event_id": headers["X-Shopify-Event-Id"]}
        if state.webhook["url"]:
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    r = await client.post(state.webhook["url"], content=body, headers=headers)
                record["status"] = r.status_code
            except httpx.HTTPError as exc:
                record["error"] = str(exc)
        state.deliveries.append(record)
        sent.append(record)
    return sent


control_router = APIRouter(include_in_schema=False)


@control_router.post("/_orders")
async def place(request: Request) -> Any:
    state: ShopState = request.app.state.shop
    data = await request.json()
    if not isinstance(data, dict):
        return JSONResponse({"errors": "the body must be an object"}, status_code=422)
    try:
        order = state.place_order(
            str(data.get("email", "")),
            list(data.get("line_items") or []),
            payment_reference=data.get("payment_reference"),
            financial_status=str(data.get("financial_status", "paid")),
        )
    except ShopifyError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    return {"order": order, "deliveries": await _deliver(state)}


@control_router.get("/_webhook")
async def get_webhook(request: Request) -> Any:
    state: ShopState = request.app.state.shop
    return {"url": state.webhook["url"], "deliveries": list(state.deliveries)}


@control_router.post("/_webhook")
async def set_webhook(request: Request) -> Any:
    state: ShopState = request.app.state.shop
    data = await request.json()
    with state.lock:
        for key in ("url", "secret"):
            if key in data:
                state.webhook[key] = data[key]
    return {"url": state.webhook["url"]}


def create_app(
    state: ShopState | None = None,
    *,
    seed: bool = True,
    access_token: str | None = None,
    faults: Faults | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> FastAPI:
    """A Shopify-shaped ASGI app. `access_token`: the one accepted in X-Shopify-Access-Token
    (default: any non-empty token). State and faults are on `app.state` for in-process tests."""
    state = state if state is not None else ShopState(clock=clock or time.time)
    if seed and not state.orders:
        seed_data.seed(state)
        state.take_outbox()
    if webhook_url is not None:
        state.webhook["url"] = webhook_url
    if webhook_secret is not None:
        state.webhook["secret"] = webhook_secret
    faults = faults or Faults()
    api = simulator_app(
        "Shop simulator (Shopify Admin REST API)",
        state_name="shop",
        state=state,
        faults=faults,
        auth=SimulatorAuth(),
        error_body=shopify_error_body,
        sleep=sleep,
        error_type=ShopifyError,
    )
    api.state.access_token = access_token
    api.state.calls = {"n": 0}
    api.middleware("http")(_shopify_layer)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    for router in (shop_router, orders_router, customers_router, products_router):
        api.include_router(router)

    # the outer app: control endpoints in front of the API (no auth, no faults)
    app = FastAPI(title="Shop simulator", docs_url=None, redoc_url=None)
    app.state.shop, app.state.faults = state, faults
    app.include_router(control_router)
    app.router.routes.append(Mount("/", app=api))
    return app
