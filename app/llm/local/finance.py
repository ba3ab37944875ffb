"""The local engine's finance steps: GL coding, balanced entries, rule-based actions.

GL coding prefers the vendor's default account from the ERP, then the account
whose name best matches the record's description (with a few bookkeeping
synonyms), then a safe suspense-like fallback with low confidence. Drafts are
deterministic: an invoice becomes Dr expense / Cr accounts payable for its
total; a dispute gets a response built from the charge's facts; anything else
a reconciliation note. The act step proposes the writes and a channel notice
for anomalies; it never posts an entry for a suspected duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.llm.base import ModelRequest, ModelResponse, ToolCall
from app.llm.local.heuristics import words
from app.llm.local.planner import find_tool, fit_arguments, is_rejection, read_history

SYNONYMS = {
    "software": ("software", "subscription", "saas", "license", "licence", "cloud", "hosting"),
    "office": ("office", "supplies", "stationery", "paper", "toner", "furniture"),
    "travel": ("travel", "flight", "hotel", "train", "taxi", "mileage"),
    "professional": ("consulting", "legal", "audit", "advisory", "review", "professional", "accounting"),
    "cost of goods": ("inventory", "goods", "stock", "wholesale", "kitchenware", "rugs", "materials"),
    "marketing": ("marketing", "advertising", "ads", "campaign"),
    "utilities": ("electricity", "water", "utilities", "internet", "phone"),
    "freight": ("shipping", "freight", "courier", "delivery", "postage"),
}
DUPLICATES = ("duplicate_invoice", "possible_duplicate")


def _expense_accounts(accounts: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        a
        for a in accounts
        if a.get("Active", True) and str(a.get("Type", "")).upper() in ("EXPENSE", "COGS", "COST_OF_SALES")
    ]


def gl_account(
    record: Mapping[str, Any], accounts: list[Mapping[str, Any]], vendor: Mapping[str, Any] | None
) -> tuple[str, float, str]:
    """(account number, confidence, why)."""
    active = {str(a.get("AccountNumber")) for a in accounts if a.get("Active", True)}
    default = str((vendor or {}).get("DefaultGLAccount") or "")
    if default and default in active:
        return default, 0.92, f"vendor's default account {default}"
    text = set(words(f"{record.get('description', '')} {record.get('counterparty', '')}"))
    best: tuple[int, str, str] = (0, "", "")
    for account in _expense_accounts(accounts) or accounts:
        name = str(account.get("Name", "")).lower()
        score = len(text & set(words(name))) * 2
        for key, syns in SYNONYMS.items():
            if key in name:
                score += len(text & set(syns))
        if score > best[0]:
            best = (score, str(account.get("AccountNumber")), name)
    if best[0] > 0:
        return best[1], min(0.85, 0.55 + 0.1 * best[0]), f"description matches '{best[2]}'"
    fallback = next(iter(sorted(a for a in active if a.startswith("6"))), next(iter(sorted(active)), "6000"))
    return fallback, 0.35, "no account matched the description; needs a person"


def classify(v: Mapping[str, Any]) -> dict[str, Any]:
    record = v.get("record") or {}
    kind = str(record.get("kind") or "transaction")
    accounts = [a for a in v.get("accounts") or [] if isinstance(a, Mapping)]
    anomalies = [str(a.get("kind")) for a in v.get("anomalies") or [] if isinstance(a, Mapping)]
    if kind == "invoice":
        account, confidence, why = gl_account(record, accounts, v.get("vendor"))
        category = "accounts_payable"
    else:
        account = next(
            (str(a["AccountNumber"]) for a in accounts if "clearing" in str(a.get("Name", "")).lower()),
            "1010" if not accounts else str(accounts[0].get("AccountNumber")),
        )
        category = {"refund": "customer_refund", "dispute": "chargeback"}.get(kind, "sale")
        confidence, why = 0.8, f"{kind} records settle through the processor clearing account"
    if anomalies:
        confidence = min(confidence, 0.5)
    return {
        "category": category,
        "gl_account": account,
        "confidence": round(confidence, 2),
        "rationale": f"{category} to {account}: {why}"
        + (f"; anomalies: {', '.join(anomalies)}" if anomalies else ""),
        "anomalies": anomalies,
        "suspected_fraud": "payee_changed" in anomalies,
    }


def draft(v: Mapping[str, Any]) -> dict[str, Any]:
    record = v.get("record") or {}
    cls = v.get("classification") or {}
    kind = str(record.get("kind") or "transaction")
    amount = Decimal(str(record.get("amount") or 0)).quantize(Decimal("0.01"))
    if kind == "invoice":
        vendor = (v.get("vendor") or {}).get("Name") or record.get("counterparty") or "vendor"
        memo = f"Invoice {record.get('invoice_number') or '(no number)'} from {vendor}"
        return {
            "type": "journal_entry",
            "memo": memo,
            "lines": [
                {
                    "account": str(cls.get("gl_account")),
                    "debit": float(amount),
                    "credit": 0.0,
                    "description": str(record.get("description") or memo)[:120],
                },
                {
                    "account": str(v.get("payable_account") or "2000"),
                    "debit": 0.0,
                    "credit": float(amount),
                    "description": f"Payable to {vendor}"[:120],
                },
            ],
        }
    if kind == "dispute":
        charge = v.get("charge") or {}
        billing = (charge.get("billing_details") or {}) if isinstance(charge, Mapping) else {}
        text = (
            f"The cardholder {billing.get('name') or ''} <{billing.get('email') or 'on file'}> paid "
            f"{Decimal(int(charge.get('amount') or 0)) / 100:.2f} {str(charge.get('currency') or '').upper()} for "
            f'"{charge.get("description") or "the order"}" (charge {charge.get("id")}). The payment was authorised and captured, '
            "the order was fulfilled as described, and no refund was requested before the dispute. We ask that the dispute be decided in our favour."
        )
        return {
            "type": "dispute_response",
            "memo": f"Response to dispute {record.get('dispute_id')}",
            "text": " ".join(text.split()),
        }
    findings = "; ".join(str(a.get("reason")) for a in v.get("anomalies") or [] if isinstance(a, Mapping))
    return {
        "type": "reconciliation_note",
        "memo": f"{kind} of {amount} {record.get('currency', '')} with {record.get('counterparty', '')}".strip(),
        "text": f"Reconciled {kind} of {amount} {record.get('currency', '')} with {record.get('counterparty', '')}."
        + (f" Findings: {findings}." if findings else ""),
    }


def act(request: ModelRequest) -> ModelResponse:
    v = request.variables
    record = v.get("record") or {}
    draft_ = v.get("draft") or {}
    anomalies = [a for a in v.get("anomalies") or [] if isinstance(a, Mapping)]
    kinds = {str(a.get("kind")) for a in anomalies}
    conns = v.get("connections") or {}
    history = read_history(request.messages)
    if history.calls:
        done = [
            c.name.split("__")[-1]
            for c in history.calls
            if (r := history.result(c)) is not None and not r.is_error
        ]
        refused = [
            c.name.split("__")[-1]
            for c in history.calls
            if (r := history.result(c)) is not None and (r.is_error or is_rejection(r))
        ]
        text = "Done: " + ", ".join(done) + "." if done else "Nothing was written."
        if refused:
            text += " Not done: " + ", ".join(refused) + "."
        return ModelResponse(content=text, stop_reason="end_turn")
    calls: list[ToolCall] = []

    def propose(connection: str, operation: str, arguments: dict[str, Any]) -> None:
        tool = find_tool(request.tools, conns.get(connection), operation)
        if tool is not None:
            calls.append(
                ToolCall(
                    id=f"local_{len(calls) + 1}", name=tool.name, arguments=fit_arguments(tool, arguments)
                )
            )

    kind = record.get("kind")
    if kind == "invoice" and draft_.get("type") == "journal_entry" and not kinds & set(DUPLICATES):
        propose(
            "erp",
            "post_journal_entry",
            {"date": str(record.get("date") or ""), "memo": draft_.get("memo"), "lines": draft_.get("lines")},
        )
    if kind == "dispute" and record.get("dispute_id"):
        propose(
            "payments",
            "submit_dispute_evidence",
            {"dispute_id": record["dispute_id"], "uncategorized_text": draft_.get("text"), "submit": True},
        )
    if kind == "refund" and record.get("charge_id") and "refund_exceeds_charge" not in kinds:
        propose(
            "payments",
            "create_refund",
            {
                "charge_id": record["charge_id"],
                "amount": int(Decimal(str(record.get("amount") or 0)) * 100),
                "reason": "requested_by_customer",
            },
        )
    if anomalies:
        lines = "; ".join(str(a.get("reason")) for a in anomalies)
        ref = (
            record.get("invoice_number")
            or record.get("external_id")
            or record.get("counterparty")
            or "a record"
        )
        propose(
            "chat",
            "post_message",
            {
                "channel": v.get("channel") or "#finance",
                "text": f"Please check {record.get('kind')} {ref}: {lines}",
            },
        )
    if not calls:
        return ModelResponse(content="Nothing to write for this record.", stop_reason="end_turn")
    return ModelResponse(tool_calls=calls, stop_reason="tool_use")
