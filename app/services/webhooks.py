"""Events pushed by connected systems: signature checked, then turned into runs.

The connection's kind says how: its connector class verifies the delivery with the
secret stored (encrypted) on the connection as `webhook_secret`, and turns the body
into normalised events (`connectors.webhooks.WebhookEvent`): one for most vendors, up
to 100 for HubSpot, which batches. This module knows no vendor: a kind installed
through an entry point takes webhooks with no edit here. Intake is idempotent on the
item's external id and workflows on the event id, so a redelivered event never starts
a second run, in a batch or alone.
"""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from app.services import intake, workflows
from app.services.errors import Invalid, NotFound, ServiceError
from app.store.crypto import SecretBox
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Connection
from connectors.base import Connector
from connectors.registry import connector_type
from connectors.webhooks import TOO_DEEP, PayloadError, SignatureError, WebhookEvent

# The pipeline each kind of delivered item runs through.
RUN_KINDS = {"ticket": "triage", "record": "record"}


class Unauthorized(ServiceError):
    status = 401


def receive(
    db: Database,
    box: SecretBox,
    name: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str = "POST",
    url: str = "",
) -> dict[str, Any]:
    """The accepted delivery (`accepted`, `event`, `run_id`, `created`, `workflow_runs`, and
    `events`: the same for each event it carried), or the answer the system asked for instead
    (a dict without `accepted`, e.g. Slack's challenge). `method` and `url` are the request as
    the system sent it (see `vendor_url`); HubSpot signs them."""
    kind, secret, token, config = _connection(db, box, name)
    system = _receiver(kind)
    if not secret:
        raise Invalid(
            f"connection {name} has no webhook_secret configured: set it with "
            f"`switchboard connections secret {name}`",
            field="connection",
        )
    if not token and not system.webhook_signature_names_account:
        raise Invalid(
            f"connection {name}: {system.default_label or kind} signs every account's webhooks with "
            f"one key, so a delivery must also carry this connection's token: set one with "
            f"`switchboard connections update {name} --credential {URL_TOKEN}=<random>` and give "
            f"the system this URL with ?token=<it>",
            field="connection",
        )
    if token and not hmac.compare_digest(_url_token(url).encode(), token.encode()):
        raise Unauthorized("webhook refused: the URL does not carry this connection's token")
    # A rejected signature is counted in metrics and sampled in the log at the edge, never audited
    # row by row: a flood of forged events must not fill the audit log.
    try:
        _verify(system, body, headers, secret, method=method, url=url)
        events = system.parse_webhooks(body, headers)
    except SignatureError as exc:
        raise Unauthorized(f"webhook signature rejected: {exc}") from None
    except PayloadError as exc:
        raise Invalid(str(exc), field=exc.field) from None
    except RecursionError:  # a kind that parses the body itself (json.loads) and meets this first
        raise Invalid(TOO_DEEP, field="body") from None
    if not events:
        raise Invalid("the delivery carries no event", field="body")
    if len(events) == 1 and events[0].reply is not None:
        return events[0].reply
    results = [_accept(db, name, event, system.webhook_not_ours(event, config)) for event in events]
    first = results[0]
    return {
        "accepted": True,
        "event": first["event"],
        "run_id": next((r["run_id"] for r in results if r["run_id"]), None),
        "created": any(r["created"] for r in results),
        "workflow_runs": [run for r in results for run in r["workflow_runs"]],
        "events": results,
    }


def vendor_url(public_url: str | None, request_url: str, root_path: str = "") -> str:
    """The URL the system called. Behind a proxy the server sees another scheme, host or
    prefix than the vendor used, so with `SWITCHBOARD_PUBLIC_URL` set (where the app's root
    is reached from outside, prefix included) the request's path below the app's root
    (`root_path`) and its query are joined to it; without it the request's own URL is taken
    as it arrived."""
    if not public_url:
        return request_url
    parts = urlsplit(request_url)
    path = parts.path[len(root_path) :] if root_path and parts.path.startswith(root_path) else parts.path
    return public_url.rstrip("/") + path + (f"?{parts.query}" if parts.query else "")


def _verify(
    system: type[Connector], body: bytes, headers: Mapping[str, str], secret: str, *, method: str, url: str
) -> None:
    """Check the signature, handing the request's method and URL to kinds that take them; a
    plug-in written before they existed (`verify_webhook(body, headers, secret)`) still works."""
    params = inspect.signature(system.verify_webhook).parameters
    request = {"method": method, "url": url}
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        request = {name: value for name, value in request.items() if name in params}
    system.verify_webhook(body, headers, secret, **request)


# A connection's own token, which deliveries carry in their URL (`?token=`): set it for a system
# whose signature does not name the account (connectors.base.webhook_signature_names_account).
URL_TOKEN = "webhook_url_token"


def _url_token(url: str) -> str:
    """The `token` in the URL's query, percent-decoded as a URL path is (a `+` stays a `+`: a
    base64 token pasted as it is keeps its meaning)."""
    found = ""
    for part in urlsplit(url).query.split("&"):
        name, _, value = part.partition("=")
        if unquote(name) == "token":
            found = unquote(value)
    return found


def _connection(
    db: Database, box: SecretBox, name: str
) -> tuple[str, str | None, str | None, dict[str, Any]]:
    with db.session() as s:
        row = s.scalar(select(Connection).where(Connection.name == name))
        if row is None:
            raise NotFound(f"no connection {name}")
        creds = box.open(row.credentials)
        return row.kind, creds.get("webhook_secret"), creds.get(URL_TOKEN), dict(row.config or {})


def _receiver(kind: str) -> type[Connector]:
    """The connector class of `kind`, if it declares how to read its webhooks."""
    try:
        system = connector_type(kind)
    except KeyError:
        system = None
    if system is None or not system.takes_webhooks():
        raise Invalid(f"connections of kind {kind} do not take webhooks", field="connection")
    return system


def _accept(db: Database, name: str, event: WebhookEvent, not_ours: str | None = None) -> dict[str, Any]:
    """Hand the event's item to intake, start the active workflows it triggers (once per
    event id), and record it. An event without an item (a CRM or tracker change) starts
    workflows only. One about another account than the connection's (`not_ours`: the vendor
    signed it, for someone else) starts nothing: it is answered and recorded as ignored, so the
    vendor does not send it again."""
    if not_ours is not None:
        with db.session() as s:
            audit(
                s,
                f"webhook:{name}",
                "webhook.ignored",
                "connection",
                name,
                {"event": event.type, "event_id": event.id, "why": not_ours},
            )
        return {
            "event": event.type,
            "id": event.id,
            "run_id": None,
            "created": False,
            "workflow_runs": [],
            "ignored": not_ours,
        }
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
        workflows.dispatch(db, name, event.type, event.data, event.id, earlier_ids=event.earlier_ids)
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
            {
                "event": event.type,
                "event_id": event.id,
                "run_id": run_id,
                "created": created,
                "workflow_runs": started,
            },
        )
    return {
        "event": event.type,
        "id": event.id,
        "run_id": run_id,
        "created": created,
        "workflow_runs": started,
    }
