"""Keyset pages with opaque cursors, newest first, for the approvals and runs lists.

A page is ordered by (created_at, id) descending, and a cursor is the key of the
last row shown: the next page is the rows strictly after it, read through the
matching (status, created_at, id) / (created_at, id) indexes. So a page costs the
same on the hundredth page as on the first (no OFFSET), and rows added meanwhile
(always newer) never shift or repeat what a reader pages through. The cursor also
carries a fingerprint of the filters it was made with: a cursor from one query used
with another is refused with 400 naming `cursor`, not silently mixed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, tuple_

from app.services.errors import Invalid, ServiceError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_VERSION = 1


class BadCursor(ServiceError):
    """400: the cursor is not one this list handed out (or not for these filters)."""

    status = 400


@dataclass
class Page:
    """One page of a list: its items and the cursor of the next page (None on the last)."""

    items: list[dict[str, Any]]
    next_cursor: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)


def check_limit(limit: int | None) -> int:
    """The page size: DEFAULT_LIMIT when not given; a larger one than MAX_LIMIT gets MAX_LIMIT (and
    a next cursor), so a client that asked for "everything" before pages existed still works."""
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1:
        raise Invalid("limit must be at least 1", field="limit")
    return min(limit, MAX_LIMIT)


def fingerprint(filters: dict[str, Any]) -> str:
    used = {k: v for k, v in sorted(filters.items()) if v is not None}
    return hashlib.sha256(json.dumps(used, default=str).encode()).hexdigest()[:8]


def encode(created_at: datetime, row_id: str, filters: dict[str, Any]) -> str:
    raw = json.dumps([_VERSION, created_at.astimezone(UTC).isoformat(), row_id, fingerprint(filters)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, filters: dict[str, Any]) -> tuple[datetime, str]:
    """The (created_at, id) a cursor stands for; Invalid (400, field `cursor`) when it is not one
    this list made, or was made for other filters."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, at, row_id, made_for = json.loads(raw)
        when = datetime.fromisoformat(at)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadCursor(
            "cursor is not valid: pass back the cursor of a previous page unchanged", field="cursor"
        ) from None
    if version != _VERSION or not isinstance(row_id, str) or when.tzinfo is None:
        raise BadCursor("cursor is not valid: it comes from another version of this list", field="cursor")
    if made_for != fingerprint(filters):
        raise BadCursor(
            "cursor was made for other filters: repeat the query it came from, or start without a cursor",
            field="cursor",
        )
    return when, row_id


def keyset(q: Select[Any], created_at: Any, row_id: Any, after: tuple[datetime, str] | None) -> Select[Any]:
    """Newest first, strictly after the cursor's key when there is one."""
    if after is not None:
        q = q.where(tuple_(created_at, row_id) < tuple_(*after))
    return q.order_by(created_at.desc(), row_id.desc())


def cut(rows: list[Any], limit: int, key: Any, filters: dict[str, Any]) -> tuple[list[Any], str | None]:
    """`rows` was read with limit + 1: the page, and the next cursor when there is more."""
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    created_at, row_id = key(page[-1])
    return page, encode(created_at, row_id, filters)
