"""Slack request signing: prove an incoming event came from Slack and is fresh.

Slack signs every event and interaction it sends with the app's signing secret:

    X-Slack-Request-Timestamp: 1712345678
    X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:1712345678:" + raw body)>

The signature covers the raw body bytes exactly as received (verify before parsing),
and the timestamp bounds replays: a captured request is refused once it is older
than `tolerance` seconds. Comparison is constant-time so the signature cannot be
guessed byte by byte from response timings.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from connectors import webhooks

VERSION = "v0"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
DEFAULT_TOLERANCE = 300  # seconds; Slack's own recommendation


class SignatureError(webhooks.SignatureError):
    """The request is not provably from Slack; the message says which check failed."""


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def sign(body: bytes | str, secret: str, timestamp: int) -> str:
    """The `X-Slack-Signature` value for `body` sent at `timestamp` (Unix seconds)."""
    if not secret:
        raise SignatureError("no signing secret configured")
    base = f"{VERSION}:{int(timestamp)}:".encode() + _as_bytes(body)
    digest = hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def signed_headers(body: bytes | str, secret: str, timestamp: int) -> dict[str, str]:
    """Both headers Slack would send with `body` (for simulators and tests)."""
    return {TIMESTAMP_HEADER: str(int(timestamp)), SIGNATURE_HEADER: sign(body, secret, timestamp)}


def verify(
    body: bytes | str,
    timestamp_header: str | None,
    signature_header: str | None,
    secret: str,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Return if the request is authentic and fresh; raise `SignatureError` naming the problem.

    `body` must be the raw request body. `now` (Unix seconds) is for tests.
    """
    if not secret:
        raise SignatureError("no signing secret configured; refusing to accept unsigned requests")
    if timestamp_header is None or not str(timestamp_header).strip():
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if signature_header is None or not str(signature_header).strip():
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    try:
        timestamp = int(str(timestamp_header).strip())
    except ValueError:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is not a Unix timestamp: {str(timestamp_header)[:40]!r}"
        ) from None
    current = time.time() if now is None else now
    age = current - timestamp
    if age > tolerance:
        raise SignatureError(
            f"request timestamp is {int(age)} s old; more than {tolerance:g} s is refused as a possible replay"
        )
    if -age > tolerance:
        raise SignatureError(
            f"request timestamp is {int(-age)} s in the future; check the clocks (tolerance {tolerance:g} s)"
        )
    version, sep, _ = str(signature_header).strip().partition("=")
    if not sep or version != VERSION:
        raise SignatureError(f"unsupported signature version in {SIGNATURE_HEADER}; expected '{VERSION}=...'")
    expected = sign(body, secret, timestamp)
    if not hmac.compare_digest(expected.encode("ascii"), str(signature_header).strip().encode("utf-8")):
        raise SignatureError(
            "signature does not match the body (wrong signing secret, or the body was altered)"
        )


def verify_headers(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """`verify` with the two headers looked up case-insensitively in `headers`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    verify(
        body,
        lowered.get(TIMESTAMP_HEADER.lower()),
        lowered.get(SIGNATURE_HEADER.lower()),
        secret,
        tolerance=tolerance,
        now=now,
    )
