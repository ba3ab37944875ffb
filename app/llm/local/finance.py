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

import json
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from app.llm.base import ModelRequest, ModelResponse, ToolCall
from app.llm.local.heuristics import words
from app.llm.local.planner import find_tool, fit_arguments, is_rejection, read_history
from connectors.currency import chargeable, to_minor

_CODING = json.loads((Path(__file__).parent / "data" / "gl_coding.json").read_text(encoding="utf-8"))
SYNONYMS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _CODING["synonyms"].items()}
# Names of accounts meant for what fits nowhere else: the fallback when no account matches.
GENERAL = tuple(_CODING["general"])
DUPLICATES = (
    "duplicate_invoice",
    "possible_duplicate",
    "already_booked",
    "duplicate_booking",
    "duplicate_pending",
)
# Words that qualify a thing rather than name it ("office cleaning" is not "office supplies"):
# a match on one of these alone is no match.
QUALIFIERS = frozenset({"office", "general", "other", "service", "services", "misc"})


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
        hits = text & set(words(name))
        for key, syns in SYNONYMS.items():
            if key in name:
                hits |= text & set(syns)
        if not hits - QUALIFIERS:
            continue
        score = len(text & set(words(name))) * 2 + sum(
            len(text & set(syns)) for key, syns in SYNONYMS.items() if key in name
        )
        if score > best[0]:
            best = (score, str(account.get("AccountNumber")), name)
    if best[0] > 0:
        return best[1], min(0.85, 0.55 + 0.1 * best[0]), f"description matches '{best[2]}'"
    return _fallback(accounts), 0.35, "no account matched the description; needs a person"


def _fallback(accounts: list[Mapping[str, Any]]) -> str:
    """An account for what fits nowhere: one named for that, else the first active expense
    account, else the first active one; empty when the ERP gave no chart."""
    active = [a for a in accounts if a.get("Active", True)]
    expense = _expense_accounts(active)
    general = [a for a in expense if set(words(str(a.get("Name", "")).lower())) & set(GENERAL)]
    pick = (general or expense or active or [{}])[0]
    return str(pick.get("AccountNumber") or "")


def payable_account(accounts: list[Mapping[str, Any]]) -> str:
    """The accounts payable account in the ERP's chart (a liability named payable); empty if none."""
    return next(
        (
            str(a["AccountNumber"])
            for a in accounts
            if a.get("Active", True)
            and str(a.get("Type", "")).upper() == "LIABILITY"
            and "payable" in str(a.get("Name", "")).lower()
            and "tax" not in str(a.get("Name", "")).lower()
        ),
        "",
    )


def _accounts(v: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [a for a in v.get("accounts") or [] if isinstance(a, Mapping)]


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
            # Non-invoice records come without the chart: the processor clearing account's usual
            # number stands in (still to be read from the chart or configuration).
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
                    "account": str(v.get("payable_account") or payable_account(_accounts(v))),
                    "debit": 0.0,
                    "credit": float(amount),
                    "description": f"Payable to {vendor}"[:120],
                },
            ],
        }
    if kind == "dispute":
        return {
            "type": "dispute_response",
            "memo": f"Response to dispute {record.get('dispute_id')}",
            "claims": dispute_claims(v),
        }
    findings = "; ".join(str(a.get("reason")) for a in v.get("anomalies") or [] if isinstance(a, Mapping))
    return {
        "type": "reconciliation_note",
        "memo": f"{kind} of {amount} {record.get('currency', '')} with {record.get('counterparty', '')}".strip(),
        "text": f"Reconciled {kind} of {amount} {record.get('currency', '')} with {record.get('counterparty', '')}."
        + (f" Findings: {findings}." if findings else ""),
    }


# The claims a merchant usually makes for each dispute reason; the pipeline checks every one
# against the facts read and leaves out what they do not support.
REASON_CLAIMS = {
    "product_not_received": ("payment_authorised", "delivered", "no_refund_requested"),
    "credit_not_processed": ("payment_authorised", "refund_issued", "customer_contacted_us"),
    "subscription_canceled": ("payment_authorised", "service_used", "no_refund_requested"),
}
DEFAULT_CLAIMS = ("payment_authorised", "no_refund_issued", "no_refund_requested")


def dispute_claims(v: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The usual claims for the dispute's reason, each citing the facts it would rest on."""
    facts = v.get("facts") or {}
    reason = str((v.get("dispute") or {}).get("reason") or "")
    by_type: dict[str, list[str]] = {}
    for fid, fact in facts.items() if isinstance(facts, Mapping) else []:
        by_type.setdefault(str((fact or {}).get("type")), []).append(str(fid))
    sources = {
        "payment_authorised": by_type.get("charge", []),
        "refund_issued": by_type.get("refunds", []),
        "no_refund_issued": by_type.get("charge", []) + by_type.get("refunds", []),
        "no_refund_requested": by_type.get("ticket_search", []) + by_type.get("crm_notes", []),
        "customer_contacted_us": by_type.get("ticket", [])[:1],
        "delivered": by_type.get("shipment", []) or by_type.get("charge", []),
        "service_used": by_type.get("usage", []) or by_type.get("charge", []),
    }
    return [{"claim": c, "sources": sources[c]} for c in REASON_CLAIMS.get(reason, DEFAULT_CLAIMS)]


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
    if kind == "reconciliation":
        for entry in draft_.get("proposals") or []:
            propose("erp", "post_journal_entry", dict(entry))
        if not calls:
            return ModelResponse(
                content="Nothing to book: every difference is explained.", stop_reason="end_turn"
            )
        return ModelResponse(tool_calls=calls, stop_reason="tool_use")
    if kind == "invoice" and "unknown_vendor" in kinds and not v.get("vendor_proposed"):
        propose(
            "erp",
            "create_vendor",
            {
                "name": str(record.get("counterparty") or "").strip(),
                "currency": str(record.get("currency") or "EUR").upper(),
                **({"iban": record["iban"]} if record.get("iban") else {}),
            },
        )
    elif (
        kind == "invoice"
        and draft_.get("type") == "journal_entry"
        and not kinds & set(DUPLICATES)
        and "unknown_vendor" not in kinds
    ):
        propose(
            "erp",
            "post_journal_entry",
            {"date": str(record.get("date") or ""), "memo": draft_.get("memo"), "lines": draft_.get("lines")},
        )
    if kind == "dispute" and record.get("dispute_id") and draft_.get("text"):
        # Submitting is final: only evidence with nothing refused or against it is submitted;
        # otherwise it is saved for a person to finish.
        clean = not kinds & {"unsupported_claim", "refund_requested_before_dispute"}
        propose(
            "payments",
            "submit_dispute_evidence",
            {"dispute_id": record["dispute_id"], "uncategorized_text": draft_.get("text"), "submit": clean},
        )
    if (
        kind == "refund"
        and record.get("charge_id")
        and not kinds & {"refund_exceeds_charge", "duplicate_refund", "currency_mismatch"}
    ):
        propose(
            "payments",
            "create_refund",
            {
                "charge_id": record["charge_id"],
                # Stripe's minor units: a ¥5,000 refund is amount=5000; never more than the record.
                "amount": chargeable(
                    to_minor(record.get("amount") or 0, record.get("currency"), rounding=ROUND_DOWN),
                    record.get("currency"),
                ),
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
