"""Standing rules: a person's approval, given once, for a narrow kind of write.

Only admins create or revoke them, through the API or CLI; no tool exists that
touches them, so a model (or text it reads) cannot grant itself one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.agent.policy import Policy, StandingRule
from app.services.auth import ROLES, Principal
from app.services.errors import Invalid, NotFound
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import StandingRuleRow, utcnow

RISKS = ("low", "medium", "high")


def create_rule(
    db: Database,
    who: Principal,
    *,
    tool: str,
    max_risk: str = "low",
    max_amount: int | None = None,
    roles: list[str] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    if not tool or "__" not in tool:
        raise Invalid(
            "tool must name a tool or pattern like 'helpdesk__update_ticket' or 'helpdesk__*'", field="tool"
        )
    if tool.strip("*_") == "" or tool.startswith("*"):
        raise Invalid("a standing rule must name a connection; '*' alone is not allowed", field="tool")
    if max_risk not in RISKS:
        raise Invalid(f"max_risk must be one of {', '.join(RISKS)}", field="max_risk")
    if max_risk == "high":
        raise Invalid(
            "high-risk writes always need a person; max_risk may be low or medium", field="max_risk"
        )
    bad = [r for r in roles or [] if r not in ROLES]
    if bad:
        raise Invalid(f"unknown roles: {', '.join(bad)}", field="roles")
    if max_amount is not None and max_amount < 0:
        raise Invalid("max_amount must not be negative", field="max_amount")
    with db.session() as s:
        row = StandingRuleRow(
            tool=tool,
            max_risk=max_risk,
            max_amount=max_amount,
            roles=list(roles or []),
            description=description,
            approved_by=who.name,
        )
        s.add(row)
        s.flush()
        audit(
            s,
            who.name,
            "rule.created",
            "rule",
            row.id,
            {"tool": tool, "max_risk": max_risk, "max_amount": max_amount},
        )
        return _view(row)


def list_rules(db: Database, *, include_revoked: bool = False) -> list[dict[str, Any]]:
    with db.session() as s:
        q = select(StandingRuleRow).order_by(StandingRuleRow.created_at)
        if not include_revoked:
            q = q.where(StandingRuleRow.revoked_at.is_(None))
        return [_view(r) for r in s.scalars(q)]


def revoke_rule(db: Database, rule_id: str, who: Principal) -> None:
    with db.session() as s:
        row = s.get(StandingRuleRow, rule_id)
        if row is None:
            raise NotFound(f"no rule {rule_id}")
        row.revoked_at = row.revoked_at or utcnow()
        audit(s, who.name, "rule.revoked", "rule", rule_id, {"tool": row.tool})


def load_policy(db: Database, *, two_approvers_above: int, extra: list[StandingRule] | None = None) -> Policy:
    with db.session() as s:
        rows = s.scalars(select(StandingRuleRow).where(StandingRuleRow.revoked_at.is_(None))).all()
        rules = [
            StandingRule(
                tool=r.tool,
                approved_by=r.approved_by,
                max_risk=r.max_risk,  # type: ignore[arg-type]
                max_amount=r.max_amount,
                roles=tuple(r.roles or ()),
                id=r.id,
            )
            for r in rows
        ]
    return Policy([*rules, *(extra or [])], two_approvers_above=two_approvers_above)


def _view(r: StandingRuleRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "tool": r.tool,
        "max_risk": r.max_risk,
        "max_amount": r.max_amount,
        "roles": r.roles,
        "description": r.description,
        "approved_by": r.approved_by,
        "created_at": r.created_at.isoformat(),
        "revoked": r.revoked_at is not None,
    }
