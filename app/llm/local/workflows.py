"""The local engine's workflow drafts: a rule-based reading of "when X, do Y and Z".

It recognises the events connected systems announce (a paid or new order, a dispute, a
refund, a new ticket, a chat message, a delivered parcel) or a time of day, and a set
of actions (check the payment, send to the warehouse, log on the customer in the CRM,
open a ticket, file an issue, count tickets, post in a channel). Each part of the
sentence it cannot place is listed in `not_understood`, with what it can do instead, so
nothing is dropped silently. `EXAMPLES` lists sentences it turns into workflows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

EXAMPLES = [
    "When an order is paid in the shop, check the payment, send it to the warehouse, "
    "log it on the customer in the CRM and post in #orders",
    "When a dispute opens in payments, open a ticket and post in #billing",
    "Every morning at 8, post the count of urgent open tickets to #support",
    "When a new ticket mentions a bug, file an issue in the tracker and post in #engineering",
    "When a parcel is delivered, post in #orders",
    "When a refund is issued in the shop, post in #billing",
]
ACTIONS = [
    "check the payment (stops with a ticket when it is not captured)",
    "send it to the warehouse (stock checked first; stops with a ticket when out of stock)",
    "log it on the customer in the CRM",
    "open a ticket",
    "file an issue in the tracker",
    "post the count of (urgent|high|open) tickets",
    "post in #channel",
]

TRIGGERS = (
    (re.compile(r"\border\b.*\bpaid\b|\bpaid\s+orders?\b", re.I), "shop", "orders/paid"),
    (
        re.compile(r"\b(new|incoming)\s+orders?\b|\border\b.*\b(placed|created|comes?\s+in)\b", re.I),
        "shop",
        "orders/create",
    ),
    (
        re.compile(r"\brefund\w*\b.*\b(shop|store)\b|\b(shop|store)\b.*\brefund\w*\b", re.I),
        "shop",
        "refunds/create",
    ),
    (re.compile(r"\bdisputes?\b|\bchargebacks?\b", re.I), "payments", "charge.dispute.created"),
    (re.compile(r"\brefund(ed)?\b", re.I), "payments", "charge.refunded"),
    (
        re.compile(r"\b(parcel|package|shipment)s?\b.*\b(delivered|tracking|moves?|ships?)\b", re.I),
        "warehouse",
        "track",
    ),
    (
        re.compile(
            r"\b(new|incoming)\s+tickets?\b|\btickets?\s+(is\s+)?(created|opened|comes?\s+in|arrives?)\b",
            re.I,
        ),
        "helpdesk",
        "ticket.created",
    ),
    (re.compile(r"\bmessage\b.*\b(slack|chat|channel)\b", re.I), "chat", "message"),
)
SCHEDULE = re.compile(
    r"\bevery\s+(?P<days>day|weekday|morning|evening|night)s?\b(?:\s+(?:morning|evening))?(?:\s+at\s+(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ampm>am|pm)?)?",
    re.I,
)
CHANNEL = re.compile(r"#([a-z0-9_-]+)", re.I)

SUMMARY = {
    "charge.dispute.created": "Dispute {{ event.id }} opened on charge {{ event.charge }} for {{ event.amount | major(event.currency) }} {{ (event.currency or '') | upper }} ({{ event.reason or 'no reason given' }})",
    "charge.refunded": "Charge {{ event.id }} was refunded: {{ event.amount_refunded | major(event.currency) }} {{ (event.currency or '') | upper }}",
    "ticket.created": "New ticket #{{ event.id }}: {{ event.subject }}",
    "message": "Message in {{ event.channel }}: {{ event.text }}",
    "orders/paid": "Order {{ event.name }} paid by {{ event.email }}: {{ event.total_price }} {{ event.currency }}",
    "orders/create": "New order {{ event.name }} from {{ event.email }}: {{ event.total_price }} {{ event.currency }}",
    "refunds/create": "Refund on order {{ event.order_id }}: {{ event.transactions[0].amount if event.transactions else '' }}",
    "track": "Parcel {{ event.tracking_number }}: {{ event.status_description }}",
}
# Clauses that only restate the trigger or glue ("in the shop", "then").
FILLER = re.compile(r"^(and|then|also|please|in the (shop|store)|,)?\s*$", re.I)


def _ref(i: int, path: str) -> str:
    """A placeholder for step i's result, e.g. {{ steps[2].result.id }}."""
    return "{{ steps[" + str(i) + "].result." + path + " }}"


def _by_kind(connections: list[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    """The connection of a kind a workflow uses: with several (a second help desk added to try
    one), the one configured for workflows (it has defaults), else the one named for its kind."""
    of_kind = [c for c in connections if c.get("kind") == kind]
    ranked = sorted(of_kind, key=lambda c: (not c.get("defaults"), c.get("name") != kind))
    return ranked[0] if ranked else None


def _tool(conn: Mapping[str, Any] | None, operation: str) -> str | None:
    if conn is None:
        return None
    name = f"{conn['name']}__{operation}"
    return name if any(t.get("name") == name for t in conn.get("tools") or []) else None


def _any_tool(connections: list[Mapping[str, Any]], operation: str) -> str | None:
    """The first connection (of any kind) offering `operation`, e.g. an MCP inventory's lookup_sku."""
    for conn in connections:
        if tool := _tool(conn, operation):
            return tool
    return None


def _schedule(request: str) -> dict[str, Any] | None:
    m = SCHEDULE.search(request)
    if not m:
        return None
    word = m.group("days").lower()
    hour = int(m.group("h")) if m.group("h") else {"morning": 8, "evening": 18, "night": 22}.get(word, 8)
    if (m.group("ampm") or "").lower() == "pm" and hour < 12:
        hour += 12
    if (m.group("ampm") or "").lower() == "am" and hour == 12:
        hour = 0
    schedule = {"at": f"{hour % 24:02d}:{int(m.group('m') or 0):02d}", "timezone": "UTC"}
    if word == "weekday":
        schedule["days"] = "weekdays"
    return schedule


def _clauses(text: str) -> list[str]:
    parts = re.split(r",|\band then\b|\bthen\b|\band\b", text, flags=re.I)
    return [p.strip() for p in parts if p.strip() and not FILLER.match(p.strip())]


class _Draft:
    """The spec being built; each action matcher claims the clauses it understood."""

    def __init__(self, request: str, connections: list[Mapping[str, Any]], trigger: dict[str, Any]):
        self.request, self.connections, self.trigger = request, connections, trigger
        self.event = trigger.get("event", "schedule")
        self.steps: list[dict[str, Any]] = []
        self.on_problem: list[dict[str, Any]] = []
        self.conditions: list[dict[str, Any]] = []
        self.summary = SUMMARY.get(self.event, "Scheduled run {{ event.slot }}")
        self.notes: list[str] = []  # what the chat post should mention, as templates
        self.missing: list[str] = []

    def conn(self, kind: str) -> Mapping[str, Any] | None:
        return _by_kind(self.connections, kind)

    def default(self, kind: str, operation: str, argument: str) -> Any:
        """The value a connection is configured to use for an argument (its config's "defaults")."""
        defaults = (self.conn(kind) or {}).get("defaults") or {}
        return (defaults.get(operation) or {}).get(argument)

    def requester(self, clause: str) -> str | None:
        """Who tickets a workflow opens are from, as the help desk connection is configured."""
        requester = self.default("helpdesk", "create_ticket", "requester_email")
        desk = (self.conn("helpdesk") or {}).get("name", "helpdesk")
        note = (
            f"{clause!r}: opening a ticket needs a requester; set the help desk connection {desk}'s "
            'config {"defaults": {"create_ticket": {"requester_email": ...}}}'
        )
        if not requester and note not in self.missing:
            self.missing.append(note)
        return str(requester) if requester else None

    def add(self, step: dict[str, Any]) -> int:
        self.steps.append(step)
        return len(self.steps) - 1

    def person_ticket(self) -> None:
        """When a check fails: a ticket for a person on the help desk (once)."""
        tool = _tool(self.conn("helpdesk"), "create_ticket")
        if tool and not self.on_problem and (requester := self.requester("a ticket for a person")):
            self.on_problem.append(
                {
                    "tool": tool,
                    "arguments": {
                        "subject": "Needs a person: {{ problem }}",
                        "body": self.summary
                        + ". The workflow stopped: {{ problem }}. Opened by a Switchboard workflow.",
                        "requester_email": requester,
                        "priority": "high",
                        "tags": ["workflow", "needs-person"],
                    },
                }
            )


def _check_payment(d: _Draft, clause: str) -> bool:
    if not re.search(r"\b(check|verify|confirm)\b.*\bpayment\b", clause, re.I):
        return False
    shop_pay = _tool(d.conn("shop"), "get_order_payment") if d.event.startswith("orders/") else None
    if shop_pay is None:
        d.missing.append(f"{clause!r}: checking a payment needs a shop order event and a shop connection")
        return True
    i = d.add(
        {
            "tool": shop_pay,
            "arguments": {"order_id": "{{ event.id }}"},
            "check": [
                {
                    "field": "result.paid",
                    "op": "equals",
                    "value": True,
                    "problem": "order {{ event.name }}: the payment is {{ result.kind or 'missing' }}, not captured",
                }
            ],
        }
    )
    if charge := _tool(d.conn("payments"), "get_charge"):
        d.add(
            {
                "tool": charge,
                "arguments": {"charge_id": _ref(i, "payment_reference")},
                "check": [
                    {
                        "field": "result.captured",
                        "op": "equals",
                        "value": True,
                        "problem": "order {{ event.name }}: charge {{ result.id }} is not captured",
                    },
                    {
                        "field": "result.amount_refunded",
                        "op": "equals",
                        "value": 0,
                        "problem": "order {{ event.name }}: charge {{ result.id }} was refunded",
                    },
                ],
            }
        )
    d.person_ticket()
    return True


def _warehouse(d: _Draft, clause: str) -> bool:
    if not re.search(
        r"\b(send|pass|hand)\b.*\b(warehouse|fulfil\w*|ship\w*)\b|\bfulfil\w*\b|\bship it\b", clause, re.I
    ):
        return False
    create = _tool(d.conn("warehouse"), "create_shipment")
    if create is None or not d.event.startswith("orders/"):
        d.missing.append(
            f"{clause!r}: sending to the warehouse needs a shop order event and a warehouse connection"
        )
        return True
    if lookup := _any_tool(d.connections, "lookup_sku"):
        d.add(
            {
                "tool": lookup,
                "each": "event.line_items",
                "arguments": {"sku": "{{ item.sku }}"},
                "check": [
                    {
                        "field": "result.available",
                        "op": "at_least",
                        "value": "{{ item.quantity }}",
                        "problem": "{{ item.sku }} is out of stock: {{ result.available }} available, {{ item.quantity }} ordered",
                    }
                ],
            }
        )
        d.person_ticket()
    i = d.add(
        {
            "tool": create,
            "arguments": {
                "order_number": "{{ event.order_number | string }}",
                "ship_to": {
                    "name": "{{ event.shipping_address.name }}",
                    "address_line1": "{{ event.shipping_address.address1 }}",
                    "city_locality": "{{ event.shipping_address.city }}",
                    "state_province": "{{ event.shipping_address.province_code }}",
                    "postal_code": "{{ event.shipping_address.zip }}",
                    "country_code": "{{ event.shipping_address.country_code }}",
                },
                "items": "{{ event.line_items | map('pick', 'sku', 'name', 'quantity') | list }}",
            },
        }
    )
    d.notes.append("sent to the warehouse (shipment " + _ref(i, "shipment.shipment_id") + ")")
    return True


def _crm_note(d: _Draft, clause: str) -> bool:
    if not re.search(r"\b(crm|customer record|hubspot)\b|\blog\b.*\bcustomer\b", clause, re.I):
        return False
    find, note = _tool(d.conn("crm"), "find_contact"), _tool(d.conn("crm"), "add_note")
    if not (find and note):
        d.missing.append(f"{clause!r}: logging on the customer needs a CRM connection")
        return True
    email = "{{ event.email }}" if d.event.startswith("orders/") else "{{ event.requester_email }}"
    i = d.add(
        {
            "tool": find,
            "arguments": {"email": email},
            "check": [
                {
                    "field": "result.id",
                    "op": "is_set",
                    "value": True,
                    "problem": "no CRM contact has the email " + email,
                }
            ],
        }
    )
    d.person_ticket()
    d.add({"tool": note, "arguments": {"contact_id": _ref(i, "id"), "body": d.summary + "."}})
    d.notes.append("logged in the CRM")
    return True


def _ticket(d: _Draft, clause: str) -> bool:
    if not re.search(r"\b(open|create|raise|file)\s+(a\s+)?(new\s+)?ticket", clause, re.I) or re.search(
        r"\b(count|number)\s+of\b", clause, re.I
    ):
        return False
    tool = _tool(d.conn("helpdesk"), "create_ticket")
    if tool is None:
        d.missing.append(f"{clause!r}: opening a ticket needs a help desk connection")
        return True
    requester = d.requester(clause)
    if requester is None:
        return True
    i = d.add(
        {
            "tool": tool,
            "arguments": {
                "subject": d.summary,
                "body": d.summary + ". Opened by a Switchboard workflow.",
                "requester_email": requester,
                "priority": "high",
                "tags": [
                    "workflow",
                    d.event.replace("/", ".").split(".")[-2] if "." in d.event or "/" in d.event else "event",
                ],
            },
        }
    )
    d.notes.append("ticket #" + _ref(i, "ticket_id"))
    return True


def _issue(d: _Draft, clause: str) -> bool:
    if not re.search(r"\b(issue|bug)\b", clause, re.I) or re.search(r"\bmentions?\b", clause, re.I):
        return False
    tool = _tool(d.conn("tracker"), "create_issue")
    if tool is None:
        d.missing.append(f"{clause!r}: filing an issue needs a tracker connection")
        return True
    team = d.default("tracker", "create_issue", "team_id")
    if not team:
        d.missing.append(
            f"{clause!r}: filing an issue needs a team; set the tracker connection's "
            'config {"defaults": {"create_issue": {"team_id": ...}}}'
        )
        return True
    i = d.add({"tool": tool, "arguments": {"team_id": team, "title": d.summary, "description": d.summary}})
    d.notes.append("issue " + _ref(i, "identifier"))
    return True


def _count(d: _Draft, clause: str) -> bool:
    m = re.search(
        r"\b(count|number)\s+of\s+(?P<what>(?:urgent|high|open|new|pending|unsolved|\s)+)?tickets\b",
        clause,
        re.I,
    )
    if not m:
        return False
    tool = _tool(d.conn("helpdesk"), "search_tickets")
    if tool is None:
        d.missing.append(f"{clause!r}: counting tickets needs a help desk connection")
        return True
    words = (m.group("what") or "").lower().split()
    query = ["type:ticket", "status<solved" if ("open" in words or "unsolved" in words or not words) else ""]
    query += [f"priority:{w}" for w in words if w in ("urgent", "high")]
    query += [f"status:{w}" for w in words if w in ("new", "pending")]
    i = d.add({"tool": tool, "arguments": {"query": " ".join(q for q in query if q)}})
    label = " ".join(words) + " tickets" if words else "open tickets"
    d.summary = "{{ steps[" + str(i) + "].result | length }} " + label
    d.notes.append("as of {{ event.slot }}")
    return True


def _post(d: _Draft, clause: str) -> bool:
    channels = CHANNEL.findall(clause)
    if not channels and not re.search(r"\b(post|ping|notify|tell)\b", clause, re.I):
        return False
    tool = _tool(d.conn("chat"), "post_message")
    if tool is None:
        d.missing.append(f"{clause!r}: posting needs a chat connection")
        return True
    if not channels:
        d.missing.append(f"{clause!r}: which channel? name it, e.g. #orders")
        return True
    d.posts.extend(channels)  # type: ignore[attr-defined]
    return True


def _mentions(d: _Draft, clause: str) -> bool:
    m = re.search(r"\b(mentions?|about|contains?)\s+(an?\s+)?(?P<word>[\w-]+)", clause, re.I)
    if not m or d.event != "ticket.created":
        return False
    d.conditions.append({"field": "event.subject", "op": "contains", "value": m.group("word")})
    return True


MATCHERS: list[Callable[[_Draft, str], bool]] = [
    _check_payment,
    _warehouse,
    _crm_note,
    _ticket,
    _count,
    _issue,
    _post,
]


def draft(variables: Mapping[str, Any]) -> dict[str, Any]:
    request = str(variables.get("request") or "")
    connections = [c for c in variables.get("connections") or [] if isinstance(c, Mapping)]
    trigger: dict[str, Any] | None = None
    rest = request
    if schedule := _schedule(request):
        trigger = {"schedule": schedule}
        rest = SCHEDULE.sub("", request)
    else:
        for pattern, kind, event in TRIGGERS:
            conn = _by_kind(connections, kind)
            if pattern.search(request) and conn is not None and event in (conn.get("events") or []):
                trigger = {"connection": str(conn["name"]), "event": event}
                break
    if trigger is None:
        known = sorted({e for c in connections for e in (c.get("events") or [])})
        return {
            "name": "Not understood: no event from a connected system found in the request",
            "trigger": {"connection": "", "event": ""},
            "steps": [],
            "not_understood": [
                f"{request.strip()!r}: no event or time found; events from connected systems: "
                f"{', '.join(known) or 'none'}; or a time, e.g. 'every morning at 8'"
            ],
        }
    d = _Draft(request, connections, trigger)
    d.posts = []  # type: ignore[attr-defined]
    head, _, actions = rest.partition(",") if "schedule" not in trigger else ("", "", rest)
    if "schedule" not in trigger and not actions:
        actions = re.sub(r"^\s*when\b[^,]*?\b(then|do)\b", "", rest, flags=re.I)
    _mentions(d, head or request)
    if d.event == "track" and re.search(r"\bdelivered\b", request, re.I):
        d.conditions.append({"field": "event.status_code", "op": "equals", "value": "DE"})
    for clause in _clauses(actions):
        if not any([match(d, clause) for match in MATCHERS]):  # every matcher sees every clause
            d.missing.append(f"{clause!r}: not an action this model knows; it can {'; '.join(ACTIONS)}")
    text = d.summary + (" - " + ", ".join(d.notes) if d.notes else "")
    chat = _tool(_by_kind(connections, "chat"), "post_message")
    for channel in d.posts:  # type: ignore[attr-defined]
        if chat:
            d.steps.append({"tool": chat, "arguments": {"channel": f"#{channel}", "text": text}})
    name = request.strip().rstrip(".")[:200]
    spec: dict[str, Any] = {
        "name": name[:1].upper() + name[1:],
        "trigger": trigger,
        "conditions": d.conditions,
        "steps": d.steps,
    }
    if d.on_problem:
        spec["on_problem"] = d.on_problem
    if d.missing:
        spec["not_understood"] = d.missing
    return spec
