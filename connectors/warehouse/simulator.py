"""A loopback ShipStation (API v2): warehouses, shipments, labels and tracking.

    GET  /v2/warehouses
    POST /v2/shipments                          {"shipments": [...]} -> {"has_errors", "shipments"}
    GET  /v2/shipments/{shipment_id}
    GET  /v2/shipments/external_shipment_id/{external_shipment_id}
    PUT  /v2/shipments/{shipment_id}/cancel     204; a shipment with a live label cannot be cancelled
    POST /v2/labels/shipment/{shipment_id}      buys the label: tracking number
    GET  /v2/labels?shipment_id=                the labels of a shipment
    GET  /v2/labels/{label_id}/track            tracking status and events
    PUT  /v2/labels/{label_id}/void             {"approved", "message"}

Strict like the real one: the key in `API-Key` (401 otherwise), unknown or missing fields
are 400 with ShipStation's error list `{"request_id", "errors": [{"error_source",
"error_type", "error_code", "message"}]}`, an `external_shipment_id` is unique, ids look
like `se-123456`. Faults come from `connectors.simulator_base`.

Outside the API (no auth, no faults): `GET /jwks` (the public keys webhooks are signed
with, as api.shipengine.com/jwks), `POST /_webhook {"url"}`, and
`POST /_track/{label_id} {"status_code": "IT" | "DE" | ...}`, which moves a parcel on and
sends an `API_TRACK` webhook signed with RSA-SHA256.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from connectors.simulator_base import Faults, SimulatorAuth, relative_path, simulator_app
from connectors.warehouse import seed as seed_data
from connectors.warehouse import webhooks

ADDRESS_FIELDS = {
    "name",
    "phone",
    "company_name",
    "address_line1",
    "address_line2",
    "city_locality",
    "state_province",
    "postal_code",
    "country_code",
    "address_residential_indicator",
}
REQUIRED_ADDRESS = ("name", "address_line1", "city_locality", "state_province", "postal_code", "country_code")
SHIPMENT_FIELDS = {
    "external_shipment_id",
    "warehouse_id",
    "ship_from",
    "ship_to",
    "service_code",
    "carrier_id",
    "items",
    "packages",
    "ship_date",
    "shipment_number",
}
STATUS = {
    "AC": "Accepted",
    "IT": "In Transit",
    "DE": "Delivered",
    "EX": "Exception",
    "NY": "Not Yet In System",
}


class ShipStationError(Exception):
    def __init__(
        self, status: int, message: str, code: str = "invalid_field_value", kind: str = "validation"
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.kind = status, message, code, kind

    def body(self) -> dict[str, Any]:
        return {
            "request_id": str(uuid.uuid4()),
            "errors": [
                {
                    "error_source": "shipstation",
                    "error_type": self.kind,
                    "error_code": self.code,
                    "message": self.message,
                }
            ],
        }


def error_body(status: int) -> dict[str, Any]:
    if status == 401:
        return ShipStationError(
            401, "The API key is invalid. Please see https://docs.shipstation.com", "unauthorized", "security"
        ).body()
    if status == 429:
        return ShipStationError(
            429, "You have exceeded the rate limit.", "rate_limit_exceeded", "system"
        ).body()
    return ShipStationError(status, "An unexpected error occurred.", "unspecified", "system").body()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class WarehouseState:
    def __init__(self, clock: Callable[[], float] = time.time):
        self.now = clock
        self.lock = threading.RLock()
        self._ids = itertools.count(731_501)
        self._tracking = itertools.count(40_001)
        self.warehouses: dict[str, dict[str, Any]] = {}
        self.shipments: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "whk_" + uuid.uuid4().hex[:12]
        self.webhook: dict[str, Any] = {"url": None}
        self.outbox: list[tuple[bytes, dict[str, str]]] = []
        self.deliveries: list[dict[str, Any]] = []

    def new_id(self) -> str:
        return f"se-{next(self._ids)}"

    def add_warehouse(self, name: str, street: str, city: str, state: str, zip_: str) -> str:
        with self.lock:
            wid = self.new_id()
            self.warehouses[wid] = {
                "warehouse_id": wid,
                "name": name,
                "created_at": _iso(self.now() - 800 * 86400),
                "origin_address": {
                    "name": "Northwind Home",
                    "address_line1": street,
                    "city_locality": city,
                    "state_province": state,
                    "postal_code": zip_,
                    "country_code": "US",
                },
                "is_default": not self.warehouses,
            }
            return wid

    def create_shipment(self, spec: dict[str, Any], *, created: float | None = None) -> dict[str, Any]:
        with self.lock:
            unknown = set(spec) - SHIPMENT_FIELDS
            if unknown:
                raise ShipStationError(400, f"{sorted(unknown)[0]} is not a recognized field")
            ship_to = spec.get("ship_to")
            if not isinstance(ship_to, dict):
                raise ShipStationError(400, "ship_to is required", "field_value_required")
            if set(ship_to) - ADDRESS_FIELDS:
                raise ShipStationError(
                    400, f"ship_to.{sorted(set(ship_to) - ADDRESS_FIELDS)[0]} is not a recognized field"
                )
            for f in REQUIRED_ADDRESS:
                if not str(ship_to.get(f) or "").strip():
                    raise ShipStationError(400, f"ship_to.{f} is required", "field_value_required")
            wid = spec.get("warehouse_id")
            if wid not in self.warehouses and "ship_from" not in spec:
                raise ShipStationError(400, f"warehouse_id {wid!r} was not found", "warehouse_not_found")
            items = spec.get("items") or []
            if not isinstance(items, list) or any(
                not isinstance(i, dict) or int(i.get("quantity") or 0) < 1 for i in items
            ):
                raise ShipStationError(400, "items[].quantity must be at least 1")
            ext = spec.get("external_shipment_id")
            if ext and any(s["external_shipment_id"] == ext for s in self.shipments.values()):
                raise ShipStationError(
                    400, f"A shipment with external_shipment_id '{ext}' already exists", "invalid_field_value"
                )
            at = created if created is not None else self.now()
            sid = self.new_id()
            shipment = {
                "shipment_id": sid,
                "external_shipment_id": ext,
                "shipment_number": spec.get("shipment_number"),
                "carrier_id": spec.get("carrier_id") or "se-ups-1",
                "service_code": spec.get("service_code") or "ups_ground",
                "ship_date": spec.get("ship_date") or _iso(at)[:10],
                "created_at": _iso(at),
                "modified_at": _iso(at),
                "shipment_status": "pending",
                "warehouse_id": wid,
                "ship_from": spec.get("ship_from") or self.warehouses[str(wid)]["origin_address"],
                "ship_to": dict(ship_to),
                "items": [dict(i) for i in items],
                "packages": spec.get("packages") or [{"weight": {"value": 1.0, "unit": "pound"}}],
                "tags": [],
            }
            self.shipments[sid] = shipment
            return copy.deepcopy(shipment)

    def shipment(self, sid: str) -> dict[str, Any]:
        s = self.shipments.get(sid)
        if s is None:
            raise ShipStationError(404, f"shipment {sid} was not found", "not_found", "resource")
        return s

    def cancel(self, sid: str) -> None:
        with self.lock:
            s = self.shipment(sid)
            if any(lb["shipment_id"] == sid and lb["status"] == "completed" for lb in self.labels.values()):
                raise ShipStationError(
                    400, f"shipment {sid} has a label; void the label before cancelling", "invalid_status"
                )
            s["shipment_status"], s["modified_at"] = "cancelled", _iso(self.now())

    def create_label(self, sid: str, *, created: float | None = None) -> dict[str, Any]:
        with self.lock:
            s = self.shipment(sid)
            if s["shipment_status"] == "cancelled":
                raise ShipStationError(400, f"shipment {sid} is cancelled", "invalid_status")
            if s["shipment_status"] == "label_purchased":
                raise ShipStationError(400, f"shipment {sid} already has a label", "invalid_status")
            at = created if created is not None else self.now()
            lid = self.new_id()
            tracking = f"1Z999AA1{next(self._tracking):010d}"
            label = {
                "label_id": lid,
                "status": "completed",
                "shipment_id": sid,
                "ship_date": s["ship_date"],
                "created_at": _iso(at),
                "shipment_cost": {"currency": "usd", "amount": 11.42},
                "tracking_number": tracking,
                "is_return_label": False,
                "carrier_id": s["carrier_id"],
                "carrier_code": "ups",
                "service_code": s["service_code"],
                "tracking_status": "in_transit",
                "voided": False,
                "voided_at": None,
                "events": [
                    {
                        "occurred_at": _iso(at),
                        "status_code": "AC",
                        "description": "Label created, shipment accepted",
                    }
                ],
                "status_code": "AC",
            }
            self.labels[lid] = label
            s["shipment_status"], s["modified_at"] = "label_purchased", _iso(at)
            return copy.deepcopy(label)

    def label(self, lid: str) -> dict[str, Any]:
        lb = self.labels.get(lid)
        if lb is None:
            raise ShipStationError(404, f"label {lid} was not found", "not_found", "resource")
        return lb

    def track(self, lid: str) -> dict[str, Any]:
        lb = self.label(lid)
        created = datetime.fromisoformat(lb["created_at"].replace("Z", "+00:00"))
        return {
            "tracking_number": lb["tracking_number"],
            "tracking_url": f"https://www.ups.com/track?tracknum={lb['tracking_number']}",
            "status_code": lb["status_code"],
            "status_description": STATUS.get(lb["status_code"], "Unknown"),
            "carrier_code": "ups",
            "ship_date": lb["ship_date"],
            "estimated_delivery_date": (created + timedelta(days=4)).isoformat().replace("+00:00", "Z"),
            "actual_delivery_date": lb["events"][-1]["occurred_at"] if lb["status_code"] == "DE" else None,
            "events": list(reversed(lb["events"])),
        }

    def advance_tracking(self, lid: str, status_code: str, *, notify: bool = True) -> dict[str, Any]:
        if status_code not in STATUS:
            raise ShipStationError(400, f"status_code must be one of {', '.join(STATUS)}")
        with self.lock:
            lb = self.label(lid)
            lb["status_code"] = status_code
            lb["tracking_status"] = {"DE": "delivered", "EX": "exception"}.get(status_code, "in_transit")
            lb["events"].append(
                {
                    "occurred_at": _iso(self.now()),
                    "status_code": status_code,
                    "description": STATUS[status_code],
                }
            )
            info = self.track(lid)
            if notify:
                payload = {
                    "resource_url": f"https://api.shipstation.com/v2/labels/{lid}/track",
                    "resource_type": "API_TRACK",
                    "data": {**info, "label_id": lid, "shipment_id": lb["shipment_id"]},
                }
                body = json.dumps(payload, separators=(",", ":")).encode()
                stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
                self.outbox.append((body, webhooks.sign(body, self.key, self.kid, stamp)))
            return info

    def void(self, lid: str) -> dict[str, Any]:
        with self.lock:
            lb = self.label(lid)
            if lb["status_code"] not in ("AC", "NY"):
                return {
                    "approved": False,
                    "message": f"Request for refund could not be submitted: label {lid} is already in transit.",
                }
            lb["voided"], lb["voided_at"], lb["status"] = True, _iso(self.now()), "voided"
            self.shipments[lb["shipment_id"]]["shipment_status"] = "pending"
            return {"approved": True, "message": "Request for refund submitted.  This label has been voided."}

    def jwks(self) -> dict[str, Any]:
        return webhooks.jwks(self.key, self.kid)

    def take_outbox(self) -> list[tuple[bytes, dict[str, str]]]:
        with self.lock:
            out, self.outbox = self.outbox, []
            return out

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(
                {
                    "warehouses": list(self.warehouses.values()),
                    "shipments": list(self.shipments.values()),
                    "labels": list(self.labels.values()),
                }
            )


async def _api_key_layer(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    if relative_path(request).startswith("/_"):
        return await call_next(request)
    key = request.headers.get("api-key", "")
    api_key = request.app.state.api_key
    if not key or (api_key is not None and key != api_key):
        return JSONResponse(error_body(401), status_code=401)
    return await call_next(request)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = 404 if exc.status_code in (404, 405) else exc.status_code
    message = (
        f"{request.method} {relative_path(request)} is not a ShipStation endpoint"
        if status == 404
        else str(exc.detail)
    )
    return JSONResponse(ShipStationError(status, message, "not_found", "resource").body(), status_code=status)


async def _body_of(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise ShipStationError(400, "The request body is not valid JSON", "invalid_request") from None


warehouses_router = APIRouter()
shipments_router = APIRouter()
labels_router = APIRouter()


@warehouses_router.get("/v2/warehouses")
async def warehouses(request: Request) -> Any:
    state: WarehouseState = request.app.state.warehouse
    with state.lock:
        return {"warehouses": copy.deepcopy(list(state.warehouses.values()))}


@shipments_router.post("/v2/shipments")
async def create_shipments(request: Request) -> Any:
    state: WarehouseState = request.app.state.warehouse
    data = await _body_of(request)
    if not isinstance(data, dict) or not isinstance(data.get("shipments"), list) or not data["shipments"]:
        raise ShipStationError(400, "shipments is required", "field_value_required")
    out, has_errors = [], False
    for spec in data["shipments"]:
        if not isinstance(spec, dict):
            raise ShipStationError(400, "each shipment must be an object")
        try:
            out.append({**state.create_shipment(spec), "errors": []})
        except ShipStationError as exc:
            if len(data["shipments"]) == 1:
                raise
            has_errors = True
            out.append({**spec, "shipment_id": None, "errors": exc.body()["errors"]})
    return {"has_errors": has_errors, "shipments": out}


@shipments_router.get("/v2/shipments/external_shipment_id/{external_id}")
async def by_external(external_id: str, request: Request) -> Any:
    state: WarehouseState = request.app.state.warehouse
    with state.lock:
        for s in state.shipments.values():
            if s["external_shipment_id"] == external_id:
                return copy.deepcopy(s)
    raise ShipStationError(
        404, f"shipment with external_shipment_id {external_id} was not found", "not_found", "resource"
    )


@shipments_router.get("/v2/shipments/{shipment_id}")
async def get_shipment(shipment_id: str, request: Request) -> Any:
    state: WarehouseState = request.app.state.warehouse
    with state.lock:
        return copy.deepcopy(state.shipment(shipment_id))


@shipments_router.put("/v2/shipments/{shipment_id}/cancel")
async def cancel(shipment_id: str, request: Request) -> Response:
    state: WarehouseState = request.app.state.warehouse
    state.cancel(shipment_id)
    return Response(status_code=204)


@labels_router.post("/v2/labels/shipment/{shipment_id}")
async def buy_label(shipment_id: str, request: Request) -> Any:
    state: WarehouseState = request.app.state.warehouse
    return state.create_label(shipment_id)


@labels_router.get("/v2/labels")
async def list_labels(request: Request) -> Any:
    state: WarehouseState = request.app.state.warehouse
    sid = request.query_params.get("shipment_id")
    with state.lock:
        labels = [lb for lb in state.labels.values() if sid is None or lb["shipment_id"] == sid]
        return {"labels": copy.deepcopy(labels), "total": len(labels), "page": 1, "pages": 1}


@labels_router.get("/v2/labels/{label_id}/track")
async def track(label_id: str, request: Request) -> Any:
    state: WarehouseState = request.app.state.warehouse
    with state.lock:
        return state.track(label_id)


@labels_router.put("/v2/labels/{label_id}/void")
async def void(label_id: str, request: Request) -> Any:
    state: WarehouseState = request.app.state.warehouse
    return state.void(label_id)


control_router = APIRouter(include_in_schema=False)


@control_router.get("/jwks")
async def keys(request: Request) -> Any:
    state: WarehouseState = request.app.state.warehouse
    return state.jwks()


@control_router.post("/_webhook")
async def set_webhook(request: Request) -> Any:
    state: WarehouseState = request.app.state.warehouse
    data = await request.json()
    state.webhook["url"] = data.get("url")
    return {"url": state.webhook["url"]}


@control_router.get("/_webhook")
async def get_webhook(request: Request) -> Any:
    state: WarehouseState = request.app.state.warehouse
    return {"url": state.webhook["url"], "deliveries": list(state.deliveries)}


@control_router.post("/_track/{label_id}")
async def move(label_id: str, request: Request) -> Any:
    state: WarehouseState = request.app.state.warehouse
    data = await request.json()
    try:
        info = state.advance_tracking(label_id, str(data.get("status_code", "IT")))
    except ShipStationError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    await _deliver(state, label_id)
    return info


async def _deliver(state: WarehouseState, label_id: str) -> None:
    """POST the tracking events waiting in the outbox to the webhook URL, recording each."""
    for body, headers in state.take_outbox():
        record: dict[str, Any] = {"label_id": label_id}
        if state.webhook["url"]:
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    record["status"] = (
                        await client.post(state.webhook["url"], content=body, headers=headers)
                    ).status_code
            except httpx.HTTPError as exc:
                record["error"] = str(exc)
        state.deliveries.append(record)


def create_app(
    state: WarehouseState | None = None,
    *,
    seed: bool = True,
    api_key: str | None = None,
    faults: Faults | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    webhook_url: str | None = None,
) -> FastAPI:
    """A ShipStation-shaped ASGI app. `api_key`: the one accepted in `API-Key` (default: any)."""
    state = state if state is not None else WarehouseState()
    if seed and not state.warehouses:
        seed_data.seed(state)
    if webhook_url is not None:
        state.webhook["url"] = webhook_url
    faults = faults or Faults()
    api = simulator_app(
        "Warehouse simulator (ShipStation API v2)",
        state_name="warehouse",
        state=state,
        faults=faults,
        auth=SimulatorAuth(),
        error_body=error_body,
        sleep=sleep,
        error_type=ShipStationError,
    )
    api.state.api_key = api_key
    api.middleware("http")(_api_key_layer)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    for router in (warehouses_router, shipments_router, labels_router):
        api.include_router(router)

    app = FastAPI(title="Warehouse simulator", docs_url=None, redoc_url=None)
    app.state.warehouse, app.state.faults = state, faults
    app.include_router(control_router)
    app.router.routes.append(Mount("/", app=api))
    return app
