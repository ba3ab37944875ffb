"""Stripe webhook signatures: `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...]`.

Stripe signs `f"{t}.{payload}"` with HMAC-SHA256 under the endpoint's signing secret
(`whsec_...`, used as is, prefix included). A header may carry several `v1` values
while a secret is being rolled, and `v0` values (test-mode legacy scheme) that are
ignored. The timestamp is signed too, so checking it against a tolerance stops an
attacker from replaying an old, validly signed event.

This module is pure (no FastAPI, no httpx): the app's webhook endpoint verifies with
it and the payments simulator signs with it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

HEADER = "Stripe-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300  # seconds, Stripe's libraries' default


class SignatureError(ValueError):
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


def verify(
    payload: bytes,
    header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> dict[str, Any]:
    """Check a webhook's signature and age, then return the event it carries.

    Raises SignatureError when the header is missing or malformed, when no `v1`
    signature matches (wrong secret, or the body was changed), or when the timestamp
    is more than `tolerance` seconds from `now`. Raises ValueError if a correctly
    signed body is not a JSON object.
    """
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
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise ValueError(f"the signed webhook body is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise ValueError("the signed webhook body is not a JSON object")
    return event
