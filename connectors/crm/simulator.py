"""A loopback HubSpot: the CRM v3 object and search endpoints and v4 associations.

It answers in HubSpot's wire format: objects as `{"id", "properties", "createdAt",
"updatedAt", "archived"}` with string property values (requested but empty ones as
null), `POST .../search` with filterGroups (OR of groups, AND within a group) and
`after` paging, `batch/read` (207 with `errors` when some ids are missing), v3 create
with inline `associations` (`associationCategory` + `associationTypeId`), v4
association lists, property definitions (a custom property must exist before it is
written), and errors as `{"status": "error", "message", "correlationId", "category"}`.

Faults and credentials are steered through `connectors.simulator_base`
(`POST /_faults`, `GET /_state`). State is in memory behind a lock.

Webhooks as a HubSpot app receives them (`connectors.simulator_webhooks`): a JSON array of
up to 100 events, signed with `X-HubSpot-Signature-v3` over method, URL, body and
timestamp. Control endpoints (no auth, no faults):
    POST /_events   {"events": [{"subscriptionType", "objectId", "propertyName"?,
                    "propertyValue"?}]}: the changes happen (a property change is applied
                    to the object) and their events go out in one signed delivery
    POST /_webhook  {"url", "secret"}; GET /_webhook; POST /_webhook/redeliver
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.crm import seed as seed_data
from connectors.crm import webhooks as hubspot
from connectors.simulator_base import Faults, SimulatorAuth, simulator_app
from connectors.simulator_webhooks import CONTROL_PATHS as WEBHOOK_CONTROLS
from connectors.simulator_webhooks import WebhookSender
from connectors.simulator_webhooks import control_router as webhook_router

PORTAL_ID = 24681357
APP_ID = 3141592
DEMO_CLIENT_SECRET = "hubspot-demo-client-secret"
OBJECT_TYPES = {
    "contacts": "contacts",
    "contact": "contacts",
    "0-1": "contacts",
    "companies": "companies",
    "company": "companies",
    "0-2": "companies",
    "deals": "deals",
    "deal": "deals",
    "0-3": "deals",
    "notes": "notes",
    "note": "notes",
    "0-46": "notes",
}
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "notes": "note"}

# HUBSPOT_DEFINED association types: id -> (from, to, name, inverse id)
ASSOCIATION_TYPES: dict[int, tuple[str, str, str, int]] = {
    1: ("contacts", "companies", "contact_to_company", 2),
    2: ("companies", "contacts", "company_to_contact", 1),
    279: ("contacts", "companies", "contact_to_company_unlabeled", 280),
    280: ("companies", "contacts", "company_to_contact_unlabeled", 279),
    3: ("deals", "contacts", "deal_to_contact", 4),
    4: ("contacts", "deals", "contact_to_deal", 3),
    5: ("deals", "companies", "deal_to_company", 6),
    6: ("companies", "deals", "company_to_deal", 5),
    189: ("companies", "notes", "company_to_note", 190),
    190: ("notes", "companies", "note_to_company", 189),
    201: ("contacts", "notes", "contact_to_note", 202),
    202: ("notes", "contacts", "note_to_contact", 201),
    213: ("deals", "notes", "deal_to_note", 214),
    214: ("notes", "deals", "note_to_deal", 213),
}
PRIMARY_TYPES = frozenset({1, 2, 5, 6})  # labelled "Primary" in v4 answers

# Property definitions per type: name -> (type, fieldType). Read-only ones are set by HubSpot.
_STRING = ("string", "text")
_NUMBER = ("number", "number")
_DATETIME = ("datetime", "date")
_ENUM = ("enumeration", "select")
PROPERTIES: dict[str, dict[str, tuple[str, str]]] = {
    "contacts": {
        "email": _STRING,
        "firstname": _STRING,
        "lastname": _STRING,
        "phone": _STRING,
        "company": _STRING,
        "jobtitle": _STRING,
        "city": _STRING,
        "country": _STRING,
        "lifecyclestage": _ENUM,
        "hs_lead_status": _ENUM,
        "hubspot_owner_id": _ENUM,
    },
    "companies": {
        "name": _STRING,
        "domain": _STRING,
        "industry": _ENUM,
        "city": _STRING,
        "country": _STRING,
        "numberofemployees": _NUMBER,
        "annualrevenue": _NUMBER,
        "lifecyclestage": _ENUM,
        "hubspot_owner_id": _ENUM,
    },
    "deals": {
        "dealname": _STRING,
        "amount": _NUMBER,
        "deal_currency_code": _ENUM,
        "dealstage": _ENUM,
        "pipeline": _ENUM,
        "closedate": _DATETIME,
        "hubspot_owner_id": _ENUM,
    },
    "notes": {
        "hs_note_body": ("string", "html"),
        "hs_timestamp": _DATETIME,
        "hubspot_owner_id": _ENUM,
        "hs_attachment_ids": ("enumeration", "checkbox"),
    },
}
# (created, modified) property names HubSpot maintains for each type.
STAMPS = {
    "contacts": ("createdate", "lastmodifieddate"),
    "companies": ("createdate", "hs_lastmodifieddate"),
    "deals": ("createdate", "hs_lastmodifieddate"),
    "notes": ("hs_createdate", "hs_lastmodifieddate"),
}
# What a read returns when it asks for no properties.
DEFAULT_PROPERTIES = {
    "contacts": ("email", "firstname", "lastname"),
    "companies": ("name", "domain"),
    "deals": ("dealname", "amount", "dealstage", "pipeline", "closedate"),
    "notes": ("hs_note_body", "hs_timestamp"),
}
FIRST_ID = {"contacts": 151, "companies": 8801, "deals": 12001, "notes": 40001}
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
    }
)
NOTE_BODY_MAX = 65536


class HubSpotAPIError(Exception):
    """An error answered in HubSpot's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str = "VALIDATION_ERROR",
        *,
        context: dict[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.context = context
        self.errors = errors

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
        }
        if self.context:
            out["context"] = self.context
        if self.errors:
            out["errors"] = self.errors
        return out


def not_found(object_id: str) -> HubSpotAPIError:
    return HubSpotAPIError(
        404,
        "Object not found.  objectId are usually numeric.",
        "OBJECT_NOT_FOUND",
        context={"id": [object_id]},
    )


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def object_type(name: str) -> str:
    try:
        return OBJECT_TYPES[name.lower()]
    except KeyError:
        raise HubSpotAPIError(400, f"Unable to infer object type from: {name}", "OBJECT_NOT_FOUND") from None


def _text(value: Any) -> str | None:
    """HubSpot stores every property value as a string."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# --- state --------------------------------------------------------------------------


class CrmState:
    """Objects by type, their associations, and the portal's property definitions."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None, action_property: bool = True):
        self._lock = threading.RLock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = random.Random(11)
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in FIRST_ID}
        # (from type, from id) -> list of (to type, to id, type id)
        self.associations: dict[tuple[str, str], list[tuple[str, str, int]]] = {}
        self.properties: dict[str, dict[str, dict[str, Any]]] = {
            t: {
                name: {"name": name, "type": kind, "fieldType": field, "hubspotDefined": True}
                for name, (kind, field) in props.items()
            }
            for t, props in PROPERTIES.items()
        }
        if action_property:
            self.define_property("notes", "switchboard_action_id", label="Switchboard action id")
        self._next = dict(FIRST_ID)
        self.webhooks = WebhookSender(self._render, secret=DEMO_CLIENT_SECRET, batch=hubspot.MAX_EVENTS)
        self._event_ids = iter(range(5_100_000_001, 10**12))
        self._subscriptions: dict[str, int] = {}

    # webhooks

    def emit(
        self,
        subscription_type: str,
        object_id: str,
        *,
        property_name: str | None = None,
        property_value: str | None = None,
    ) -> dict[str, Any]:
        """The change happens (a property change is applied) and its event is queued, in
        HubSpot's shape; `flush` on the sender sends it."""
        name, _, change = subscription_type.partition(".")
        object_type = OBJECT_TYPES.get(name)
        if object_type is None or change not in (*hubspot.CHANGES, "privacyDeletion"):
            raise HubSpotAPIError(400, f"Unknown subscription type: {subscription_type}")
        with self._lock:
            obj = self.get(object_type, str(object_id))
            if change == "propertyChange":
                if not property_name or property_name not in self.properties[object_type]:
                    raise HubSpotAPIError(400, f'Property "{property_name}" does not exist')
                stamp = iso(self.now())
                stored = self.objects[object_type][obj["id"]]
                stored["properties"][property_name] = _text(property_value)
                stored["properties"][STAMPS[object_type][1]] = stamp
                stored["updatedAt"] = stamp
            event: dict[str, Any] = {
                "eventId": next(self._event_ids),
                "subscriptionId": self._subscriptions.setdefault(
                    subscription_type, 2_400_000 + len(self._subscriptions)
                ),
                "portalId": PORTAL_ID,
                "appId": APP_ID,
                "occurredAt": int(self.now().timestamp() * 1000),
                "subscriptionType": subscription_type,
                "attemptNumber": 0,
                "objectId": int(obj["id"]),
                "changeSource": "CRM_UI",
            }
            if change == "propertyChange":
                event |= {"propertyName": property_name, "propertyValue": _text(property_value)}
            if change == "creation":
                event["changeFlag"] = "CREATED"
        self.webhooks.queue(event)
        return event

    @staticmethod
    def _render(
        events: list[dict[str, Any]], secret: str, url: str, attempt: int
    ) -> tuple[bytes, dict[str, str]]:
        """One delivery as HubSpot sends it: the batch, its attempt number, signed for `url` now."""
        batch = [{**e, "attemptNumber": attempt - 1} for e in events]
        body = json.dumps(batch, separators=(",", ":")).encode()
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        return body, hubspot.signed_headers(secret, "POST", url, body, now_ms)

    def now(self) -> datetime:
        return self._clock()

    def define_property(
        self, object_type: str, name: str, *, label: str = "", kind: str = "string"
    ) -> dict[str, Any]:
        with self._lock:
            if name in self.properties[object_type]:
                raise HubSpotAPIError(409, f"A property named '{name}' already exists.", "CONFLICT")
            prop = {
                "name": name,
                "label": label or name,
                "type": kind,
                "fieldType": "text",
                "groupName": f"{SINGULAR[object_type]}information",
                "hubspotDefined": False,
            }
            self.properties[object_type][name] = prop
            return copy.deepcopy(prop)

    # writes

    def create(
        self,
        object_type: str,
        properties: Any,
        associations: Any = None,
        *,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """POST /crm/v3/objects/{type}: validate properties and associations, then store."""
        if not isinstance(properties, dict):
            raise HubSpotAPIError(400, "Invalid input JSON: 'properties' must be an object")
        with self._lock:
            known = self.properties[object_type]
            problems = []
            for name in properties:
                if name not in known:
                    msg = f'Property "{name}" does not exist'
                    problems.append(
                        {"isValid": False, "message": msg, "error": "PROPERTY_DOESNT_EXIST", "name": name}
                    )
            if problems:
                raise HubSpotAPIError(
                    400,
                    f"Property values were not valid: {json.dumps(problems)}",
                    errors=[
                        {
                            "message": p["message"],
                            "code": p["error"],
                            "context": {"propertyName": [p["name"]]},
                        }
                        for p in problems
                    ],
                )
            values = {k: _text(v) for k, v in properties.items()}
            if object_type == "notes":
                if not values.get("hs_timestamp"):
                    raise HubSpotAPIError(400, "Property values were not valid: hs_timestamp is required")
                if len(values.get("hs_note_body") or "") > NOTE_BODY_MAX:
                    raise HubSpotAPIError(
                        400,
                        f"Property values were not valid: hs_note_body is longer than {NOTE_BODY_MAX} characters",
                    )
            links = self._parse_associations(object_type, associations)
            oid = str(self._next[object_type])
            self._next[object_type] += 1
            stamp = iso(at or self.now())
            created_name, modified_name = STAMPS[object_type]
            obj = {
                "id": oid,
                "properties": {
                    **{k: v for k, v in values.items() if v is not None},
                    created_name: stamp,
                    modified_name: stamp,
                    "hs_object_id": oid,
                },
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
            }
            self.objects[object_type][oid] = obj
            for _, to_id, type_id in links:
                self.associate(object_type, oid, to_id, type_id)
            return copy.deepcopy(obj)

    def _parse_associations(self, object_type: str, associations: Any) -> list[tuple[str, str, int]]:
        if associations in (None, []):
            return []
        if not isinstance(associations, list):
            raise HubSpotAPIError(400, "Invalid input JSON: 'associations' must be an array")
        links: list[tuple[str, str, int]] = []
        for item in associations:
            to = item.get("to") if isinstance(item, dict) else None
            types = item.get("types") if isinstance(item, dict) else None
            if not isinstance(to, dict) or "id" not in to or not isinstance(types, list) or not types:
                raise HubSpotAPIError(400, "Each association needs 'to': {'id': ...} and a non-empty 'types'")
            to_id = str(to["id"])
            for spec in types:
                category = spec.get("associationCategory") if isinstance(spec, dict) else None
                raw_type = spec.get("associationTypeId") if isinstance(spec, dict) else None
                type_id = raw_type if isinstance(raw_type, int) and not isinstance(raw_type, bool) else -1
                if category not in ("HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"):
                    raise HubSpotAPIError(400, f"associationCategory {category!r} is not valid")
                known = ASSOCIATION_TYPES.get(type_id)
                if category != "HUBSPOT_DEFINED" or known is None or known[0] != object_type:
                    raise HubSpotAPIError(
                        400,
                        f"{category} association type {raw_type} is not valid for {SINGULAR[object_type]} objects",
                    )
                to_type = known[1]
                if to_id not in self.objects[to_type]:
                    raise HubSpotAPIError(
                        400,
                        f"Could not create associations: no {SINGULAR[to_type]} with id {to_id} exists",
                        context={"id": [to_id]},
                    )
                links.append((to_type, to_id, type_id))
        return links

    def associate(self, from_type: str, from_id: str, to_id: str, type_id: int) -> None:
        """Store an association in both directions, as HubSpot shows it from either side."""
        _, to_type, _, inverse = ASSOCIATION_TYPES[type_id]
        with self._lock:
            forward = self.associations.setdefault((from_type, from_id), [])
            if (to_type, to_id, type_id) not in forward:
                forward.append((to_type, to_id, type_id))
            backward = self.associations.setdefault((to_type, to_id), [])
            if (from_type, from_id, inverse) not in backward:
                backward.append((from_type, from_id, inverse))

    # reads

    def get(self, object_type: str, object_id: str) -> dict[str, Any]:
        with self._lock:
            obj = self.objects[object_type].get(object_id)
            if obj is None or obj["archived"]:
                raise not_found(object_id)
            return copy.deepcopy(obj)

    def find(self, object_type: str, value: str, id_property: str | None) -> dict[str, Any]:
        """An object by id, or by a unique property (`idProperty=email`)."""
        if not id_property or id_property == "hs_object_id":
            return self.get(object_type, value)
        with self._lock:
            for obj in self.objects[object_type].values():
                if (
                    str(obj["properties"].get(id_property) or "").lower() == value.lower()
                    and not obj["archived"]
                ):
                    return copy.deepcopy(obj)
        raise not_found(value)

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[tuple[str, int]]:
        with self._lock:
            return [
                (oid, tid) for t, oid, tid in self.associations.get((from_type, from_id), []) if t == to_type
            ]

    def search(self, object_type: str, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Objects matching any filter group (all filters in a group must hold)."""
        groups = request.get("filterGroups") or []
        if not isinstance(groups, list) or len(groups) > 5:
            raise HubSpotAPIError(400, "filterGroups must be an array of at most 5 groups")
        total = 0
        for group in groups:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list) or len(filters) > 6:
                raise HubSpotAPIError(400, "each filter group needs 'filters', at most 6")
            total += len(filters)
            for f in filters:
                if not isinstance(f, dict) or not f.get("propertyName"):
                    raise HubSpotAPIError(400, "each filter needs a propertyName")
                if f.get("operator") not in OPERATORS:
                    raise HubSpotAPIError(
                        400,
                        f"Unsupported operator {f.get('operator')!r}; use one of {', '.join(sorted(OPERATORS))}",
                    )
        if total > 18:
            raise HubSpotAPIError(400, "a search may use at most 18 filters in all")
        text = str(request.get("query") or "").strip().lower()
        with self._lock:
            candidates = [o for o in self.objects[object_type].values() if not o["archived"]]
            out = []
            for obj in candidates:
                if groups and not any(
                    all(self._holds(object_type, obj, f) for f in g["filters"]) for g in groups
                ):
                    continue
                if text and not any(text in str(v).lower() for v in obj["properties"].values() if v):
                    continue
                out.append(copy.deepcopy(obj))
        sorts = request.get("sorts") or []
        for sort in reversed(sorts if isinstance(sorts, list) else []):
            name = sort.get("propertyName") if isinstance(sort, dict) else None
            if name:
                desc = str(sort.get("direction", "ASCENDING")).upper().startswith("DESC")
                out.sort(key=_by_property(str(name)), reverse=desc)
        return out

    def _holds(self, object_type: str, obj: dict[str, Any], f: dict[str, Any]) -> bool:
        name, op = str(f["propertyName"]), f["operator"]
        if name.startswith("associations."):
            to_type = object_type_or_none(name.split(".", 1)[1])
            linked = (
                {oid for oid, _ in self.associated(object_type, obj["id"], to_type)} if to_type else set()
            )
            wanted = {str(v) for v in (f.get("values") or [f.get("value")])}
            return bool(linked & wanted) if op in ("EQ", "IN") else not (linked & wanted)
        actual = obj["properties"].get(name)
        if name == "hs_object_id":
            actual = obj["id"]
        if op == "HAS_PROPERTY":
            return actual not in (None, "")
        if op == "NOT_HAS_PROPERTY":
            return actual in (None, "")
        if op in ("IN", "NOT_IN"):
            values = {str(v).lower() for v in f.get("values") or []}
            hit = actual is not None and actual.lower() in values
            return hit if op == "IN" else not hit
        value = f.get("value")
        if op in ("EQ", "NEQ"):
            same = actual is not None and value is not None and actual.lower() == str(value).lower()
            return same if op == "EQ" else not same
        if op == "CONTAINS_TOKEN":
            if actual is None:
                return False
            pattern = re.escape(str(value).lower()).replace(r"\*", ".*")
            tokens = [actual.lower(), *re.split(r"[\s@.,;]+", actual.lower())]
            return any(re.fullmatch(pattern, token) for token in tokens)
        a, b = _number(actual), _number(_text(value))
        if a is None or b is None:
            if actual is None or value is None:
                return False
            left, right = actual, str(value)
            return {"LT": left < right, "LTE": left <= right, "GT": left > right, "GTE": left >= right}[op]
        return {"LT": a < b, "LTE": a <= b, "GT": a > b, "GTE": a >= b}[op]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(
                {
                    **{t: list(objs.values()) for t, objs in self.objects.items()},
                    "associations": [
                        {"from": f"{ft}/{fid}", "to": f"{tt}/{tid}", "typeId": type_id}
                        for (ft, fid), links in self.associations.items()
                        for tt, tid, type_id in links
                    ],
                }
            )


def object_type_or_none(name: str) -> str | None:
    return OBJECT_TYPES.get(name.lower())


def _by_property(name: str) -> Callable[[dict[str, Any]], tuple[int, float, str]]:
    return lambda obj: _sort_key(obj["properties"].get(name))


def _sort_key(value: str | None) -> tuple[int, float, str]:
    number = _number(value)
    return (0 if value is not None else 1, number if number is not None else 0.0, value or "")


def hubspot_error_body(status: int) -> dict[str, Any]:
    """HubSpot's bodies for injected faults and auth failures."""
    correlation = str(uuid.uuid4())
    if status == 401:
        return {
            "status": "error",
            "message": "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
            "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            "correlationId": correlation,
            "category": "INVALID_AUTHENTICATION",
        }
    if status == 429:
        return {
            "status": "error",
            "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": correlation,
            "policyName": "SECONDLY",
            "category": "RATE_LIMITS",
        }
    if status >= 500:
        return {
            "status": "error",
            "message": "internal error",
            "correlationId": correlation,
            "category": "INTERNAL_ERROR",
        }
    return {"status": "error", "message": f"Injected error {status}", "correlationId": correlation}


# --- the app ------------------------------------------------------------------------


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (404, 405):
        return JSONResponse(
            HubSpotAPIError(404, "resource not found", "OBJECT_NOT_FOUND").body(), status_code=404
        )
    return JSONResponse(HubSpotAPIError(exc.status_code, str(exc.detail)).body(), status_code=exc.status_code)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(HubSpotAPIError(400, f"Invalid input: {exc.errors()}").body(), status_code=400)


def _wanted_properties(request: Request) -> list[str]:
    names: list[str] = []
    for raw in request.query_params.getlist("properties"):
        names += [n.strip() for n in raw.split(",") if n.strip()]
    return names


def _render(
    state: CrmState, object_type: str, obj: dict[str, Any], properties: Iterable[str] | None
) -> dict[str, Any]:
    """Only the asked-for properties (null when unset) plus the ones HubSpot always returns."""
    names = list(properties or []) or list(DEFAULT_PROPERTIES[object_type])
    known = state.properties[object_type]
    created_name, modified_name = STAMPS[object_type]
    keep = [n for n in names if n in known or n in (created_name, modified_name, "hs_object_id")]
    props = {n: obj["properties"].get(n) for n in keep}
    for n in (created_name, modified_name, "hs_object_id"):
        props[n] = obj["properties"].get(n)
    return {**obj, "properties": props}


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise HubSpotAPIError(400, f"Invalid input JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HubSpotAPIError(400, "Invalid input JSON: expected an object")
    return data


def _paging_args(limit_raw: Any, after_raw: Any, *, default: int, maximum: int) -> tuple[int, int]:
    try:
        limit = int(limit_raw) if limit_raw not in (None, "") else default
        after = int(after_raw) if after_raw not in (None, "") else 0
    except (TypeError, ValueError):
        raise HubSpotAPIError(400, "limit and after must be integers") from None
    if limit < 1 or after < 0:
        raise HubSpotAPIError(400, "limit must be positive and after non-negative")
    return min(limit, maximum), after


account_router = APIRouter()
properties_router = APIRouter()
objects_router = APIRouter()
associations_router = APIRouter()

# account


@account_router.get("/account-info/v3/details")
async def account_details(request: Request) -> Any:
    return {
        "portalId": PORTAL_ID,
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": "USD",
        "additionalCurrencies": ["EUR", "GBP"],
        "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18000000,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }


# properties


@properties_router.get("/crm/v3/properties/{object_name}")
async def list_properties(object_name: str, request: Request) -> Any:
    state: CrmState = request.app.state.crm
    t = object_type(object_name)
    with state._lock:
        return {"results": copy.deepcopy(list(state.properties[t].values()))}


@properties_router.post("/crm/v3/properties/{object_name}")
async def create_property(object_name: str, request: Request) -> Response:
    state: CrmState = request.app.state.crm
    t = object_type(object_name)
    data = await _json_body(request)
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise HubSpotAPIError(400, "name must be lowercase letters, digits and underscores")
    prop = state.define_property(
        t, name, label=str(data.get("label") or ""), kind=str(data.get("type") or "string")
    )
    return JSONResponse(prop, status_code=201)


# objects


@objects_router.get("/crm/v3/objects/{object_name}")
async def list_objects(object_name: str, request: Request) -> Any:
    state: CrmState = request.app.state.crm
    t = object_type(object_name)
    limit, after = _paging_args(
        request.query_params.get("limit"), request.query_params.get("after"), default=10, maximum=100
    )
    with state._lock:
        objs = [copy.deepcopy(o) for o in state.objects[t].values() if not o["archived"]]
    props = _wanted_properties(request)
    out: dict[str, Any] = {"results": [_render(state, t, o, props) for o in objs[after : after + limit]]}
    if after + limit < len(objs):
        nxt = str(after + limit)
        link = str(request.url.include_query_params(after=nxt))  # the full path, mount prefix included
        out["paging"] = {"next": {"after": nxt, "link": link}}
    return out


@objects_router.post("/crm/v3/objects/{object_name}")
async def create_object(object_name: str, request: Request) -> Response:
    state: CrmState = request.app.state.crm
    t = object_type(object_name)
    data = await _json_body(request)
    obj = state.create(t, data.get("properties"), data.get("associations"))
    return JSONResponse(obj, status_code=201)


@objects_router.post("/crm/v3/objects/{object_name}/search")
async def search(object_name: str, request: Request) -> Any:
    state: CrmState = request.app.state.crm
    t = object_type(object_name)
    data = await _json_body(request)
    # PublicObjectSearchRequest (hubspot-api-python): nothing else is accepted
    allowed = {"filterGroups", "sorts", "query", "properties", "limit", "after"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise HubSpotAPIError(
            400,
            f'Invalid input JSON on line 1: Unrecognized field "{unknown[0]}"',
            context={"field": unknown},
        )
    limit, after = _paging_args(data.get("limit"), data.get("after"), default=10, maximum=200)
    results = state.search(t, data)
    props = data.get("properties") if isinstance(data.get("properties"), list) else None
    out: dict[str, Any] = {
        "total": len(results),
        "results": [_render(state, t, o, props) for o in results[after : after + limit]],
    }
    if after + limit < len(results):
        out["paging"] = {"next": {"after": str(after + limit)}}
    return out


@objects_router.post("/crm/v3/objects/{object_name}/batch/read")
async def batch_read(object_name: str, request: Request) -> Response:
    state: CrmState = request.app.state.crm
    t = object_type(object_name)
    data = await _json_body(request)
    inputs = data.get("inputs")
    if not isinstance(inputs, list) or len(inputs) > 100:
        raise HubSpotAPIError(400, "inputs must be an array of at most 100 {'id': ...} objects")
    # BatchReadInputSimplePublicObjectId: inputs, properties and propertiesWithHistory
    # are all required (hubspot-api-python's model refuses None for each).
    for required in ("properties", "propertiesWithHistory"):
        if not isinstance(data.get(required), list):
            raise HubSpotAPIError(
                400,
                f"Invalid input JSON on line 1: missing required field '{required}'",
                context={"field": [required]},
            )
    unknown = sorted(set(data) - {"inputs", "properties", "propertiesWithHistory", "idProperty"})
    if unknown:
        raise HubSpotAPIError(
            400,
            f'Invalid input JSON on line 1: Unrecognized field "{unknown[0]}"',
            context={"field": unknown},
        )
    props = data.get("properties") if isinstance(data.get("properties"), list) else None
    started = iso(state.now())
    results, missing_ids = [], []
    for item in inputs:
        oid = str(item.get("id")) if isinstance(item, dict) else ""
        try:
            results.append(_render(state, t, state.find(t, oid, data.get("idProperty")), props))
        except HubSpotAPIError:
            missing_ids.append(oid)
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": iso(state.now()),
    }
    if missing_ids:
        body["numErrors"] = 1
        body["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {SINGULAR[t].upper()} objects, they may be deleted or not "
                "exist. Check that ids are valid.",
                "context": {"ids": missing_ids},
            }
        ]
        return JSONResponse(body, status_code=207)
    return JSONResponse(body)


@objects_router.get("/crm/v3/objects/{object_name}/{object_id}")
async def get_object(object_name: str, object_id: str, request: Request) -> Any:
    state: CrmState = request.app.state.crm
    t = object_type(object_name)
    obj = state.find(t, object_id, request.query_params.get("idProperty"))
    out = _render(state, t, obj, _wanted_properties(request))
    wanted_assocs: list[str] = []
    for raw in request.query_params.getlist("associations"):
        wanted_assocs += [a.strip() for a in raw.split(",") if a.strip()]
    assocs: dict[str, Any] = {}
    for name in wanted_assocs:
        to_type = object_type_or_none(name)
        if to_type is None:
            continue
        links = state.associated(t, obj["id"], to_type)
        if links:
            assocs[to_type] = {
                "results": [{"id": oid, "type": ASSOCIATION_TYPES[tid][2]} for oid, tid in links]
            }
    if assocs:
        out["associations"] = assocs
    return out


@associations_router.get("/crm/v4/objects/{from_name}/{object_id}/associations/{to_name}")
async def list_associations(from_name: str, object_id: str, to_name: str, request: Request) -> Any:
    state: CrmState = request.app.state.crm
    from_type, to_type = object_type(from_name), object_type(to_name)
    state.get(from_type, object_id)
    limit, after = _paging_args(
        request.query_params.get("limit"), request.query_params.get("after"), default=500, maximum=500
    )
    grouped: dict[str, list[int]] = {}
    for oid, tid in state.associated(from_type, object_id, to_type):
        grouped.setdefault(oid, []).append(tid)
    rows = [
        {
            "toObjectId": int(oid),
            "associationTypes": [
                {
                    "category": "HUBSPOT_DEFINED",
                    "typeId": tid,
                    "label": "Primary" if tid in PRIMARY_TYPES else None,
                }
                for tid in tids
            ],
        }
        for oid, tids in grouped.items()
    ]
    out: dict[str, Any] = {"results": rows[after : after + limit]}
    if after + limit < len(rows):
        out["paging"] = {"next": {"after": str(after + limit)}}
    return out


events_router = APIRouter(include_in_schema=False)


@events_router.post("/_events")
async def post_events(request: Request) -> Response:
    """Changes made in the portal, sent to the webhook URL as one signed delivery."""
    state: CrmState = request.app.state.crm
    data = await request.json()
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list) or not events or not all(isinstance(e, dict) for e in events):
        return JSONResponse(
            {"error": "give {'events': [{'subscriptionType', 'objectId', ...}]}"}, status_code=422
        )
    try:
        sent = [
            state.emit(
                str(e.get("subscriptionType")),
                str(e.get("objectId")),
                property_name=e.get("propertyName"),
                property_value=e.get("propertyValue"),
            )
            for e in events
        ]
    except HubSpotAPIError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    return JSONResponse({"events": sent, "deliveries": await state.webhooks.flush()})


def create_app(
    state: CrmState | None = None,
    *,
    seed: bool = True,
    auth: SimulatorAuth | None = None,
    faults: Faults | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    action_property: bool = True,
) -> FastAPI:
    """A HubSpot-shaped ASGI app. `seed` fills an empty state with the demo data; `auth`
    sets the accepted private-app tokens (default: anything); `action_property=False`
    leaves out the custom note property `switchboard_action_id`, as in a portal whose
    owner has not created it yet. State, faults and auth are also on `app.state`."""
    state = state if state is not None else CrmState(action_property=action_property)
    if seed and not state.objects["contacts"]:
        seed_data.seed(state)
    faults = faults or Faults()
    auth = auth or SimulatorAuth()
    app = simulator_app(
        "CRM simulator (HubSpot CRM API)",
        state_name="crm",
        state=state,
        faults=faults,
        auth=auth,
        error_body=hubspot_error_body,
        sleep=sleep,
        error_type=HubSpotAPIError,
        controls=(*WEBHOOK_CONTROLS, "/_events"),
    )
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(webhook_router(lambda request: request.app.state.crm.webhooks))
    app.include_router(events_router)
    for router in (account_router, properties_router, objects_router, associations_router):
        app.include_router(router)
    return app
