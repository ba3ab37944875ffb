"""Zendesk webhook signatures: base64(HMAC-SHA256(secret, timestamp + body)).

Zendesk sends `X-Zendesk-Webhook-Signature` and
`X-Zendesk-Webhook-Signature-Timestamp`; a request is genuine when the
signature matches and the timestamp is recent (replays are refused).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors import webhooks as base
from connectors.webhooks import Intake, WebhookEvent

SIGNATURE = "x-zendesk-webhook-signature"
TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
DEFAULT_TOLERANCE = 300


class SignatureError(base.SignatureError):
    """The webhook is not genuine, or too old; the message says which."""


def sign(body: bytes, secret: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_headers(body: bytes, secret: str, timestamp: str) -> dict[str, str]:
    return {
        "X-Zendesk-Webhook-Signature": sign(body, secret, timestamp),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
    }


def verify_headers(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    lowered = {k.lower(): v for k, v in headers.items()}
    signature, timestamp = lowered.get(SIGNATURE), lowered.get(TIMESTAMP)
    if not signature or not timestamp:
        raise SignatureError("missing X-Zendesk-Webhook-Signature or its timestamp header")
    if not hmac.compare_digest(sign(body, secret, timestamp), signature):
        raise SignatureError("signature does not match: wrong secret, or the body was changed")
    try:
        sent = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise SignatureError(f"timestamp {timestamp!r} is not ISO 8601") from None
    if abs((now if now is not None else time.time()) - sent) > tolerance:
        raise SignatureError(
            f"timestamp {timestamp} is more than {tolerance} s away: a replay, or a wrong clock"
        )


def parse(body: bytes) -> WebhookEvent:
    """A ticket event (`zen:event-type:ticket.created`, or a trigger's `{"ticket": …}` body)
    brings the ticket to triage, known by its id (by the body's hash without one). Other
    events are recorded by type only."""
    payload = base.json_object(body)
    kind = str(payload.get("type") or "")
    detail = base.object_at(payload.get("detail") or payload.get("ticket"), "detail")
    if not (kind.endswith("ticket.created") or (kind == "" and "ticket" in payload)):
        return WebhookEvent(kind)
    # Zendesk's ticket events carry `requester_id`, not an address: the triage run
    # looks the requester up in the help desk (and records that read as a step).
    requester = base.object_at(detail.get("requester"), "detail.requester")
    ticket_id = base.text_id(detail.get("id"), "detail.id") or base.body_id(body)
    email = detail.get("requester_email") or requester.get("email")
    ticket = {
        "subject": str(detail.get("subject") or "(no subject)"),
        "body": str(detail.get("description") or ""),
        "requester_email": str(email) if email else None,
        "requester_id": _int_or_none(detail.get("requester_id")),
        "external_id": ticket_id,
    }
    ticket = {k: v for k, v in ticket.items() if v is not None}
    return WebhookEvent("ticket.created", str(ticket_id), {**detail, **ticket}, Intake("ticket", ticket))


def _int_or_none(value: Any) -> int | None:
    """Zendesk's event payloads spell ids as strings ("35436"); the API takes integers."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None
