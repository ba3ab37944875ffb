"""Presentation helpers: how times, money, tool arguments and run steps read to a person.

Pure functions of view dicts (no database, no request), so templates stay
declarative and these can be tested on their own.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from app.text import INVISIBLE
from connectors.base import Money
from connectors.currency import major_text

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "INR": "₹"}


# -- times -------------------------------------------------------------------------------------------
def as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def reltime(value: Any, now: datetime | None = None) -> str:
    """'just now', '5 min ago', 'in 3 h', 'yesterday', or a date for anything older than a week."""
    dt = as_datetime(value)
    if dt is None:
        return "—"
    now = now or datetime.now(UTC)
    seconds = (now - dt).total_seconds()
    future = seconds < 0
    s = abs(seconds)
    if s < 45:
        return "just now" if not future else "in a moment"
    if s < 3600:
        text = f"{max(1, round(s / 60))} min"
    elif s < 86400:
        text = f"{round(s / 3600)} h"
    elif s < 2 * 86400 and not future:
        return "yesterday"
    elif s < 7 * 86400:
        text = f"{round(s / 86400)} days"
    else:
        return dt.strftime("%-d %b %Y")
    return f"in {text}" if future else f"{text} ago"


def timetag(value: Any) -> Markup:
    """A <time> element: relative text, absolute time on hover; app.js keeps the text fresh."""
    dt = as_datetime(value)
    if dt is None:
        return Markup('<span class="muted">—</span>')
    iso = dt.isoformat()
    title = dt.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup(f'<time datetime="{escape(iso)}" title="{title}">{escape(reltime(dt))}</time>')


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# -- numbers and money -----------------------------------------------------------------------------
def money(minor: Any, currency: str | None = "USD") -> str:
    """Minor units → '$12.34' / '¥1,200' / '5,000 XOF' / '5.120 KWD', with the currency's decimals."""
    cur = (currency or "USD").upper()
    try:
        amount = int(minor)
    except (TypeError, ValueError):
        return str(minor)
    text = major_text(amount, cur, grouped=True)
    if cur in SYMBOLS:
        sign = "-" if amount < 0 else ""
        return f"{sign}{SYMBOLS[cur]}{text.lstrip('-')}"
    return f"{text} {cur}"


def amount(value: Any) -> str:
    """A decimal amount as written in a ledger: 1,234.50."""
    try:
        return f"{float(value):,.2f}"
    except (TypeError, ValueError):
        return str(value) if value is not None else ""


def usd(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    if v == 0:
        return "$0"
    return f"${v:.4f}" if v < 0.01 else f"${v:,.2f}"


def compact(n: Any) -> str:
    try:
        v = float(n)
    except (TypeError, ValueError):
        return "—"
    if abs(v) >= 1_000_000:
        return f"{v / 1_000_000:.1f}M"
    if abs(v) >= 10_000:
        return f"{v / 1000:.0f}k"
    if abs(v) >= 1000:
        return f"{v / 1000:.1f}k"
    return f"{v:.0f}" if v == int(v) else f"{v:.1f}"


def nice_max(value: Any, integer: bool = False) -> float:
    """The top of a chart axis: the next 1, 2, 2.5 or 5 × 10ⁿ at or above `value` (1 for nothing).

    For counts (`integer`), the top and its half are whole numbers: 1, 2, 4, 6, 8, 10, 20, 40…
    """
    try:
        v = float(value or 0)
    except (TypeError, ValueError):
        v = 0.0
    if v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    steps = (1, 2, 4, 6, 8, 10) if integer else (1, 2, 2.5, 5, 10)
    for m in steps:
        if v <= m * mag * (1 + 1e-9):
            return m * mag
    return 10 * mag


def inline_args(arguments: Any, limit: int = 90) -> str:
    """`ticket_id=2, query="refund"` — a tool call's arguments on one short line."""
    if not isinstance(arguments, dict):
        return ""
    parts = []
    for k, v in arguments.items():
        text = json.dumps(v, ensure_ascii=False, default=str)
        parts.append(f"{k}={text if len(text) <= 40 else text[:37] + '…'}")
    line = ", ".join(parts)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def pairs(rows: list[dict[str, Any]], label: str, value: str) -> list[tuple[Any, Any]]:
    return [(r.get(label), r.get(value)) for r in rows]


def now_utc() -> datetime:
    return datetime.now(UTC)


def pretty(value: Any) -> str:
    """JSON for people: indented; a string holding JSON is parsed first."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def short_id(value: str | None) -> str:
    return (value or "")[:8]


# -- tool arguments, readably ----------------------------------------------------------------------
# What an action's arguments show comes from its recorded effects (`Effects.summary`): what the
# tool declares it does (money, a message) and which arguments say so. The amount shown is the
# one the gate assessed; an operation's name decides nothing.
TEXT_KEYS = ("body", "text", "message", "comment", "content")  # long text in the edit form
TARGET_KEYS = ("ticket_id", "issue_id", "invoice_id", "id")
AUDIENCE = {
    "public": "the customer will read this",
    "internal": "only agents see it",
    "team": "colleagues read it",
}


def humanize(name: str) -> str:
    return name.replace("__", " · ").replace("_", " ").strip().capitalize()


def _first(args: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for k in keys:
        if k in args and args[k] not in (None, ""):
            return k, args[k]
    return None, None


def _flat(value: Any) -> bool:
    scalar = (str, int, float, bool, type(None))
    return isinstance(value, scalar) or (
        isinstance(value, list) and all(isinstance(v, scalar) for v in value)
    )


def _major(minor: int | None, currency: Any) -> str:
    """Minor units as a ledger writes them: 12050 → '120.50' (in JPY, 12050 → '12,050')."""
    return "" if minor is None else major_text(minor, currency, grouped=True)


def _declared_money(declared: dict[str, Any]) -> Money | None:
    fields = declared.get("money")
    if not isinstance(fields, dict):
        return None
    with contextlib.suppress(TypeError):
        return Money(**fields)
    return None


def _amount_text(money_fx: dict[str, Any], declared: Money | None, args: dict[str, Any]) -> str:
    """The amount the gate assessed, as a person reads it."""
    minor, currency = money_fx.get("amount"), money_fx.get("currency")
    if minor is not None:
        return money(minor, currency)
    if declared is None:
        return "not stated"
    if declared.amount is None:
        return "priced when bought"
    stated = args.get(declared.amount)
    if stated is not None:
        return f"not a valid amount: {json.dumps(stated, ensure_ascii=False, default=str)}"
    if declared.source is not None:
        left = money_fx.get("left")
        return "full amount" + (f" ({money(left, currency)} left)" if isinstance(left, int) else "")
    return "not stated"


def _money_view(
    args: dict[str, Any], money_fx: dict[str, Any], declared: Money | None, target: str | None
) -> dict[str, Any]:
    if declared is not None and declared.lines is not None:
        return _journal_view(args, money_fx, declared)
    used = {f for f in (declared.amount, declared.currency, declared.source) if f} if declared else set()
    source_field = declared.source if declared else None
    return {
        "kind": "money",
        "target": target,
        "amount": _amount_text(money_fx, declared, args),
        "owner": money_fx.get("owner"),
        "source_label": humanize(source_field.removesuffix("_id")) if source_field else None,
        "source": money_fx.get("source"),
        "extra": {k: v for k, v in args.items() if k not in used and v is not None},
    }


def _journal_view(args: dict[str, Any], money_fx: dict[str, Any], declared: Money) -> dict[str, Any]:
    """Lines in the declared field; the declared amount (and counter) fields as the money columns."""
    assert declared.lines is not None
    raw = args.get(declared.lines)
    lines = [x for x in raw if isinstance(x, dict)] if isinstance(raw, list) else []
    sides = [f for f in (declared.amount, declared.counter) if f]
    columns = list(dict.fromkeys(k for line in lines for k in line if k not in sides))
    total, currency = money_fx.get("amount"), money_fx.get("currency")

    def cell(value: Any) -> str:
        if value is None or value == 0:
            return ""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return str(value)
        return amount(value) if declared.major_units else _major(int(value), currency)

    counter_total = None
    if declared.counter is not None:
        counter_total = replace(declared, amount=declared.counter).minor_amount(args)
    return {
        "kind": "journal",
        "columns": [humanize(c) for c in columns],
        "sides": [humanize(f) for f in sides],
        "rows": [
            {"cells": [line.get(c, "") for c in columns], "sides": [cell(line.get(f)) for f in sides]}
            for line in lines
        ],
        "totals": [_major(total, currency), _major(counter_total, currency)][: len(sides)],
        "balanced": None if declared.counter is None else (total is not None and total == counter_total),
        "currency": currency,
        "extra": {k: v for k, v in args.items() if k not in (declared.lines, declared.currency)},
    }


def _message_view(
    args: dict[str, Any],
    message: dict[str, Any],
    declared: dict[str, Any],
    tkey: str | None,
    target: str | None,
) -> dict[str, Any] | None:
    fields = [f for f in declared.get("text") or [] if isinstance(args.get(f), str)]
    if not fields:
        return None
    *heads, body = fields
    audience = message.get("audience") or "public"
    return {
        "kind": "text",
        "target": target,
        "subject": " · ".join(args[f] for f in heads) or None,
        "text": args[body],
        "audience": audience,
        "audience_title": AUDIENCE.get(audience, ""),
        "public": audience == "public",
        "extra": {
            k: v
            for k, v in args.items()
            if k not in (*fields, tkey, declared.get("public_flag")) and v is not None
        },
    }


def _changes_view(args: dict[str, Any], tkey: str | None, target: str | None) -> dict[str, Any]:
    changes = []
    for k, v in args.items():
        if k == tkey or v is None:
            continue
        if isinstance(v, list) and k.startswith("add"):
            changes.append({"field": humanize(k.removeprefix("add_")), "op": "add", "value": v})
        elif isinstance(v, list) and k.startswith("remove"):
            changes.append({"field": humanize(k.removeprefix("remove_")), "op": "remove", "value": v})
        else:
            changes.append({"field": humanize(k), "op": "set", "value": v})
    return {"kind": "changes", "target": target, "changes": changes}


def argument_view(arguments: dict[str, Any], effects: dict[str, Any] | None = None) -> dict[str, Any]:
    """How an action's arguments read, from its recorded effects: money (an amount, or a journal's
    lines), a message with its audience, else field changes when every value is plain, else JSON."""
    args = arguments or {}
    fx = effects or {}
    recorded = fx.get("declared")
    declared: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    tkey, target = _first(args, TARGET_KEYS)
    target_label = (
        f"{tkey.removesuffix('_id').replace('_', ' ')} #{target}" if tkey and tkey != "id" else None
    )
    if isinstance(fx.get("money"), dict):
        return _money_view(args, fx["money"], _declared_money(declared), target_label)
    if isinstance(fx.get("message"), dict) and isinstance(declared.get("message"), dict):
        view = _message_view(args, fx["message"], declared["message"], tkey, target_label)
        if view is not None:
            return view
    if args and all(_flat(v) for v in args.values()):
        view = _changes_view(args, tkey, target_label)
        payee = declared.get("payee")
        if isinstance(payee, str) and isinstance(fx.get("payee"), dict):  # where money is paid from now on
            view["changes"] = [c for c in view["changes"] if c["field"] != humanize(payee)]
            view["payee"] = {"field": humanize(payee), "account": fx["payee"].get("account")}
        return view
    return {"kind": "json", "target": target_label, "json": pretty(args)}


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Fields an approver changed: [{field, from, to}]."""
    return [
        {"field": k, "from": before.get(k), "to": after.get(k)}
        for k in sorted(set(before or {}) | set(after or {}))
        if (before or {}).get(k) != (after or {}).get(k)
    ]


def result_ids(result: Any) -> list[tuple[str, Any]]:
    """The external system's ids in a write's result (comment_id, audit_id, ticket_id, refund id...)."""
    data = result.get("data") if isinstance(result, dict) and "data" in result else result
    if not isinstance(data, dict):
        return []
    return [
        (k, v)
        for k, v in data.items()
        if (k == "id" or k.endswith("_id")) and isinstance(v, str | int) and not isinstance(v, bool)
    ]


# -- the edit form: fields from the tool's JSON Schema ---------------------------------------------
def _unwrap(prop: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Strip `anyOf: [X, null]` (how pydantic spells Optional); returns (X, nullable)."""
    options = prop.get("anyOf") or prop.get("oneOf")
    if isinstance(options, list):
        real = [o for o in options if o.get("type") != "null"]
        if len(real) == 1:
            return {**real[0], **{k: v for k, v in prop.items() if k not in ("anyOf", "oneOf")}}, True
    t = prop.get("type")
    if isinstance(t, list) and "null" in t:
        rest = [x for x in t if x != "null"]
        return {**prop, "type": rest[0] if len(rest) == 1 else rest}, True
    return prop, False


def form_fields(schema: dict[str, Any] | None, arguments: dict[str, Any]) -> list[dict[str, Any]] | None:
    """One field per schema property, typed for its widget; None when no schema (edit as raw JSON)."""
    if not schema or not isinstance(schema.get("properties"), dict):
        return None
    required = set(schema.get("required") or [])
    fields = []
    for name, raw in schema["properties"].items():
        prop, nullable = _unwrap(raw if isinstance(raw, dict) else {})
        t = prop.get("type")
        value = arguments.get(name)
        field: dict[str, Any] = {
            "name": name,
            "label": humanize(name),
            "required": name in required,
            "description": prop.get("description") or "",
            "nullable": nullable,
        }
        if "enum" in prop:
            field.update(widget="select", options=[str(o) for o in prop["enum"]], value=value)
        elif t == "boolean":
            default = prop.get("default", False)
            field.update(widget="checkbox", value=bool(default if value is None else value))
        elif t in ("integer", "number"):
            field.update(widget="number", step="1" if t == "integer" else "any", value=value, type=t)
        elif t == "string":
            long = name in TEXT_KEYS or (isinstance(value, str) and ("\n" in value or len(value) > 80))
            field.update(widget="textarea" if long else "text", value=value)
        elif t == "array" and (prop.get("items") or {}).get("type") == "string":
            field.update(widget="tags", value=", ".join(map(str, value)) if isinstance(value, list) else "")
        else:
            field.update(widget="json", value=pretty(value) if value is not None else "")
        fields.append(field)
    return fields


_MISSING = object()  # a field left out of the arguments (no error: an optional field left blank)


def _json_arguments(form: dict[str, list[str]]) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The raw JSON editor, for a tool whose schema has no form."""
    raw = (form.get("arguments_json") or [""])[-1]
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return None, {"arguments_json": f"not valid JSON: {exc}"}
    if not isinstance(value, dict):
        return None, {"arguments_json": "must be a JSON object"}
    return value, {}


def _number(f: dict[str, Any], raw: str) -> Any:
    whole = f.get("type") == "integer"
    try:
        return int(raw) if whole else float(raw)
    except ValueError:
        raise ValueError(f"{f['label']} must be a {'whole ' if whole else ''}number") from None


def _json_value(f: dict[str, Any], raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{f['label']} is not valid JSON: {exc}") from None


# How each widget's text becomes a value; ValueError carries the message the person sees.
_PARSERS: dict[str, Any] = {
    "number": _number,
    "tags": lambda f, raw: [t.strip() for t in raw.split(",") if t.strip()],
    "json": _json_value,
}


def _field_value(f: dict[str, Any], values: list[str] | None, original: dict[str, Any]) -> Any:
    """The value of one form field, or _MISSING; ValueError with a message for a bad one."""
    name, widget = f["name"], f["widget"]
    if widget == "checkbox":  # an unticked box sends nothing: keep what it was
        if values:
            return values[-1] == "true"
        return original.get(name, _MISSING)
    raw = (values or [""])[-1]
    raw = raw.replace("\r\n", "\n") if widget == "textarea" else raw.strip()
    if not raw.strip():
        if f["required"]:
            raise ValueError(f"{f['label']} is required")
        return _MISSING
    parse = _PARSERS.get(widget)
    return parse(f, raw) if parse is not None else raw


def parse_form(
    fields: list[dict[str, Any]] | None, form: dict[str, list[str]], original: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Arguments from the submitted edit form, and per-field errors (the schema checks the rest)."""
    if fields is None:
        return _json_arguments(form)
    errors: dict[str, str] = {}
    args: dict[str, Any] = {}
    for f in fields:
        try:
            value = _field_value(f, form.get(f"f_{f['name']}"), original)
        except ValueError as exc:
            errors[f["name"]] = str(exc)
            continue
        if value is not _MISSING:
            args[f["name"]] = value
    # keep arguments the schema does not describe (the service's validation decides about them)
    known = {f["name"] for f in fields}
    for k, v in original.items():
        if k not in known:
            args[k] = v
    return (None if errors else args), errors


# -- the run trace -----------------------------------------------------------------------------------
def timeline(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's steps, each with what a person needs to read it; gate decisions carry their action."""
    actions = list(run.get("actions") or [])
    by_id = {a["id"]: a for a in actions}
    used: set[str] = set()

    def match(tool: str, arguments: Any) -> dict[str, Any] | None:
        for a in actions:
            if a["id"] not in used and a["tool"] == tool and a["proposed_arguments"] == arguments:
                used.add(a["id"])
                return a
        return None

    out = []
    for step in run.get("steps") or []:
        data = step.get("data") or {}
        entry: dict[str, Any] = {"step": step, "kind": step["kind"], "data": data}
        if step["kind"] == "model_call":
            response = data.get("response") or {}
            request = data.get("request") or {}
            content = response.get("content") or ""
            output = response.get("output")
            if content.lstrip().startswith("{"):
                with contextlib.suppress(ValueError):  # structured JSON text: show it as output, not prose
                    parsed, content = json.loads(content), ""
                    output = output if output is not None else parsed
            entry.update(
                content=content,
                output=output,
                tool_calls=response.get("tool_calls") or [],
                stop_reason=response.get("stop_reason"),
                request=request,
            )
        elif step["kind"] == "tool_call":
            entry.update(
                tool=data.get("tool"),
                effect=data.get("effect"),
                arguments=data.get("arguments"),
                result=pretty(data.get("result", "")),
                is_error=bool(data.get("is_error")),
                action=by_id.get(data.get("action_id") or ""),
                edited=data.get("proposed_arguments") not in (None, data.get("arguments")),
            )
        elif step["kind"] == "decision":
            action = match(data.get("tool", ""), data.get("arguments"))
            # What the proposed arguments do: as recorded with the decision, or (a step from before
            # decisions kept them) the action's, while its arguments are still the proposed ones.
            effects = data.get("effects")
            if effects is None and action is not None and not action.get("edited"):
                effects = action.get("effects")
            entry.update(
                tool=data.get("tool"),
                risk=data.get("risk"),
                reasons=data.get("reasons") or [],
                needs_approval=data.get("needs_approval"),
                arguments=data.get("arguments"),
                action=action,
                effects=effects,
            )
        elif step["kind"] == "error":
            entry.update(error=data.get("error"))
        out.append(entry)
    return out


_FENCE_TAG = re.compile(r"</?untrusted_data\b[^>]*>")


def _marker(m: re.Match[str]) -> str:
    return f"⟨U+{ord(m.group()):04X}⟩"


def visible(value: Any) -> Any:
    """Every value a page shows, as it is written: invisible and direction-changing characters
    become a visible ⟨U+202E⟩ marker, so attacker text cannot paint one customer, account or
    amount as another. Markup (made by the templates themselves) passes as it is."""
    if isinstance(value, str) and not isinstance(value, Markup) and INVISIBLE.search(value):
        return INVISIBLE.sub(_marker, value)
    return value


def web_link(url: Any) -> bool:
    """Whether `url` may be a link on a page: http(s) to a host. A draft's source URL is written
    by the model, which read the ticket: a `javascript:` or `data:` URL is shown as text, and so
    is one a browser would read otherwise than `host` does (a backslash is a slash to a browser:
    `https://evil.example\\@help.example/` opens evil.example), or one with spaces or controls."""
    if not isinstance(url, str):
        return False
    text = url.strip()
    if "\\" in text or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        return False
    try:
        parts = urlsplit(text)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a netloc that normalises to delimiters (a fullwidth @): text
        return False


def host(url: Any) -> str:
    """The host a link opens, shown beside its title so a title cannot pass for another site."""
    try:
        return urlsplit(str(url).strip()).hostname or ""
    except ValueError:
        return ""


def plain(text: Any) -> str:
    """Text for people: the <untrusted_data> fences that mark outside text for a model are dropped."""
    return _FENCE_TAG.sub("", str(text or "")).strip()


def confidence(value: Any) -> str:
    """0.873 → '87%'."""
    try:
        return f"{float(value):.0%}"
    except (TypeError, ValueError):
        return "—"
