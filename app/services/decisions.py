"""People's decisions on proposed writes, as data: how often each kind of proposal is
approved as it was, approved after an edit, or rejected, how far the edits went, and how
long people took, by ticket category, by operation and by model.

This is the eval no dataset can give: what the people who send the replies thought of
them. Edit distance is counted in characters over the text arguments (the reply body,
above all): the sum, over what differs, of the longer side of each changed span
(difflib's opcodes), so "approved with a typo fixed" and "rewritten" read apart.
Queries stay portable: grouping happens in Python over narrow selections.
"""

from __future__ import annotations

import difflib
import statistics
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.store.db import Database
from app.store.tables import Action, Run, Step, utcnow

DECIDED = ("approved", "executing", "succeeded", "failed", "rejected")
_CHUNK = 500


def edit_distance(before: str, after: str) -> int:
    """Characters changed between two texts (see the module docstring)."""
    if before == after:
        return 0
    ops = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")


def argument_edit(proposed: dict[str, Any], sent: dict[str, Any]) -> int:
    """Edit distance over every text argument, plus one for each other argument changed."""
    total = 0
    for key in set(proposed) | set(sent):
        a, b = proposed.get(key), sent.get(key)
        if isinstance(a, str) and isinstance(b, str):
            total += edit_distance(a, b)
        elif a != b:
            total += 1
    return total


def _group() -> dict[str, Any]:
    return {
        "proposed": 0,
        "approved": 0,
        "edited": 0,
        "rejected": 0,
        "expired": 0,
        "distances": [],
        "minutes": [],
    }


def _finish(g: dict[str, Any]) -> dict[str, Any]:
    decided = g["approved"] + g["rejected"]
    distances, minutes = g.pop("distances"), g.pop("minutes")
    return {
        **g,
        "approval_rate": round(g["approved"] / decided, 4) if decided else None,
        "edit_rate": round(g["edited"] / g["approved"], 4) if g["approved"] else None,
        "rejection_rate": round(g["rejected"] / decided, 4) if decided else None,
        "mean_edit_distance": round(statistics.fmean(distances), 1) if distances else None,
        "median_minutes_to_decision": round(statistics.median(minutes), 1) if minutes else None,
    }


def decision_stats(db: Database, *, days: int | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Approval, edit and rejection rates, edit distance and time to decision, overall and by
    category, operation and model (the model that proposed: the run's last model call)."""
    since = (now or utcnow()) - timedelta(days=days) if days else None
    with db.session() as s:
        q = select(
            Action.run_id,
            Action.operation,
            Action.status,
            Action.arguments,
            Action.proposed_arguments,
            Action.created_at,
            Action.decided_at,
        )
        if since is not None:
            q = q.where(Action.created_at >= since)
        actions = s.execute(q).all()
        run_ids = sorted({a.run_id for a in actions})
        categories: dict[str, str] = {}
        models: dict[str, str] = {}
        for i in range(0, len(run_ids), _CHUNK):
            chunk = run_ids[i : i + _CHUNK]
            for rid, cls in s.execute(select(Run.id, Run.classification).where(Run.id.in_(chunk))).all():
                categories[rid] = str((cls or {}).get("category") or "(none)")
            for rid, model in s.execute(
                select(Step.run_id, Step.model)
                .where(Step.run_id.in_(chunk), Step.kind == "model_call")
                .order_by(Step.seq)
            ).all():
                if model:
                    models[rid] = model
    groups: dict[str, dict[str, dict[str, Any]]] = {"category": {}, "operation": {}, "model": {}}
    overall = _group()
    for a in actions:
        keys = {
            "category": categories.get(a.run_id, "(none)"),
            "operation": a.operation,
            "model": models.get(a.run_id, "(none)"),
        }
        targets = [overall] + [groups[dim].setdefault(value, _group()) for dim, value in keys.items()]
        edited = a.status in DECIDED and a.status != "rejected" and a.arguments != a.proposed_arguments
        for g in targets:
            g["proposed"] += 1
            if a.status == "rejected":
                g["rejected"] += 1
            elif a.status == "expired":
                g["expired"] += 1
            elif a.status in DECIDED:
                g["approved"] += 1
                if edited:
                    g["edited"] += 1
                    g["distances"].append(argument_edit(a.proposed_arguments or {}, a.arguments or {}))
            if a.status in DECIDED and a.decided_at is not None and a.created_at is not None:
                g["minutes"].append((a.decided_at - a.created_at).total_seconds() / 60)
    return {
        "overall": _finish(overall),
        **{dim: {k: _finish(v) for k, v in sorted(g.items())} for dim, g in groups.items()},
    }
