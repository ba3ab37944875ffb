"""Read models for the web UI: the queue with its provenance, and the dashboard's aggregates.

Queries stay portable (SQLite and PostgreSQL): grouping by day and by a JSON
field happens in Python over narrow column selections, so no dialect-specific
date or JSON functions are needed and each page costs a handful of queries.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.services import paging
from app.services.auth import Principal
from app.services.errors import Invalid
from app.services.followups import follow_up_reply
from app.services.paging import Page
from app.services.views import action_view
from app.store.db import Database
from app.store.tables import Action, Connection, Item, Run, Step, utcnow

# The queue's filter tabs and the action statuses each one shows. A write that failed is not
# "approved": it waits in its own tab for a person to retry or dismiss it.
QUEUE_TABS: dict[str, tuple[str, ...] | None] = {
    "pending": ("pending",),
    "failed": ("failed",),
    "approved": ("approved", "executing", "succeeded"),
    "rejected": ("rejected",),
    "expired": ("expired",),
    "all": None,
}
APPROVED = frozenset(QUEUE_TABS["approved"] or ())
# People said yes to these, whatever happened next (for the approval rate).
APPROVED_BY_PEOPLE = APPROVED | {"failed", "dismissed"}
_CHUNK = 500  # stay far below SQLite's bound-parameter limit


def queue(db: Database, tab: str = "pending", *, limit: int = 100) -> list[dict[str, Any]]:
    """The newest `limit` actions of one tab (see `queue_page`)."""
    return queue_page(db, tab, limit=limit).items


def queue_page(
    db: Database,
    tab: str = "pending",
    *,
    cursor: str | None = None,
    limit: int = 100,
    viewer: Principal | None = None,
) -> Page:
    """One page of a tab's actions, newest first, as whole items (the cards show provenance and
    edits), each with `origin` (what the run was about) and `expires_at`; the same keyset cursors as
    the API's list, so a later page costs what the first does."""
    if tab not in QUEUE_TABS:
        raise Invalid(f"status must be one of {', '.join(QUEUE_TABS)}", field="status")
    statuses = QUEUE_TABS[tab]
    used = {"tab": tab}
    after = paging.decode(cursor, used) if cursor else None
    q = paging.keyset(select(Action), Action.created_at, Action.id, after)
    if statuses:
        q = q.where(Action.status.in_(statuses))
    with db.read() as s:
        rows, next_cursor = paging.cut(
            list(s.scalars(q.limit(limit + 1)).all()), limit, lambda a: (a.created_at, a.id), used
        )
        items = []
        for a in rows:
            view = action_view(a)
            view["expires_at"] = a.expires_at
            items.append(view)
    found = origins(db, {i["run_id"] for i in items}, viewer)
    for item in items:
        item["origin"] = found.get(item["run_id"]) or {"kind": "run", "title": "(run not found)"}
    return Page(items, next_cursor, used)


def queue_counts(db: Database) -> dict[str, int]:
    """How many actions each tab holds (for the tab labels)."""
    with db.read() as s:
        by_status = dict(s.execute(select(Action.status, func.count()).group_by(Action.status)).all())
    counts = {
        tab: sum(n for st, n in by_status.items() if statuses is None or st in statuses)
        for tab, statuses in QUEUE_TABS.items()
    }
    return counts


def actions_by_status(db: Database) -> dict[str, int]:
    """How many actions are in each status (the navigation's pending and failed badges, the metrics)."""
    with db.session() as s:
        return {st: n for st, n in s.execute(select(Action.status, func.count()).group_by(Action.status))}


def queue_item(db: Database, action_id: str, viewer: Principal | None = None) -> dict[str, Any]:
    """One action as the queue shows it on its own: with what it is about and when it expires."""
    from app.services.approvals import get_action

    item = get_action(db, action_id)
    item["origin"] = origins(db, {item["run_id"]}, viewer).get(item["run_id"]) or {"title": "(run)"}
    with db.session() as s:
        item["expires_at"] = s.scalar(select(Action.expires_at).where(Action.id == action_id))
    return item


def run_totals(db: Database) -> dict[str, Any]:
    """Runs by kind and status, and the model's tokens and cost over all runs (read at scrape time)."""
    with db.session() as s:
        runs = [
            (k, st, n)
            for k, st, n in s.execute(
                select(Run.kind, Run.status, func.count()).group_by(Run.kind, Run.status)
            )
        ]
        inp, out, cost = s.execute(
            select(
                func.coalesce(func.sum(Run.input_tokens), 0),
                func.coalesce(func.sum(Run.output_tokens), 0),
                func.coalesce(func.sum(Run.cost_usd), 0.0),
            )
        ).one()
    return {"runs": runs, "input_tokens": inp, "output_tokens": out, "cost_usd": cost}


def queue_stamp(db: Database) -> str:
    """Changes whenever an action is proposed or decided: the UI polls it to know when to refresh."""
    with db.read() as s:
        n, created, decided, executed = s.execute(
            select(
                func.count(Action.id),
                func.max(Action.created_at),
                func.max(Action.decided_at),
                func.max(Action.executed_at),
            )
        ).one()
        pending = s.scalar(select(func.count()).select_from(Action).where(Action.status == "pending"))
    raw = "|".join(str(v) for v in (n, pending, created, decided, executed))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _shown(origin: dict[str, Any], created_by: str | None, viewer: Principal | None) -> dict[str, Any]:
    """A chat turn is its owner's conversation (views.visible): its question is shown to its owner
    and to those who decide its writes (approvers, admins); the queue's other readers see whose
    request it is, not what they asked. No viewer: a trusted caller."""
    if origin.get("kind") != "chat" or viewer is None or viewer.can("approver") or viewer.name == created_by:
        return origin
    return {**origin, "title": "A chat request"}


def _origin(kind: str, data: dict[str, Any], created_by: str | None) -> dict[str, Any]:
    """What a run was about, in the words a person would use: the ticket, the record or the question."""
    if isinstance(data.get("ticket"), dict):
        t = data["ticket"]
        ref = t.get("external_id")
        return {
            "kind": "ticket",
            "title": t.get("subject") or "(no subject)",
            "who": t.get("requester_email"),
            "ref": f"#{ref}" if ref is not None else None,
        }
    if isinstance(data.get("record"), dict):
        r = data["record"]
        return {
            "kind": "record",
            "title": r.get("description")
            or (f"Reconciliation {r['period']}" if r.get("period") else None)
            or r.get("kind")
            or "(record)",
            "who": r.get("counterparty"),
            "ref": r.get("external_id"),
            "amount": r.get("amount"),
            "currency": r.get("currency"),
        }
    if isinstance(data.get("chat"), dict):
        return {"kind": "chat", "title": data["chat"].get("message") or "", "who": created_by, "ref": None}
    return {"kind": kind, "title": kind, "who": created_by, "ref": None}


def origins(db: Database, run_ids: set[str], viewer: Principal | None = None) -> dict[str, dict[str, Any]]:
    """run id → {kind, title, who, ref, run_kind, run_status, category, priority, confidence,
    needs_review, reply} for many runs at once (`reply`: the drafted reply that follows a new ticket)."""
    out: dict[str, dict[str, Any]] = {}
    ids = sorted(run_ids)
    with db.read() as s:
        for i in range(0, len(ids), _CHUNK):
            rows = s.execute(
                select(
                    Run.id, Run.kind, Run.status, Run.input, Run.created_by, Run.classification, Run.draft
                ).where(Run.id.in_(ids[i : i + _CHUNK]))
            ).all()
            for run_id, kind, status, data, created_by, classification, draft in rows:
                o = _shown(_origin(kind, data or {}, created_by), created_by, viewer)
                c = classification or {}
                confidence = c.get("confidence")
                o.update(
                    run_kind=kind,
                    run_status=status,
                    category=c.get("category"),
                    priority=c.get("priority"),
                    confidence=float(confidence) if isinstance(confidence, int | float) else None,
                    needs_review=bool(c.get("needs_review")),
                    reply=follow_up_reply({"classification": c, "draft": draft}),
                )
                out[run_id] = o
    return out


def _day(dt: datetime) -> str:
    return dt.date().isoformat()


def _run_rows(s: Any, since: datetime) -> list[Any]:
    """The window's runs as narrow rows: category and priority read out of the JSON in SQL, so
    no classification document is decoded per run."""
    c = Run.classification
    return list(
        s.execute(
            select(
                Run.kind,
                Run.status,
                c["category"].as_string(),
                c["priority"].as_string(),
                Run.created_at,
                Run.input_tokens,
                Run.output_tokens,
                Run.cost_usd,
                Item.kind,
            )
            .outerjoin(Item, Run.item_id == Item.id)
            .where(Run.created_at >= since)
        ).all()
    )


def _run_figures(runs: list[Any], day_keys: list[str]) -> dict[str, Any]:
    """Items (tickets and records) per day stacked by category, by priority, cost and tokens per item."""
    per_day: dict[str, Counter[str]] = {d: Counter() for d in day_keys}
    categories: Counter[str] = Counter()
    priorities: Counter[str] = Counter()
    cost_per_day: dict[str, list[float]] = {d: [] for d in day_keys}
    tokens_per_day: dict[str, list[int]] = {d: [] for d in day_keys}
    item_runs = [r for r in runs if r[8] is not None]  # chat turns and workflows are not items
    for _kind, _status, category, priority, created_at, tin, tout, cost, _item in item_runs:
        day = _day(created_at)
        category = category or "unclassified"
        if day in per_day:
            per_day[day][category] += 1
            cost_per_day[day].append(cost)
            tokens_per_day[day].append(tin + tout)
        categories[category] += 1
        priorities[priority or "none"] += 1
    return {
        "item_count": len(item_runs),
        "items_per_day": [{"day": d, "by": dict(per_day[d])} for d in day_keys],
        "categories": categories.most_common(),
        "priorities": priorities.most_common(),
        "tokens_per_item": (sum(r[5] + r[6] for r in item_runs) / len(item_runs)) if item_runs else None,
        "cost_per_item": (sum(r[7] for r in item_runs) / len(item_runs)) if item_runs else None,
        "cost_per_day": [{"day": d, "value": _mean(v)} for d, v in cost_per_day.items()],
        "tokens_per_day": [{"day": d, "value": _mean(v)} for d, v in tokens_per_day.items()],
    }


def _mean(values: list[Any]) -> float | None:
    return sum(values) / len(values) if values else None


def _by_kind(runs: list[Any]) -> dict[str, Any]:
    per_kind: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    for kind, _status, _c, _p, _at, tin, tout, cost, _item in runs:
        per_kind[kind].append((tin, tout, cost))
    return {
        "by_kind": [
            {
                "kind": kind,
                "runs": len(rows),
                "input_tokens": sum(r[0] for r in rows) / len(rows),
                "output_tokens": sum(r[1] for r in rows) / len(rows),
                "cost_usd": sum(r[2] for r in rows) / len(rows),
            }
            for kind, rows in sorted(per_kind.items())
        ],
        "failed_runs": sum(1 for r in runs if r[1] == "failed"),
        "attention_runs": sum(1 for r in runs if r[1] == "needs_attention"),
    }


def _by_people() -> Any:
    """Decided by a person: standing rules decide as "rule:…" and are not counted as approvals."""
    return Action.decided_by.is_not(None) & ~Action.decided_by.startswith("rule:")


def _decision_figures(s: Any, since: datetime) -> dict[str, Any]:
    """Counts in SQL; only decided actions are read row by row (their waits and edits), never the
    pending queue, however long it is."""
    window = Action.created_at >= since
    counts = dict(
        s.execute(
            select(Action.status, func.count()).where(window, _by_people()).group_by(Action.status)
        ).all()
    )
    approved = sum(n for st, n in counts.items() if st in APPROVED_BY_PEOPLE)
    rejected = counts.get("rejected", 0)
    expired, failed_writes = (
        s.scalar(select(func.count()).select_from(Action).where(window, Action.status == status))
        for status in ("expired", "failed")
    )
    decided = s.execute(
        select(Action.status, Action.created_at, Action.decided_at).where(
            window, _by_people(), Action.status.in_([*APPROVED_BY_PEOPLE, "rejected"])
        )
    ).all()
    waits = [(at - created).total_seconds() for _st, created, at in decided if at is not None]
    edits = s.execute(
        select(Action.arguments, Action.proposed_arguments).where(
            window, _by_people(), Action.status.in_(APPROVED_BY_PEOPLE)
        )
    ).all()
    edited = sum(1 for arguments, proposed in edits if arguments != proposed)
    return {
        "approved": approved,
        "rejected": rejected,
        "expired": expired,
        "failed_writes": failed_writes,
        "approval_rate": approved / (approved + rejected) if approved + rejected else None,
        "median_decision_seconds": statistics.median(waits) if waits else None,
        "edits_per_approval": edited / approved if approved else None,
    }


def _connection_errors(s: Any, since: datetime) -> list[dict[str, Any]]:
    """Failed writes and failed tool calls per connection, beside each connection's health."""
    errors: Counter[str] = Counter(
        dict(
            s.execute(
                select(Action.connection, func.count())
                .where(Action.created_at >= since, Action.status.in_(("failed", "dismissed")))
                .group_by(Action.connection)
            ).all()
        )
    )
    tool_errors = s.execute(
        select(Step.data["tool"].as_string()).where(
            Step.kind == "tool_call", Step.created_at >= since, Step.data["is_error"].as_boolean()
        )
    ).all()
    for (tool,) in tool_errors:
        if tool and "__" in tool:
            errors[tool.split("__", 1)[0]] += 1
    connections = s.execute(select(Connection.name, Connection.status, Connection.last_error)).all()
    names = {c[0] for c in connections}
    return [
        {"connection": name, "errors": errors.get(name, 0), "health": health, "last_error": last_error}
        for name, health, last_error in sorted(connections)
    ] + [
        {"connection": name, "errors": n, "health": "removed", "last_error": None}
        for name, n in sorted(errors.items())
        if name not in names
    ]


def stats(db: Database, *, days: int = 14, now: datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard charts, over the last `days` days (UTC)."""
    now = now or utcnow()
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    day_keys = [_day(since + timedelta(days=i)) for i in range(days)]
    with db.read() as s:
        runs = _run_rows(s, since)
        decisions = _decision_figures(s, since)
        errors = _connection_errors(s, since)
    return {
        "days": day_keys,
        "since": since,
        **_run_figures(runs, day_keys),
        **decisions,
        **_by_kind(runs),
        "errors_by_connection": errors,
    }
