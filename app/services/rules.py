"""Standing rules: a person's approval, given once, for a narrow kind of write.

Only admins create or revoke them, through the API or CLI; no tool exists that
touches them, so a model (or text it reads) cannot grant itself one. A rule may
bound the arguments it allows with a JSON Schema (`arguments_schema`); it is
checked when the rule is made: a valid schema for an object that names every
argument it allows, each bounded (an enum or const, a maximum, a pattern or
maxLength, a bounded list). Values the run holds as facts or its classifier chose
run within those bounds; a value the model chose runs only where the schema lists
the allowed values (enum, const).
A value from outside text never runs under any rule (app/agent/provenance.py).
"""

from __future__ import annotations

from typing import Any, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy import Table, select

from app.agent.policy import Policy, StandingRule
from app.services.auth import ROLES, Principal
from app.services.errors import Invalid, NotFound
from app.store.db import Database
from app.store.direct import execute, prepared
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
    arguments_schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if arguments_schema is not None:
        check_arguments_schema(arguments_schema)
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
            arguments_schema=arguments_schema,
        )
        s.add(row)
        s.flush()
        audit(
            s,
            who.name,
            "rule.created",
            "rule",
            row.id,
            {
                "tool": tool,
                "max_risk": max_risk,
                "max_amount": max_amount,
                "arguments_schema": arguments_schema,
            },
        )
        return _view(row)


def list_rules(db: Database, *, include_revoked: bool = False) -> list[dict[str, Any]]:
    with db.read() as s:
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


# Read at the start of every pass of every run: built once on the table, a plain Core statement
# the driver can be given (app.store.direct).
_RULES = cast(Table, StandingRuleRow.__table__)
_IN_FORCE = prepared(
    select(
        _RULES.c.id,
        _RULES.c.tool,
        _RULES.c.approved_by,
        _RULES.c.max_risk,
        _RULES.c.max_amount,
        _RULES.c.roles,
        _RULES.c.arguments_schema,
    ).where(_RULES.c.revoked_at.is_(None))
)


def load_policy(
    db: Database,
    *,
    two_approvers_above: int,
    extra: list[StandingRule] | None = None,
    trusted_domains: tuple[str, ...] = (),
) -> Policy:
    with db.reading() as c:
        rows = execute(c, _IN_FORCE).all()
        rules = [
            StandingRule(
                tool=r.tool,
                approved_by=r.approved_by,
                max_risk=r.max_risk,  # type: ignore[arg-type]
                max_amount=r.max_amount,
                roles=tuple(r.roles or ()),
                id=r.id,
                arguments_schema=r.arguments_schema,
            )
            for r in rows
        ]
    return Policy(
        [*rules, *(extra or [])], two_approvers_above=two_approvers_above, trusted_domains=trusted_domains
    )


def _view(r: StandingRuleRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "tool": r.tool,
        "max_risk": r.max_risk,
        "max_amount": r.max_amount,
        "roles": r.roles,
        "arguments_schema": r.arguments_schema,
        "description": r.description,
        "approved_by": r.approved_by,
        "created_at": r.created_at.isoformat(),
        "revoked": r.revoked_at is not None,
    }


_FIELD = "arguments_schema"


def check_arguments_schema(schema: Any) -> None:
    """A rule's argument schema must be valid and bound every argument it lets through."""
    if not isinstance(schema, dict):
        raise Invalid("arguments_schema must be a JSON Schema object", field=_FIELD)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "(root)"
        raise Invalid(
            f"arguments_schema is not a valid JSON Schema at {where}: {exc.message}", field=_FIELD
        ) from None
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        raise Invalid(
            'arguments_schema must be {"type": "object", "additionalProperties": false, "properties": {...}}: '
            "a rule names every argument it allows",
            field=_FIELD,
        )
    if "patternProperties" in schema:  # what a pattern matches is not "additional": any would pass
        raise Invalid(
            "arguments_schema may not use patternProperties: a rule names every argument it allows "
            "in properties",
            field=_FIELD,
        )
    if (keyword := elsewhere(schema)) is not None:
        raise Invalid(
            f"arguments_schema may not use {keyword}: the bounds checked here must be the ones the "
            "rule is validated with (JSON Schema 2020-12, written out in place)",
            field=_FIELD,
        )
    for name, sub in (schema.get("properties") or {}).items():
        if (why := _unbounded(sub)) is not None:
            raise Invalid(f"arguments_schema: property '{name}' is not bounded: {why}", field=_FIELD)


DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Keywords that read part of a schema in another dialect (a subschema's own `$schema` makes the
# validator apply, say, draft 4, which has no `const`) or from somewhere else (a reference): the
# bounds `_unbounded` checks would then not be the ones that apply.
ELSEWHERE = frozenset(
    {
        "$schema",
        "$id",
        "$ref",
        "$dynamicRef",
        "$dynamicAnchor",
        "$anchor",
        "$recursiveRef",
        "$recursiveAnchor",
        "$vocabulary",
        "$defs",
        "definitions",
    }
)
DATA = frozenset({"enum", "const", "default", "examples"})  # values, not schemas: not walked


def elsewhere(schema: Any, at: str = "") -> str | None:
    """The first dialect or reference keyword in `schema` (`$schema` at its root only as 2020-12),
    as `path/keyword`, or None."""
    if isinstance(schema, list):
        return next((w for i, x in enumerate(schema) if (w := elsewhere(x, f"{at}{i}/")) is not None), None)
    if not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        if key in ELSEWHERE and not (at == "" and key == "$schema" and value == DIALECT):
            return f"{at}{key}"
        if key not in DATA and (found := elsewhere(value, f"{at}{key}/")) is not None:
            return found
    return None


def _unbounded(sub: Any) -> str | None:
    if not isinstance(sub, dict):
        return "false/true is not a bound; give it a schema"
    if "enum" in sub or "const" in sub:
        return None
    kind = sub.get("type")
    if kind == "boolean" or kind == "null":
        return None
    if kind in ("integer", "number"):
        return (
            None
            if ("maximum" in sub or "exclusiveMaximum" in sub)
            else "give a number a maximum (or an enum)"
        )
    if kind == "string":
        return (
            None
            if ("pattern" in sub or "maxLength" in sub)
            else "give a string an enum, a pattern or a maxLength"
        )
    if kind == "array":
        if "maxItems" not in sub:
            return "give a list a maxItems"
        return _unbounded(sub.get("items")) if "items" in sub else "give a list's items a schema"
    return "give it a type with a bound (enum, const, maximum, pattern, maxLength, maxItems)"
