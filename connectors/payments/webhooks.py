"""Stripe webhook signatures: `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...]`.

Stripe signs `f"{t}.{payload}"` with HMAC-SHA256 under the endpoint's signing secret
(`whsec_...`, used as is, prefix included). A header may carry several `v1` values
while a secret is being rolled, and `v0` values (test-mode legacy scheme) that are
ignored. The timestamp is signed too, so checking it against a tolerance stops an
attacker from replaying an old, validly signed event.

This module is pure (no FastAPI, no httpx): the payments connector verifies and
parses deliveries with it and the payments simulator signs with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from connectors import webhooks as base
from connectors.currency import to_major
from connectors.webhooks import Intake, PayloadError, WebhookEvent

HEADER = "Stripe-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300  # seconds, Stripe's libraries' default


class SignatureError(base.SignatureError):
    """The webhook's signature is missing, malformed, wrong or too old: do not trust the payload."""


def compute_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of `"{timestamp}.{payload}"` under `secret`."""
    signed = str(int(timestamp)).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The full `Stripe-Signature` header value for `payload` sent at `timestamp`."""
    return f"t={int(timestamp)},{SCHEME}={compute_signature(payload, secret, timestamp)}"


def parse_header(header: str) -> tuple[int, list[str]]:
    """(timestamp, v1 signatures) from a `Stripe-Signature` value; SignatureError if unusable."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(f"the {HEADER} header's timestamp {value!r} is not a number") from None
        elif key == SCHEME and value:
            signatures.append(value.strip())
    if timestamp is None:
        raise SignatureError(f"the {HEADER} header has no timestamp (t=...)")
    if not signatures:
        raise SignatureError(f"the {HEADER} header has no {SCHEME} signature")
    return timestamp, signatures


def check(
    payload: bytes,
    header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> None:
    """Raise SignatureError when the header is missing or malformed, when no `v1`
    signature matches (wrong secret, or the body was changed), or when the timestamp
    is more than `tolerance` seconds from `now` (0 turns the age check off)."""
    if not header or not header.strip():
        raise SignatureError(f"no {HEADER} header: the request was not signed by Stripe")
    if not secret:
        raise SignatureError("no webhook signing secret is configured for this endpoint")
    timestamp, signatures = parse_header(header)
    expected = compute_signature(payload, secret, timestamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError(
            "no signature matches the payload: the signing secret is wrong or the body was altered"
        )
    current = int(time.time()) if now is None else int(now)
    age = current - timestamp
    if tolerance > 0 and age > tolerance:
        raise SignatureError(f"the signature is {age} s old, more than the {tolerance} s tolerance (replay?)")
    if tolerance > 0 and -age > tolerance:
        raise SignatureError(f"the signature's timestamp is {-age} s in the future, beyond the tolerance")


def verify(
    payload: bytes,
    header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> dict[str, Any]:
    """Check a webhook's signature and age (`check`), then return the event it carries.

    Raises ValueError if a correctly signed body is not a JSON object.
    """
    check(payload, header, secret, tolerance, now)
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise PayloadError(f"the signed webhook body is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise PayloadError("the signed webhook body is not a JSON object")
    return event


def parse(payload: bytes) -> WebhookEvent:
    """A verified event, normalised. Known by Stripe's event id; without one (Stripe always
    sends one, a replay tool may not) by its object's id, else by the hash of its body, so
    a redelivery is still recognised. A dispute brings a financial record to process."""
    event = base.json_object(payload)
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        # Every Stripe Event names its type (`charge.dispute.created`): a body without one is not an
        # event, and answering it 202 would say it was taken.
        raise PayloadError("a Stripe event names its type: missing or not a string", field="type")
    obj = base.object_at(base.object_at(event.get("data"), "data").get("object"), "data.object")
    object_id = base.text_id(obj.get("id"), "data.object.id")
    event_id = str(base.text_id(event.get("id"), "id") or object_id or base.body_id(payload))
    item = _dispute(obj, object_id, event_id) if kind == "charge.dispute.created" else None
    account = event.get("account")
    if account is not None and not isinstance(account, str):
        raise PayloadError("account must be a connected account's id", field="account")
    return WebhookEvent(kind, event_id, obj, item, account=account or None)


def _dispute(obj: dict[str, Any], object_id: str | int | None, event_id: str) -> Intake:
    # Stripe's Dispute always carries these: a body without them is not the event it says it is.
    missing = [f"data.object.{k}" for k in ("amount",) if obj.get(k) in (None, "")]
    if missing:
        raise PayloadError(
            f"a charge.dispute.created event carries its dispute; missing: {', '.join(missing)}",
            field=missing[0],
        )
    amount = obj.get("amount") or 0
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise PayloadError(
            "data.object.amount must be a whole number of minor units", field="data.object.amount"
        )
    currency = str(obj.get("currency") or "usd").upper()
    record = {
        "kind": "dispute",
        "amount": str(to_major(amount, currency)),  # Stripe's minor units: ¥5000 is amount=5000
        "currency": currency,
        "counterparty": str(obj.get("charge") or "cardholder"),
        "description": f"Dispute opened: {obj.get('reason') or 'no reason given'}",
        "external_id": object_id or event_id,
        "dispute_id": object_id,
        "charge_id": obj.get("charge"),
    }
    return Intake("record", record)
