"""The approval gate's policy: one place, deterministic, never steered by the model.

Every write goes through `Policy.decide`. By default it needs a person. A
standing rule that a person approved may let a named tool run at once; the
model cannot create or widen rules (they live in configuration and the store,
not in any prompt), and text inside tickets or tool results never reaches here
as anything but arguments to be checked.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from tools.base import Tool

Risk = Literal["low", "medium", "high"]
_RANK = {"low": 0, "medium": 1, "high": 2}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


@dataclass(frozen=True)
class StandingRule:
    """'Tools matching `tool` may run without asking', approved by `approved_by`."""

    tool: str
    approved_by: str
    max_risk: Risk = "low"


@dataclass
class Decision:
    needs_approval: bool
    risk: Risk
    reasons: list[str] = field(default_factory=list)
    rule: StandingRule | None = None


def _raise(risk: Risk, to: Risk) -> Risk:
    return to if _RANK[to] > _RANK[risk] else risk


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class Policy:
    def __init__(self, standing_rules: list[StandingRule] | None = None):
        self.standing_rules = list(standing_rules or [])

    def assess(
        self, tool: Tool, arguments: dict[str, Any], context: dict[str, Any]
    ) -> tuple[Risk, list[str]]:
        """Risk from the arguments checked against what the run knows (its provenance)."""
        risk: Risk = "low"
        reasons: list[str] = []
        op = tool.operation
        if ("comment" in op or "message" in op or "reply" in op) and arguments.get("public", True):
            risk = _raise(risk, "medium")
            reasons.append("sends a message a customer will read")
        known = {e.lower() for e in _strings(context.get("known_emails", []))}
        for text in _strings(arguments):
            for email in _EMAIL.findall(text):
                if known and email.lower() not in known:
                    risk = _raise(risk, "high")
                    reasons.append(f"address {email} appears nowhere in the run's context")
        ticket_id = context.get("ticket_id")
        target = arguments.get("ticket_id")
        if ticket_id is not None and target is not None and str(target) != str(ticket_id):
            risk = _raise(risk, "high")
            reasons.append(f"acts on ticket {target}, but this run is about ticket {ticket_id}")
        return risk, reasons

    def decide(self, tool: Tool, arguments: dict[str, Any], context: dict[str, Any]) -> Decision:
        risk, reasons = self.assess(tool, arguments, context)
        if not tool.is_write:
            return Decision(needs_approval=False, risk=risk, reasons=reasons)
        for rule in self.standing_rules:
            if fnmatch.fnmatchcase(tool.name, rule.tool) and _RANK[risk] <= _RANK[rule.max_risk]:
                return Decision(
                    needs_approval=False,
                    risk=risk,
                    reasons=[*reasons, f"standing rule '{rule.tool}' approved by {rule.approved_by}"],
                    rule=rule,
                )
        return Decision(needs_approval=True, risk=risk, reasons=reasons or ["writes to " + tool.connection])
