"""How a workflow's steps run: templates, loops over a list, checks, and the stop for a person.

One engine serves a real run (each call through the run's gate: reads run, writes wait
for approval) and a dry run (reads run, writes are only described). A step may run once
per element of a list (`each`), and may `check` what it read: a failed check stops the
chain, and the spec's `on_problem` steps (a ticket for a person) run with the problem.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.text import digits
from connectors.currency import major_text


def _pick(value: Any, *keys: str) -> Any:
    """`line_items | map('pick', 'sku', 'quantity') | list`: only these keys of each object."""
    return {k: value.get(k) for k in keys} if isinstance(value, dict) else value


def _major(minor: Any, currency: Any = None) -> str:
    """`event.amount | major(event.currency)`: minor units (Stripe's) written in major units with
    the currency's decimals: 4599 USD → '45.99', 5000 JPY → '5000'."""
    return major_text(int(minor or 0), currency)


_env = ImmutableSandboxedEnvironment(autoescape=False)
_env.filters["pick"] = _pick
_env.filters["major"] = _major


class TemplateError(ValueError):
    """A template that does not fit the event (a typo, a field the event lacks)."""


class Unknowable(Exception):
    """A template or check asked a question of a value not known yet (in a dry run, the result
    of a write that is not made): what the run would do from there cannot be shown."""


def render(value: Any, context: dict[str, Any]) -> Any:
    """Fill argument templates (sandboxed). A value that is one `{{ expression }}` keeps its
    type (a number, a list of objects); anything else renders as text."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        whole = value.strip()
        try:
            if whole.startswith("{{") and whole.endswith("}}") and whole.count("{{") == 1:
                return _env.compile_expression(whole[2:-2].strip())(**context)
            return _env.from_string(value).render(**context)
        except Unknowable:
            raise
        except Exception as exc:  # jinja raises many kinds; all mean the same to a person
            raise TemplateError(f"{value!r}: {exc}") from None
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


def field(scope: Any, path: str) -> Any:
    """`event.line_items.0.sku` read from nested dicts and lists; None where it is missing."""
    node = scope
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and digits(part.lstrip("-")) and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except (TypeError, ValueError):
        return None


def holds(actual: Any, op: str, expected: Any) -> bool:
    if op == "equals":
        return bool(actual == expected)
    if op == "not_equals":
        return bool(actual != expected)
    if op == "contains":
        return str(expected).lower() in str(actual or "").lower()
    if op == "is_set":
        return actual not in (None, "", [], {})
    a, b = _number(actual), _number(expected)
    if a is None or b is None:
        return False
    return {"greater_than": a > b, "less_than": a < b, "at_least": a >= b, "at_most": a <= b}.get(op, False)


@dataclass
class Outcome:
    """What one call gave: data (None for a write not made), error flag, text for people."""

    data: Any
    is_error: bool = False
    text: str = ""


# call(key, tool name, arguments) -> Outcome, or None when the call waits for people.
Call = Callable[[str, str, dict[str, Any]], Awaitable[Outcome | None]]


class Waiting(Exception):
    """A write waits at the gate; the run resumes from its steps after the decision."""


@dataclass
class Problem:
    step: int
    text: str


async def execute(spec: dict[str, Any], event: dict[str, Any], call: Call) -> dict[str, Any]:
    """Run the spec's steps for one event. Raises Waiting when a write waits for approval."""
    results: list[dict[str, Any]] = []
    for i, step in enumerate(spec["steps"]):
        context = {"event": event, "steps": results}
        items: list[Any] = [None]
        if step.get("each"):
            listed = field(context, step["each"])
            if not isinstance(listed, list):
                return await _stop(
                    spec, event, results, Problem(i, f"step {i}: {step['each']} is not a list"), call
                )
            items = listed
        datas: list[Any] = []
        for n, item in enumerate(items):
            scope = {**context, "item": item}
            try:
                arguments = render(step["arguments"], scope)
            except TemplateError as exc:
                return await _stop(
                    spec, event, results, Problem(i, f"step {i}: cannot fill its arguments: {exc}"), call
                )
            key = f"step{i}" if not step.get("each") else f"step{i}/{n}"
            outcome = await call(key, step["tool"], arguments)
            if outcome is None:
                raise Waiting(key)
            if outcome.is_error:
                return {"stopped_at": i, "reason": outcome.text[:500], "steps": len(results)}
            datas.append(outcome.data)
            for check in step.get("check") or []:
                found = {**scope, "result": outcome.data}
                try:
                    expected = render(check["value"], found)
                except TemplateError as exc:
                    expected, check = None, {**check, "problem": str(exc)}
                if not holds(field(found, check["field"]), check["op"], expected):
                    try:
                        text = str(render(check.get("problem") or "", found)) or (
                            f"{check['field']} {check['op']} {expected!r} did not hold"
                        )
                    except TemplateError:
                        text = f"{check['field']} {check['op']} {expected!r} did not hold"
                    results.append({"result": datas if step.get("each") else outcome.data})
                    return await _stop(spec, event, results, Problem(i, text), call)
        results.append({"result": datas if step.get("each") else datas[0]})
    return {"steps": len(results)}


async def _stop(
    spec: dict[str, Any], event: dict[str, Any], results: list[dict[str, Any]], problem: Problem, call: Call
) -> dict[str, Any]:
    """The chain stops here; the spec's on_problem steps hand it to a person."""
    handed: list[Any] = []
    for j, step in enumerate(spec.get("on_problem") or []):
        scope = {"event": event, "steps": results, "problem": problem.text}
        try:
            arguments = render(step["arguments"], scope)
        except TemplateError as exc:
            return {"stopped_at": problem.step, "problem": problem.text, "handover_error": str(exc)}
        outcome = await call(f"problem{j}", step["tool"], arguments)
        if outcome is None:
            raise Waiting(f"problem{j}")
        handed.append(outcome.data)
    return {"stopped_at": problem.step, "problem": problem.text, "handed_over": len(handed)}
