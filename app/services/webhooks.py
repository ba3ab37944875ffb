"""Events pushed by connected systems: signature checked, then turned into runs.

Each kind verifies its vendor's scheme with the secret stored (encrypted) on
the connection as `webhook_secret`. Intake is idempotent on the event's
object id, so a redelivered event never starts a second run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.services import intake, workflows
from app.services.errors import Invalid, NotFound, ServiceError
from app.store.crypto import SecretBox
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Connection
from connectors.chat import signing as slack
from connectors.helpdesk import webhooks as zendesk
from connectors.payments import webhooks as stripe
from connectors.shop import webhooks as shopify
from connectors.warehouse import webhooks as shipstation


class Unauthorized(ServiceError):
    status = 401


def receive(
    db: Database, box: SecretBox, name: str, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    with db.session() as s:
        row = s.scalar(select(Connection).where(Connection.name == name))
        if row is None:
            raise NotFound(f"no connection {name}")
        kind, secret = row.kind, box.open(row.credentials).get("webhook_secret")
    if not secret:
        raise Invalid(
            f"connection {name} has no webhook_secret configured; add one to its credentials",
            field="connection",
        )
    # A rejected signature is counted in metrics and sampled in the log at the edge, never audited
    # row by row: a flood of forged events must not fill the audit log.
    fallback_id = "sha256:" + hashlib.sha256(body).hexdigest()
    try:
        if kind == "payments":
            try:
                event = stripe.verify(body, headers.get("stripe-signature"), secret)
            except stripe.SignatureError:
                raise
            except ValueError as exc:
                raise Invalid(str(exc), field="body") from None
            return _payments(db, name, event, fallback_id)
        if kind == "chat":
            slack.verify_headers(body, headers, secret)
            return _chat(db, name, _json(body))
        if kind == "helpdesk":
            zendesk.verify_headers(body, headers, secret)
            return _helpdesk(db, name, _json(body), fallback_id)
        if kind == "shop":
            return _shop(db, name, shopify.verify(body, headers, secret))
        if kind == "warehouse":
            return _warehouse(db, name, shipstation.verify(body, headers, secret))
    except (
        stripe.SignatureError,
        slack.SignatureError,
        zendesk.SignatureError,
        shopify.SignatureError,
        shipstation.SignatureError,
    ) as exc:
        raise Unauthorized(f"webhook signature rejected: {exc}") from None
    raise Invalid(f"connections of kind {kind} do not take webhooks", field="connection")


def _object(value: Any, field: str) -> dict[str, Any]:
    """A nested part of a signed event that must be a JSON object when present."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"{field} must be a JSON object, not {type(value).__name__}", field=field)
    return value


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise Invalid("webhook body is not valid JSON", field="body") from None
    if not isinstance(data, dict):
        raise Invalid("webhook body must be a JSON object", field="body")
    return data


def _accepted(
    db: Database,
    name: str,
    event: str,
    run_id: str | None = None,
    created: bool = False,
    *,
    data: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """Record the event, and start the active workflows it triggers (once per event id)."""
    started = workflows.dispatch(db, name, event, data, event_id) if data is not None and event_id else []
    with db.session() as s:
        audit(
            s,
            f"webhook:{name}",
            "webhook.received",
            "connection",
            name,
            {"event": event, "run_id": run_id, "created": created, "workflow_runs": started},
        )
    return {"accepted": True, "event": event, "run_id": run_id, "created": created, "workflow_runs": started}


def _payments(db: Database, name: str, event: dict[str, Any], fallback_id: str) -> dict[str, Any]:
    """A Stripe event. Without an id (Stripe always sends one; a replay tool may not) the event is
    known by the hash of its signed body, so a redelivery is still recognised as the same event."""
    kind = str(event.get("type") or "")
    obj = _object(_object(event.get("data"), "data").get("object"), "data.object")
    object_id = _text_id(obj.get("id"), "data.object.id")
    event_id = str(_text_id(event.get("id"), "id") or object_id or fallback_id)
    if kind == "charge.dispute.created":
        amount = obj.get("amount") or 0
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise Invalid(
                "data.object.amount must be a whole number of minor units", field="data.object.amount"
            )
        record = {
            "kind": "dispute",
            "amount": str(Decimal(amount) / 100),
            "currency": str(obj.get("currency") or "usd").upper(),
            "counterparty": str(obj.get("charge") or "cardholder"),
            "description": f"Dispute opened: {obj.get('reason') or 'no reason given'}",
            "external_id": object_id or event_id,
            "dispute_id": object_id,
            "charge_id": obj.get("charge"),
        }
        run_id, created = intake.submit(
            db, kind="record", run_kind="record", payload=record, source=name, actor=f"webhook:{name}"
        )
        return _accepted(db, name, kind, run_id, created, data=obj, event_id=event_id)
    return _accepted(db, name, kind, data=obj, event_id=event_id)


def _text_id(value: Any, field: str) -> str | int | None:
    """An id as the system sent it (a string or a whole number), or None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(f"{field} must be a string or a whole number", field=field)
    return value


def _chat(db: Database, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("type") == "url_verification":
        return {"challenge": payload.get("challenge")}
    return _accepted(db, name, str((payload.get("event") or {}).get("type") or payload.get("type")))


def _helpdesk(db: Database, name: str, payload: dict[str, Any], fallback_id: str) -> dict[str, Any]:
    kind = str(payload.get("type") or "")
    detail = _object(payload.get("detail") or payload.get("ticket"), "detail")
    if kind.endswith("ticket.created") or (kind == "" and "ticket" in payload):
        # Zendesk's ticket events carry `requester_id`, not an address: the triage run
        # looks the requester up in the help desk (and records that read as a step).
        requester = _object(detail.get("requester"), "detail.requester")
        ticket_id = _text_id(detail.get("id"), "detail.id")
        email = detail.get("requester_email") or requester.get("email")
        ticket = {
            "subject": str(detail.get("subject") or "(no subject)"),
            "body": str(detail.get("description") or ""),
            "requester_email": str(email) if email else None,
            "requester_id": _int_or_none(detail.get("requester_id")),
            "external_id": ticket_id or fallback_id,
        }
        ticket = {k: v for k, v in ticket.items() if v is not None}
        run_id, created = intake.submit(
            db, kind="ticket", run_kind="triage", payload=ticket, source=name, actor=f"webhook:{name}"
        )
        data = {**detail, **ticket}
        return _accepted(
            db, name, "ticket.created", run_id, created, data=data, event_id=str(ticket_id or fallback_id)
        )
    return _accepted(db, name, kind)


def _int_or_none(value: Any) -> int | None:
    """Zendesk's event payloads spell ids as strings ("35436"); the API takes integers."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None


def _shop(db: Database, name: str, event: shopify.ShopEvent) -> dict[str, Any]:
    """An order or refund from the store: only workflows act on it (the event id deduplicates)."""
    return _accepted(db, name, event.topic, data=event.data, event_id=event.event_id)


def _warehouse(db: Database, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    resource = str(payload.get("resource_type") or "")
    event = shipstation.EVENTS.get(resource, resource.lower())
    raw = payload.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    status = data.get("status_code") or ""
    event_id = f"{resource}:{data.get('label_id') or data.get('tracking_number')}:{status}"
    return _accepted(db, name, event, data=data, event_id=event_id)
