"""Proving the audit log: verify its hash chain, export it for an auditor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from app.services.errors import Invalid
from app.store import audit_chain
from app.store.db import Database
from app.text import digits


def parse_anchor(value: str | None) -> tuple[int, str] | None:
    """'SEQ:HASH' as printed by `switchboard audit verify`, or None."""
    if not value:
        return None
    seq, _, digest = value.partition(":")
    if not digits(seq) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise Invalid("the anchor must be SEQ:HASH as printed by 'switchboard audit verify'", field="anchor")
    return int(seq), digest


def verify(db: Database, anchor: tuple[int, str] | None = None) -> audit_chain.Report:
    # Read transactions: a walk of the whole chain must not hold SQLite's write lock.
    with db.read() as s:
        return audit_chain.verify(s, anchor=anchor)


def export_lines(db: Database) -> Iterator[str]:
    """The chain as JSON lines, oldest first, then a last line naming the head to anchor."""
    with db.read() as s:
        head: dict[str, Any] = {"seq": 0, "hash": audit_chain.GENESIS}
        for entry in audit_chain.walk(s):
            record = audit_chain.as_record(entry)
            head = {"seq": record["seq"], "hash": record["hash"]}
            yield json.dumps(record, ensure_ascii=False, default=str)
        yield json.dumps({"head": head})
