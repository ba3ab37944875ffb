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

SIGNATURE = "x-zendesk-webhook-signature"
TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
DEFAULT_TOLERANCE = 300


class SignatureError(ValueError):
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
