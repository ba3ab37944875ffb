"""Multi-step chat plans for the question shapes the offline model knows.

Each shape is a small plan over the tools the request offers: read, read what the
first read pointed to, then answer from what came back. A plan returns the next
tool calls, or the answer; `plan` returns None when no shape fits, and the
single-step planner (planner.py) takes over. The shapes:

- who is EMAIL: the help desk, CRM and payment records of one person;
- charges / refunds of EMAIL: their charges, what was refunded and disputed;
- open disputes: every dispute, with the order it is about;
- tickets from customers with a dispute: disputes -> charges -> customers -> their tickets;
- deals of EMAIL: the CRM contact's deals;
- tracker issues about X: an issue search;
- refund requests (EMAIL and an order, or "duplicate"): find the charge, propose the refund;

Answers quote only what the tools returned. What the tools cannot tell (a ticket's
requester's email, a customer known only by name) is said plainly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.llm.base import Message, ModelResponse, ToolCall, ToolSpec
from app.llm.local.replies import duplicate_charge, money

SEARCH_TOOL = "search_tools"  # the tool that finds tools a request did not offer
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
ORDER = re.compile(r"\bNW-\d{4,6}\b")
_WHO = re.compile(r"\b(who\s+is|who'?s|tell me about|what do we know about|look\s*up|lookup)\b", re.I)
_CHARGES = re.compile(r"\b(charges?|charged|paid|pay for|billed|payments?)\b", re.I)
_REFUNDED = re.compile(r"\b(refunded|anything refunded|been refunded)\b", re.I)
_DISPUTE = re.compile(r"\b(disputes?|disputed|chargebacks?)\b", re.I)
_TICKETS = re.compile(r"\b(tickets?|written to support|support tickets?)\b", re.I)
_DEALS = re.compile(r"\bdeals?\b", re.I)
_TRACKER = re.compile(r"\b(tracker|issue|bug|engineering)\b", re.I)
_REFUND_ASK = re.compile(r"^\s*(please\s+)?refund\b", re.I)
_DUPLICATE = re.compile(r"\b(duplicate|second|double|twice)\b", re.I)


@dataclass
class Turn:
    """One chat turn so far: the question, the tools, and every result keyed by operation."""

    message: str
    tools: list[ToolSpec]
    calls: list[ToolCall]
    results: dict[str, Message]
    ids: int
    # Operations a step wanted that the request did not offer: search_tools may find them.
    missing: list[str] = field(default_factory=list)

    def tool(self, operation: str) -> ToolSpec | None:
        return next((t for t in self.tools if t.name.rpartition("__")[2] == operation), None)

    def got(self, operation: str) -> list[tuple[dict[str, Any], Any]]:
        """(arguments, parsed result) of every successful call of `operation` this turn."""
        from app.llm.local.planner import parse_json

        out = []
        for c in self.calls:
            r = self.results.get(c.id)
            if c.name.rpartition("__")[2] == operation and r is not None and not r.is_error:
                out.append((c.arguments, parse_json(r.content)))
        return out

    def trimmed(self, operation: str) -> str | None:
        """What the run loop said when it cut a result of `operation` to fit ("the first 3 of 12
        items"), so an answer never states a count of what it could not see; None when whole."""
        for c in self.calls:
            r = self.results.get(c.id)
            if c.name.rpartition("__")[2] == operation and r is not None:
                found = _TRIMMED.search(r.content or "")
                if found is not None:
                    return found.group(1) or "only the start of the list could be read"
        return None

    def asked(self, operation: str) -> bool:
        return any(c.name.rpartition("__")[2] == operation for c in self.calls)

    def call(self, operation: str, **arguments: Any) -> ToolCall | None:
        tool = self.tool(operation)
        if tool is None:
            self.missing.append(operation)
            return None
        self.ids += 1
        return ToolCall(id=f"local_{self.ids}", name=tool.name, arguments=arguments)


def _use(calls: list[ToolCall | None], note: str = "") -> ModelResponse | None:
    real = [c for c in calls if c is not None]
    return ModelResponse(content=note, tool_calls=real, stop_reason="tool_use") if real else None


def _end(text: str) -> ModelResponse:
    return ModelResponse(content=text, stop_reason="end_turn")


def _name(d: Mapping[str, Any]) -> str:
    props = d.get("properties") if isinstance(d.get("properties"), Mapping) else d
    assert isinstance(props, Mapping)
    full = " ".join(str(props.get(k) or "") for k in ("firstname", "lastname")).strip()
    return str(d.get("name") or full or d.get("email") or "")


_CHARGE_ID = re.compile(r"\b(?:ch|py)_[A-Za-z0-9]{4,}\b")
_ORDER_NUMBER = re.compile(r"\border\s*#?\s*(\d{3,})\b", re.I)


def named_charge(message: str, charges: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The charge the message names: by its id, its order (an `NW-12345` in its metadata, or
    "order #1005" as its description says) or its description as listed (not one whose
    description is part of a longer one named). Of several named, the one not refunded; when
    all are refunded, one of them (the caller says so); None when it names none, or several
    open ones."""
    named = _named(message, charges)
    open_ = [c for c in named if not c.get("amount_refunded")]
    if len(open_) == 1:
        return open_[0]
    return named[-1] if named and not open_ else None


def _named(message: str, charges: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    text = message.lower()
    ids = set(_CHARGE_ID.findall(message))
    orders = set(ORDER.findall(message))
    numbers = set(_ORDER_NUMBER.findall(message))

    def names(c: Mapping[str, Any]) -> bool:
        desc = str(c.get("description") or "")
        return (
            c.get("id") in ids
            or (c.get("metadata") or {}).get("order_id") in orders
            or any(re.search(rf"#\s*{n}\b", desc) for n in numbers)
            or (len(desc) >= 8 and desc.lower() in text)
        )

    found = [c for c in charges if names(c)]
    # A description inside a longer one that is named too ("… membership" in "… membership
    # upgrade") is not what was named.
    found = [
        c
        for c in found
        if not any(
            o is not c
            and str(c.get("description") or "").lower() in str(o.get("description") or "").lower()
            and len(str(o.get("description") or "")) > len(str(c.get("description") or ""))
            for o in found
        )
    ]
    return found


def _charge_line(ch: Mapping[str, Any]) -> str:
    desc = str(ch.get("description") or "a charge")
    line = f"- {desc} ({ch.get('id')}): {money(ch.get('amount'), ch.get('currency'))}"
    if ch.get("amount_refunded"):
        line += f", {money(ch.get('amount_refunded'), ch.get('currency'))} refunded"
    if ch.get("disputed"):
        line += ", disputed"
    return line


def _customer(turn: Turn) -> Mapping[str, Any] | None:
    found = [d for _, d in turn.got("find_customer") if isinstance(d, Mapping)]
    return found[0] if found else None


_TRIMMED = re.compile(r"…\[trimmed to \d+ tokens of \d+(?:: (the first \d+ of \d+ items))?\]")


def _charges(turn: Turn) -> list[Mapping[str, Any]]:
    return [
        c
        for _, data in turn.got("list_charges")
        if isinstance(data, list)
        for c in data
        if isinstance(c, Mapping)
    ]


# --- shapes ---------------------------------------------------------------------------------


def who_is(turn: Turn, email: str) -> ModelResponse:
    if not any(turn.asked(op) for op in ("find_user", "find_contact", "find_customer")):
        calls = [turn.call(op, email=email) for op in ("find_user", "find_contact", "find_customer")]
        if (step := _use(calls)) is not None:
            return step
    wants_disputes = bool(_DISPUTE.search(turn.message))
    customer = _customer(turn)
    if wants_disputes and customer and not turn.asked("list_charges"):
        step = _use([turn.call("list_charges", customer_id=customer.get("id")), turn.call("list_disputes")])
        if step is not None:
            return step
    lines = []
    for _, user in turn.got("find_user"):
        if isinstance(user, Mapping):
            lines.append(f"Help desk: {_name(user)} ({user.get('email')}), {user.get('role', 'user')}.")
    for _, contact in turn.got("find_contact"):
        if isinstance(contact, Mapping):
            p = contact.get("properties") if isinstance(contact.get("properties"), Mapping) else contact
            assert isinstance(p, Mapping)
            bits = [str(p[k]) for k in ("jobtitle", "company") if p.get(k)]
            where = ", ".join(str(p[k]) for k in ("city", "country") if p.get(k))
            line = f"CRM: {_name(contact)}"
            line += f", {' at '.join(bits)}" if bits else ""
            line += f", {where}" if where else ""
            line += f" (lifecycle stage: {p['lifecyclestage']})." if p.get("lifecyclestage") else "."
            lines.append(line)
    if customer:
        address = customer.get("address") if isinstance(customer.get("address"), Mapping) else {}
        assert isinstance(address, Mapping)
        city = ", ".join(str(address[k]) for k in ("city", "country") if address.get(k))
        lines.append(
            f"Payments: customer {customer.get('id')}, {_name(customer)}" + (f", {city}." if city else ".")
        )
    if wants_disputes:
        ids = {c.get("id") for c in _charges(turn)}
        mine = [
            d
            for _, data in turn.got("list_disputes")
            if isinstance(data, list)
            for d in data
            if isinstance(d, Mapping) and d.get("charge") in ids
        ]
        lines.append(
            "Disputes: "
            + "; ".join(
                f"{money(d.get('amount'), d.get('currency'))} ({d.get('reason')}, {d.get('status')})"
                for d in mine
            )
            if mine
            else "Disputes: none on their charges."
        )
    if not lines:
        return _end(f"No system I can read knows {email}.")
    return _end("\n".join(lines))


def charges_of(turn: Turn, email: str) -> ModelResponse:
    if (
        not turn.asked("find_customer")
        and (step := _use([turn.call("find_customer", email=email)])) is not None
    ):
        return step
    customer = _customer(turn)
    if customer is None:
        return _end(f"The payment system has no customer with the email {email}.")
    if (
        not turn.asked("list_charges")
        and (step := _use([turn.call("list_charges", customer_id=customer.get("id"))])) is not None
    ):
        return step
    charges = _charges(turn)
    cut = turn.trimmed("list_charges")
    if not charges:
        if cut:
            return _end(f"{_name(customer)}'s charges were too long a list to read here: {cut}")
        return _end(f"{_name(customer)} has no charges.")
    refunded = [c for c in charges if c.get("amount_refunded")]
    head = f"{_name(customer)} has {len(charges)} charge{'s' if len(charges) != 1 else ''}:"
    if cut:
        head = f"{_name(customer)}'s charges ({cut}):"
    if _REFUNDED.search(turn.message):
        head = (
            f"{_name(customer)}: {len(refunded)} of {len(charges)} charges refunded (in full or in part):"
            if refunded
            else f"Nothing has been refunded to {_name(customer)}. Their charges:"
        )
        if cut:  # what could not be read may hold a refund: say what was read, never "nothing"
            head = f"{_name(customer)}: of the charges read ({cut}), {len(refunded)} refunded (in full or in part):"
    return _end("\n".join([head, *(_charge_line(c) for c in charges)]))


def disputes(turn: Turn) -> ModelResponse:
    if not turn.asked("list_disputes") and (step := _use([turn.call("list_disputes")])) is not None:
        return step
    found = [
        d
        for _, data in turn.got("list_disputes")
        if isinstance(data, list)
        for d in data
        if isinstance(d, Mapping)
    ]
    open_ = [d for d in found if not str(d.get("status")).startswith(("won", "lost"))]
    if (
        open_
        and not turn.asked("get_charge")
        and (step := _use([turn.call("get_charge", charge_id=d.get("charge")) for d in open_])) is not None
    ):
        return step
    charges = {c.get("id"): c for _, c in turn.got("get_charge") if isinstance(c, Mapping)}
    cut = turn.trimmed("list_disputes")
    if not open_:
        return _end(f"No open disputes among those read ({cut})." if cut else "There are no open disputes.")
    lines = [
        f"{len(open_)} open dispute{'s' if len(open_) != 1 else ''}"
        + (f" among those read ({cut}):" if cut else ":")
    ]
    for d in open_:
        ch = charges.get(d.get("charge")) or {}
        what = str(ch.get("description") or d.get("charge"))
        status = str(d.get("status"))
        lines.append(
            f"- {what}: {money(d.get('amount'), d.get('currency'))}, reason {d.get('reason')}, status {status}"
            + (" (needs a response)" if status == "needs_response" else "")
        )
    return _end("\n".join(lines))


def tickets_with_disputes(turn: Turn) -> ModelResponse:
    if not turn.asked("list_disputes") and (step := _use([turn.call("list_disputes")])) is not None:
        return step
    found = [
        d
        for _, data in turn.got("list_disputes")
        if isinstance(data, list)
        for d in data
        if isinstance(d, Mapping)
    ]
    if not found:
        return _end("No customer has a dispute, so no ticket matches.")
    if not turn.asked("get_charge"):
        step = _use([turn.call("get_charge", charge_id=d.get("charge")) for d in found])
        if step is not None:
            return step
    customers = {c.get("customer") for _, c in turn.got("get_charge") if isinstance(c, Mapping)}
    if not turn.asked("get_customer"):
        step = _use([turn.call("get_customer", customer_id=cid) for cid in sorted(c for c in customers if c)])
        if step is not None:
            return step
    people = [c for _, c in turn.got("get_customer") if isinstance(c, Mapping) and c.get("email")]
    if not turn.asked("search_tickets"):
        step = _use(
            [turn.call("search_tickets", query=f"requester:{p['email']} status<solved") for p in people]
        )
        if step is not None:
            return step
    lines = []
    for args, data in turn.got("search_tickets"):
        tickets = data if isinstance(data, list) else []
        email = str(args.get("query", "")).split(":", 1)[-1].split(" ")[0]
        person = next((_name(p) for p in people if p.get("email") == email), email)
        for t in tickets:
            if isinstance(t, Mapping):
                lines.append(
                    f'- #{t.get("id")} "{t.get("subject")}" ({t.get("status")}) from {person} ({email})'
                )
    if not lines:
        names = ", ".join(_name(p) for p in people) or "no one"
        return _end(f"Customers with a dispute: {names}. None of them has an open ticket.")
    return _end("Open tickets from customers with a disputed charge:\n" + "\n".join(lines))


def deals_of(turn: Turn, email: str) -> ModelResponse:
    if (
        not turn.asked("find_contact")
        and (step := _use([turn.call("find_contact", email=email)])) is not None
    ):
        return step
    contact = next((c for _, c in turn.got("find_contact") if isinstance(c, Mapping)), None)
    if contact is None:
        return _end(f"The CRM has no contact with the email {email}.")
    if (
        not turn.asked("list_deals")
        and (step := _use([turn.call("list_deals", contact_id=contact.get("id"))])) is not None
    ):
        return step
    deals = [
        d
        for _, data in turn.got("list_deals")
        if isinstance(data, list)
        for d in data
        if isinstance(d, Mapping)
    ]
    if not deals:
        return _end(f"{_name(contact)} has no deals in the CRM.")
    lines = [f"Deals with {_name(contact)}:"]
    for d in deals:
        p = d.get("properties") if isinstance(d.get("properties"), Mapping) else d
        assert isinstance(p, Mapping)
        lines.append(
            f"- {p.get('dealname')}: {p.get('amount')} {p.get('deal_currency_code') or ''}, stage {p.get('dealstage')}".rstrip()
        )
    return _end("\n".join(lines))


def tracker(turn: Turn) -> ModelResponse:
    from app.llm.local.planner import _keywords

    if not turn.asked("search_issues"):
        query = re.sub(
            r"\b(tracker|issue|bug|engineering|status|working|there)\b",
            " ",
            _keywords(turn.message),
            flags=re.I,
        )
        if (
            step := _use([turn.call("search_issues", query=" ".join(query.split()) or turn.message)])
        ) is not None:
            return step
    issues = [
        i
        for _, data in turn.got("search_issues")
        if isinstance(data, list)
        for i in data
        if isinstance(i, Mapping)
    ]
    if not issues:
        return _end("I found no tracker issue about that.")
    lines = []
    for i in issues[:3]:
        state = i.get("state")
        state = state.get("name") if isinstance(state, Mapping) else state
        lines.append(f'- {i.get("identifier")} "{i.get("title")}": {state}')
    return _end("Tracker issues:\n" + "\n".join(lines))


def refund_request(turn: Turn, email: str | None) -> ModelResponse:
    if email is None:
        return _end(
            "I can't find a customer by name: the payment system looks customers up by email. "
            "Tell me their email address and I'll find the charge and propose the refund for approval."
        )
    if (
        not turn.asked("find_customer")
        and (step := _use([turn.call("find_customer", email=email)])) is not None
    ):
        return step
    customer = _customer(turn)
    if customer is None:
        return _end(f"The payment system has no customer with the email {email}.")
    if (
        not turn.asked("list_charges")
        and (step := _use([turn.call("list_charges", customer_id=customer.get("id"))])) is not None
    ):
        return step
    charges = [c for c in _charges(turn) if not c.get("amount_refunded")]
    target = named_charge(turn.message, _charges(turn))
    if target is not None and target.get("amount_refunded"):
        return _end(  # the charge named was refunded (in part, perhaps): no other is proposed instead
            f"{target.get('description') or target.get('id')} ({target.get('id')}) has "
            f"{money(target.get('amount_refunded'), target.get('currency'))} of "
            f"{money(target.get('amount'), target.get('currency'))} refunded already: I proposed nothing."
        )
    if target is None and _DUPLICATE.search(turn.message):
        target = duplicate_charge(charges)
    if target is None:
        return _end(
            f"I couldn't tell which of {_name(customer)}'s charges to refund. Their charges:\n"
            + "\n".join(_charge_line(c) for c in _charges(turn))
        )
    if not turn.asked("create_refund"):
        call = turn.call("create_refund", charge_id=target.get("id"), reason="requested_by_customer")
        note = (
            f"Proposed a refund of {money(target.get('amount'), target.get('currency'))} for "
            f"{target.get('description')} ({target.get('id')}). It waits for a person's approval "
            "before any money moves."
        )
        if (step := _use([call], note)) is not None:
            return step
        return _end("I can't propose refunds here: no refund tool is available to you.")
    outcome = next(
        (r for c in turn.calls if c.name.endswith("create_refund") and (r := turn.results.get(c.id))), None
    )
    text = outcome.content if outcome is not None else ""
    return _end(
        f"Refund of {money(target.get('amount'), target.get('currency'))} for {target.get('description')}: {text[:200]}"
    )


def plan(
    message: str, tools: list[ToolSpec], calls: list[ToolCall], results: dict[str, Message], ids: int
) -> ModelResponse | None:
    """The next step for a question of a known shape, or None."""
    turn = Turn(message, tools, calls, results, ids)
    email = next(iter(EMAIL.findall(message)), None)
    shapes: list[tuple[bool, Callable[[], ModelResponse | None]]] = [
        (bool(_REFUND_ASK.search(message)), lambda: refund_request(turn, email)),
        (bool(_DISPUTE.search(message) and _TICKETS.search(message)), lambda: tickets_with_disputes(turn)),
        (bool(email and _WHO.search(message)), lambda: who_is(turn, email or "")),
        (bool(email and _DEALS.search(message)), lambda: deals_of(turn, email or "")),
        (
            bool(email and (_CHARGES.search(message) or _REFUNDED.search(message))),
            lambda: charges_of(turn, email or ""),
        ),
        (bool(_DISPUTE.search(message) and not email), lambda: disputes(turn)),
        (
            bool(_TRACKER.search(message) and not re.search(r"\bticket\s*#?\d", message, re.I)),
            lambda: tracker(turn),
        ),
    ]
    for fits, step in shapes:
        if fits:
            found = step()
            return search_for(turn.missing, tools, calls, turn.ids) or found
    return None


def search_for(
    operations: list[str], tools: list[ToolSpec], calls: list[ToolCall], ids: int
) -> ModelResponse | None:
    """A search_tools call for operations a step wanted and was not offered, once per operation."""
    search = next((t for t in tools if t.name == SEARCH_TOOL), None)
    searched = " ".join(str(c.arguments.get("query")) for c in calls if c.name == SEARCH_TOOL)
    wanted = [op.replace("_", " ") for op in dict.fromkeys(operations)]
    wanted = [w for w in wanted if w not in searched]
    if search is None or not wanted:
        return None
    found = [
        ToolCall(id=f"local_{ids + i}", name=search.name, arguments={"query": w, "limit": 3})
        for i, w in enumerate(wanted, start=1)
    ]
    return ModelResponse(content="", tool_calls=found, stop_reason="tool_use")
