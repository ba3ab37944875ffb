"""Events pushed by connected systems: signature checked, then turned into runs.

The connection's kind says how: its connector class verifies the delivery with the
secret stored (encrypted) on the connection as `webhook_secret`, and turns the body
into one normalised event (`connectors.webhooks.WebhookEvent`). This module knows no
vendor: a kind installed through an entry point takes webhooks with no edit here.
Intake is idempotent on the item's external id and workflows on the event id, so a
redelivered event never starts a second run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from app.services import intake, workflows
from app.services.errors import Invalid, NotFound, ServiceError
from app.store.crypto import SecretBox
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Connection
from connectors.base import Connector
from connectors.registry import connector_type
from connectors.webhooks import PayloadError, SignatureError, WebhookEvent

# The pipeline each kind of delivered item runs through.
RUN_KINDS = {"ticket": "triage", "record": "record"}


class Unauthorized(ServiceError):
    status = 401


def receive(
    db: Database, box: SecretBox, name: str, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """The accepted event (`accepted`, `event`, `run_id`, `created`, `workflow_runs`), or the
    answer the system asked for instead (a dict without `accepted`, e.g. Slack's challenge)."""
    kind, secret = _connection(db, box, name)
    system = _receiver(kind)
    if not secret:
        raise Invalid(
            f"connection {name} has no webhook_secret configured; add one to its credentials",
            field="connection",
        )
    # A rejected signature is counted in metrics and sampled in the log at the edge, never audited
    # row by row: a flood of forged events must not fill the audit log.
    try:
        system.verify_webhook(body, headers, secret)
        event = system.parse_webhook(body, headers)
    except SignatureError as exc:
        raise Unauthorized(f"webhook signature rejected: {exc}") from None
    except PayloadError as exc:
        raise Invalid(str(exc), field=exc.field) from None
    if event.reply is not None:
        return event.reply
    return _accept(db, name, event)


def _connection(db: Database, box: SecretBox, name: str) -> tuple[str, str | None]:
    with db.session() as s:
        row = s.scalar(select(Connection).where(Connection.name == name))
        if row is None:
            raise NotFound(f"no connection {name}")
        return row.kind, box.open(row.credentials).get("webhook_secret")


def _receiver(kind: str) -> type[Connector]:
    """The connector class of `kind`, if it declares how to read its webhooks."""
    try:
        system = connector_type(kind)
    except KeyError:
        system = None
    if system is None or not system.takes_webhooks():
        raise Invalid(f"connections of kind {kind} do not take webhooks", field="connection")
    return system


def _accept(db: Database, name: str, event: WebhookEvent) -> dict[str, Any]:
    """Hand the event's item to intake, start the active workflows it triggers (once per
    event id), and record it."""
    run_id, created = None, False
    if event.intake is not None:
        run_id, created = intake.submit(
            db,
            kind=event.intake.kind,
            run_kind=RUN_KINDS[event.intake.kind],
            payload=event.intake.payload,
            source=name,
            actor=f"webhook:{name}",
        )
    started = (
        workflows.dispatch(db, name, event.type, event.data, event.id)
        if event.data is not None and event.id
        else []
    )
    with db.session() as s:
        audit(
            s,
            f"webhook:{name}",
            "webhook.received",
            "connection",
            name,
            {"event": event.type, "run_id": run_id, "created": created, "workflow_runs": started},
        )
    return {
        "accepted": True,
        "event": event.type,
        "run_id": run_id,
        "created": created,
        "workflow_runs": started,
    }
