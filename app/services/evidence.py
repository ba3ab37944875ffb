"""Dispute evidence whose every claim is true: typed claims, each cited and checked against facts.

A draft names the claims it wants to make ("the payment was authorised", "no refund was
requested before the dispute", "the order was delivered") and the facts it rests them on, by
id (`payments.charge:ch_…`, `helpdesk.ticket:12`). Each claim is checked against the facts the
run actually read: a claim citing nothing, citing a fact never read, or contradicted by one
(a help-desk ticket asking for a refund) is rejected with the reason. The evidence text is then
written from the checked claims and their facts only, each sentence with its source, so no
wording of the model's can carry a claim past the check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.currency import major_text

CLAIMS = (
    "payment_authorised",
    "refund_issued",
    "no_refund_issued",
    "no_refund_requested",
    "customer_contacted_us",
    "delivered",
    "service_used",
)
# Words of a customer asking for their money back, in the languages the demo's customers write.
REFUND_REQUEST = re.compile(
    r"\b(refund|money back|reimburse|charge ?back|cancel (?:my|the) (?:order|membership|subscription)"
    r"|rembours|rückerstatt|erstatt|reembols|devoluci|terugbetal|återbetal)",
    re.IGNORECASE,
)
# What the run must have read to say the customer never asked: their help-desk tickets and CRM notes.
CONVERSATION_SOURCES = ("helpdesk.tickets:", "crm.notes:")


@dataclass
class Checked:
    claims: list[dict[str, Any]]  # accepted: {claim, sources, text}
    rejected: list[dict[str, Any]]  # {claim, sources, reason}
    contrary: list[dict[str, Any]]  # facts that speak against the merchant: {kind, reason, source}
    text: str


def when(ts: Any) -> str:
    try:
        return datetime.fromtimestamp(int(ts), UTC).date().isoformat()
    except (TypeError, ValueError):
        return str(ts or "")[:10]


def _ts(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _money(minor: Any, currency: Any) -> str:
    return f"{major_text(int(minor or 0), currency)} {str(currency or '').upper()}".strip()


def cite(source: str) -> str:
    kind, _, ident = source.partition(":")
    return f"(source: {kind.replace('.', ' ').replace('_', ' ')} {ident})".replace("  ", " ")


def refund_requests(facts: dict[str, dict[str, Any]], before: float | None) -> list[dict[str, Any]]:
    """Messages from the customer (tickets, comments) or notes about them that ask for a refund,
    written before `before` (the dispute's opening)."""
    out = []
    for fid, fact in facts.items():
        if fact.get("type") not in ("ticket", "crm_note"):
            continue
        for message in fact.get("messages") or []:
            at = _ts(message.get("at"))
            if before is not None and at is not None and at > before:
                continue
            found = REFUND_REQUEST.search(str(message.get("text") or ""))
            if found:
                where = "help-desk ticket" if fact["type"] == "ticket" else "CRM note"
                out.append(
                    {
                        "kind": "refund_requested_before_dispute",
                        "reason": f"the customer asked for a refund before the dispute ({where} "
                        f'{fid.split(":", 1)[1]}, {str(message.get("at"))[:10]}: "{found.group(0)}")',
                        "source": fid,
                    }
                )
                break
    return out


def _check(
    claim: str, sources: list[str], facts: dict[str, dict[str, Any]], before: float | None
) -> tuple[str | None, str]:
    """(reason it is rejected or None, the sentence that states it)."""
    cited = [facts[s] for s in sources if s in facts]
    charges = [f for f in cited if f.get("type") == "charge"]
    refunds = [f for f in cited if f.get("type") == "refunds"]
    if claim == "payment_authorised":
        ok = [c for c in charges if c.get("status") == "succeeded" and c.get("captured", True)]
        if not ok:
            return "no charge the run read shows a succeeded, captured payment", ""
        c = ok[0]
        return None, (
            f"The payment of {_money(c.get('amount'), c.get('currency'))} on {when(c.get('created'))} for "
            f'"{c.get("description") or "the order"}" was authorised by the card issuer and captured.'
        )
    if claim == "refund_issued":
        done = [r for f in refunds for r in f.get("items") or [] if r.get("status") == "succeeded"]
        if not done:
            return "no refund of this charge appears in the payments system", ""
        parts = [
            f"{_money(r.get('amount'), r.get('currency'))} on {when(r.get('created'))}"
            + (f" (bank reference {r['arn']})" if r.get("arn") else "")
            for r in done
        ]
        return None, "A refund was issued: " + "; ".join(parts) + "."
    if claim == "no_refund_issued":
        if (
            not refunds
            or any(f.get("items") for f in refunds)
            or any(c.get("amount_refunded") for c in charges)
        ):
            return "the refunds of this charge were not read, or there are some", ""
        return None, "No refund has been issued on this charge."
    if claim == "no_refund_requested":
        read = [s for s in sources if s in facts]
        missing = [p.rstrip(":") for p in CONVERSATION_SOURCES if not any(s.startswith(p) for s in read)]
        if missing:
            return f"the run did not read the customer's {' and '.join(missing)} to support it", ""
        asked = refund_requests(facts, before)
        if asked:
            return asked[0]["reason"], ""
        tickets = [f for f in facts.values() if f.get("type") == "ticket"]
        return None, (
            f"The customer did not ask for a refund before the dispute: none of their {len(tickets)} "
            "support conversations or the account notes asks for one."
        )
    if claim == "customer_contacted_us":
        tickets = [f for f in cited if f.get("type") == "ticket"]
        if not tickets:
            return "no help-desk ticket is cited", ""
        t = tickets[0]
        return (
            None,
            f'The customer contacted support on {str(t.get("created_at"))[:10]} ("{t.get("subject")}").',
        )
    if claim in ("delivered", "service_used"):
        kind = "shipment" if claim == "delivered" else "usage"
        if not [f for f in cited if f.get("type") == kind]:
            what = "delivery" if claim == "delivered" else "use of the service"
            return f"no fact the run read shows {what}", ""
        return None, (
            "The order was delivered." if claim == "delivered" else "The customer used the service."
        )
    return f"{claim!r} is not a claim that can be checked", ""


def check_claims(
    claims: list[dict[str, Any]], facts: dict[str, dict[str, Any]], *, dispute_opened: Any = None
) -> Checked:
    """Check each claim against the facts read; write the evidence from the accepted ones."""
    before = _ts(dispute_opened)
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for item in claims:
        claim = str(item.get("claim") or "")
        sources = [str(s) for s in item.get("sources") or []]
        unread = [s for s in sources if s not in facts]
        if not sources:
            reason: str | None = "it cites no fact"
            sentence = ""
        elif unread:
            reason, sentence = f"it cites {', '.join(unread)}, which the run never read", ""
        else:
            reason, sentence = _check(claim, sources, facts, before)
        if reason is None:
            accepted.append({"claim": claim, "sources": sources, "text": sentence})
        else:
            rejected.append({"claim": claim, "sources": sources, "reason": reason})
    body = [f"{c['text']} {' '.join(cite(s) for s in c['sources'])}" for c in accepted]
    return Checked(accepted, rejected, refund_requests(facts, before), " ".join(body))
