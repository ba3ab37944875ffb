"""What a connector tells the service about a webhook delivery: genuine or not, and what happened.

A connector kind that receives webhooks overrides `Connector.verify_webhook` (its
vendor's signature scheme, given the request's method and the URL the vendor called)
and `Connector.parse_webhook` (its vendor's body, turned into one `WebhookEvent`), or
`parse_webhooks` when the vendor batches several events in a delivery (HubSpot). The
service that receives deliveries knows no vendor: it looks the kind up, calls both, and
hands each event on. Errors are these two types,
so the service can answer 401 for a forged delivery and 422 for a bad body without
knowing which vendor raised them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal


class SignatureError(ValueError):
    """The delivery is not provably from the system (missing, wrong or stale signature)."""


class PayloadError(ValueError):
    """A genuine delivery whose body cannot be read; `field` names the part at fault."""

    def __init__(self, message: str, field: str = "body"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Intake:
    """An item the event delivers for triage (a ticket) or processing (a financial record)."""

    kind: Literal["ticket", "record"]
    payload: dict[str, Any]


@dataclass(frozen=True)
class WebhookEvent:
    """One event, normalised.

    type: what a workflow trigger names (`charge.dispute.created`, `ticket.created`).
    id: the event's identity, for deduplication: a redelivery carries the same id and
    starts nothing new. None when the event cannot start anything (workflows only run
    on events with an id).
    data: what a workflow sees as `event`.
    intake: an item to triage or process, if the event brings one.
    reply: an answer the system expects instead (Slack's URL verification challenge);
    nothing is recorded for it.
    account: the vendor account the event happened on, when the vendor names it in the event
    (Stripe Connect's `account`): one endpoint's secret signs every connected account's events.
    earlier_ids: ids the same event was known by before (a kind that changed how it names its
    events): a run started under one of them is this event's run."""

    type: str
    id: str | None = None
    data: dict[str, Any] | None = None
    intake: Intake | None = None
    reply: dict[str, Any] | None = field(default=None)
    account: str | None = None
    earlier_ids: tuple[str, ...] = ()


def body_id(body: bytes) -> str:
    """An event's id when the system sent none: the hash of the signed body, so a
    redelivery of the same body is still recognised."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


TOO_DEEP = "webhook body nests its values too deep to read"


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a PayloadError."""
    try:
        data = json.loads(body)
    except ValueError:
        raise PayloadError("webhook body is not valid JSON") from None
    except RecursionError:
        raise PayloadError(TOO_DEEP) from None
    if not isinstance(data, dict):
        raise PayloadError("webhook body must be a JSON object")
    return data


def object_at(value: Any, field: str) -> dict[str, Any]:
    """A nested part of an event that must be a JSON object when present ({} when absent)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{field} must be a JSON object, not {type(value).__name__}", field=field)
    return value


def text_id(value: Any, field: str) -> str | int | None:
    """An id as the system sent it (a string or a whole number), or None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadError(f"{field} must be a string or a whole number", field=field)
    return value


def lowered(headers: Any) -> dict[str, str]:
    """Headers with lower-case names (any mapping, including Starlette's)."""
    return {str(k).lower(): str(v) for k, v in headers.items()}
