"""Financial records: classify → draft → act over the payments and ERP systems.

Reads gather the facts (vendor master data, the vendor's invoice history,
the chart of accounts, the customer's charges, the dispute). Anomaly checks
are computed from those facts, not guessed: a duplicate invoice (same number,
or same vendor, amount and date within a window), an amount far from the
counterparty's history, a payee account that differs from the vendor record,
a refund larger than what is left on the charge. The model then classifies
(category and GL account), drafts (a balanced journal entry, a dispute
response or a reconciliation note) and proposes writes through the gate.
"""

from __future__ import annotations

import statistics
from datetime import date
from decimal import Decimal
from typing import Any

from app.agent.run import RunContext, RunFailed
from app.llm.prompts import PromptLibrary

RECORD_KINDS = ("transaction", "invoice", "refund", "dispute")
FINANCE_OPERATIONS = ("post_journal_entry", "create_refund", "submit_dispute_evidence", "post_message")
DUPLICATE_WINDOW_DAYS = 7
OUTLIER_FACTOR = 3.0


def minor(amount: Any) -> int:
    return int((Decimal(str(amount)) * 100).to_integral_value())


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def detect_anomalies(
    record: dict[str, Any],
    *,
    vendor: dict[str, Any] | None,
    history: list[dict[str, Any]],
    existing: dict[str, Any] | None,
    charges: list[dict[str, Any]],
    charge: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """Deterministic checks against the systems of record; each finding says why."""
    out: list[dict[str, Any]] = []
    amount = Decimal(str(record.get("amount") or 0))
    number = (record.get("invoice_number") or "").strip()
    when = _day(record.get("date"))
    if record.get("kind") == "invoice":
        if existing is not None and number:
            out.append(
                {
                    "kind": "duplicate_invoice",
                    "reason": f"invoice number {number} is already in the ERP as {existing.get('DocumentNumber')}",
                }
            )
        for inv in history:
            same_amount = Decimal(str(inv.get("TotalAmount") or 0)) == amount
            other_day = _day(inv.get("InvoiceDate"))
            close = (
                when is not None
                and other_day is not None
                and abs((when - other_day).days) <= DUPLICATE_WINDOW_DAYS
            )
            if same_amount and close and inv.get("InvoiceNumber") != number:
                out.append(
                    {
                        "kind": "possible_duplicate",
                        "reason": f"{inv.get('InvoiceNumber')} from the same vendor has the same amount {amount} within {DUPLICATE_WINDOW_DAYS} days ({inv.get('InvoiceDate')})",
                    }
                )
        past = [float(inv.get("TotalAmount") or 0) for inv in history if inv.get("InvoiceNumber") != number]
        if len(past) >= 3:
            median = statistics.median(past)
            if median > 0 and (
                float(amount) > OUTLIER_FACTOR * median or float(amount) < median / OUTLIER_FACTOR
            ):
                out.append(
                    {
                        "kind": "amount_outlier",
                        "reason": f"amount {amount} is far from this vendor's median {median:.2f} over {len(past)} invoices",
                    }
                )
        if vendor is None:
            out.append(
                {
                    "kind": "unknown_vendor",
                    "reason": f"no vendor record matches {record.get('counterparty')!r}",
                }
            )
        iban = (record.get("iban") or "").replace(" ", "").upper()
        if vendor is not None and iban and iban != (vendor.get("IBAN") or "").replace(" ", "").upper():
            out.append(
                {
                    "kind": "payee_changed",
                    "reason": f"the record pays {iban}, but the vendor record has {vendor.get('IBAN')}",
                }
            )
    if record.get("kind") in ("refund", "transaction") and charge is not None:
        left = int(charge.get("amount") or 0) - int(charge.get("amount_refunded") or 0)
        if minor(amount) > left:
            out.append(
                {
                    "kind": "refund_exceeds_charge",
                    "reason": f"{minor(amount)} is more than the {left} left on charge {charge.get('id')}",
                }
            )
    seen: dict[tuple[int, str], str] = {}
    for ch in charges:
        key = (int(ch.get("amount") or 0), str(ch.get("description") or ""))
        if key in seen and abs(int(ch.get("created") or 0) - int(seen[key].split(":")[1])) < 3600:
            out.append(
                {
                    "kind": "duplicate_charge",
                    "reason": f"charges {seen[key].split(':')[0]} and {ch.get('id')} have the same amount and description within an hour",
                }
            )
        seen[key] = f"{ch.get('id')}:{ch.get('created') or 0}"
    return out


def classification_schema(accounts: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "category": {"type": "string", "minLength": 1},
            "gl_account": {"type": "string", "enum": accounts} if accounts else {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "rationale": {"type": "string"},
            "anomalies": {"type": "array", "items": {"type": "string"}},
            "suspected_fraud": {"type": "boolean"},
        },
        "required": ["category", "gl_account", "confidence", "rationale"],
    }


DRAFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["journal_entry", "dispute_response", "reconciliation_note"]},
        "memo": {"type": "string"},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "account": {"type": "string"},
                    "debit": {"type": "number", "minimum": 0},
                    "credit": {"type": "number", "minimum": 0},
                    "description": {"type": "string"},
                },
                "required": ["account"],
            },
        },
        "text": {"type": "string"},
    },
    "required": ["type"],
}


def check_balanced(draft: dict[str, Any], total: Decimal) -> None:
    if draft.get("type") != "journal_entry":
        return
    lines = draft.get("lines") or []
    debit = sum(Decimal(str(x.get("debit") or 0)) for x in lines)
    credit = sum(Decimal(str(x.get("credit") or 0)) for x in lines)
    if len(lines) < 2 or debit != credit or debit <= 0:
        raise RunFailed(f"the proposed journal entry does not balance: debits {debit}, credits {credit}")
    if total and debit != total:
        raise RunFailed(f"the proposed journal entry books {debit}, but the record's total is {total}")


class FinancePipeline:
    def __init__(
        self,
        prompts: PromptLibrary,
        *,
        erp: str = "erp",
        payments: str = "payments",
        chat: str = "chat",
        channel: str = "#finance",
    ):
        self.prompts = prompts
        self.erp, self.payments, self.chat, self.channel = erp, payments, chat, channel

    def _has(self, ctx: RunContext, connection: str, operation: str) -> str | None:
        name = f"{connection}__{operation}"
        return name if name in ctx.catalogue else None

    async def _read(
        self, ctx: RunContext, step: str, connection: str, operation: str, args: dict[str, Any]
    ) -> Any:
        tool = self._has(ctx, connection, operation)
        if tool is None:
            return None
        out = await ctx.read(step, tool, args)
        return None if out.is_error else out.data

    async def _gather(self, ctx: RunContext, rec: dict[str, Any]) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "vendor": None,
            "history": [],
            "existing": None,
            "accounts": [],
            "customer": None,
            "charges": [],
            "charge": None,
            "dispute": None,
        }
        kind = rec["kind"]
        if kind == "invoice":
            if rec.get("vendor_id"):
                facts["vendor"] = await self._read(
                    ctx, "read:vendor", self.erp, "get_vendor", {"vendor_id": rec["vendor_id"]}
                )
            elif rec.get("counterparty") and len(rec["counterparty"].strip()) >= 2:
                found = await self._read(
                    ctx, "read:vendor", self.erp, "find_vendor", {"name": rec["counterparty"][:60]}
                )
                facts["vendor"] = found[0] if isinstance(found, list) and found else None
            if facts["vendor"]:
                history = await self._read(
                    ctx, "read:history", self.erp, "list_invoices", {"vendor_id": facts["vendor"]["VendorId"]}
                )
                facts["history"] = history if isinstance(history, list) else []
            if rec.get("invoice_number"):
                facts["existing"] = await self._read(
                    ctx, "read:invoice", self.erp, "get_invoice", {"invoice_number": rec["invoice_number"]}
                )
            accounts = await self._read(ctx, "read:accounts", self.erp, "list_gl_accounts", {})
            facts["accounts"] = accounts if isinstance(accounts, list) else []
        else:
            if rec.get("customer_email"):
                facts["customer"] = await self._read(
                    ctx, "read:customer", self.payments, "find_customer", {"email": rec["customer_email"]}
                )
            if isinstance(facts["customer"], dict):
                charges = await self._read(
                    ctx,
                    "read:charges",
                    self.payments,
                    "list_charges",
                    {"customer_id": facts["customer"]["id"]},
                )
                facts["charges"] = charges if isinstance(charges, list) else []
            if rec.get("dispute_id"):
                facts["dispute"] = await self._read(
                    ctx, "read:dispute", self.payments, "get_dispute", {"dispute_id": rec["dispute_id"]}
                )
            charge_id = rec.get("charge_id") or (facts["dispute"] or {}).get("charge")
            if charge_id:
                facts["charge"] = await self._read(
                    ctx, "read:charge", self.payments, "get_charge", {"charge_id": charge_id}
                )
        return facts

    async def __call__(self, ctx: RunContext) -> dict[str, Any]:
        rec: dict[str, Any] = dict(ctx.run.input["record"])
        total = Decimal(str(rec.get("amount") or 0))
        ctx.know(
            record_amount=minor(total),
            requester_email=(rec.get("customer_email") or "").lower() or None,
            untrusted_text=[
                str(rec.get(k) or "") for k in ("description", "counterparty", "notes", "iban") if rec.get(k)
            ],
        )
        g = await self._gather(ctx, rec)
        anomalies = ctx.record(
            "anomalies",
            "note",
            {
                "anomalies": detect_anomalies(
                    rec,
                    vendor=g["vendor"],
                    history=g["history"],
                    existing=g["existing"],
                    charges=g["charges"],
                    charge=g["charge"],
                )
            },
        )["anomalies"]
        accounts = [str(a["AccountNumber"]) for a in g["accounts"] if a.get("Active", True)]
        payable = next(
            (
                str(a["AccountNumber"])
                for a in g["accounts"]
                if "payable" in str(a.get("Name", "")).lower() and a.get("Type") == "LIABILITY"
            ),
            "2000",
        )

        variables: dict[str, Any] = {
            "record": rec,
            "accounts": g["accounts"],
            "vendor": g["vendor"],
            "history": g["history"][-12:],
            "anomalies": anomalies,
        }
        out = await ctx.structured(
            "classify",
            self.prompts.request(
                "finance/classify", variables, output_schema=classification_schema(accounts)
            ),
        )
        flags = sorted({*(out.get("anomalies") or []), *(a["kind"] for a in anomalies)})
        out["anomalies"] = flags
        out["suspected_fraud"] = bool(out.get("suspected_fraud")) or "payee_changed" in flags
        classification = ctx.record(
            "classification",
            "classification",
            {**out, "findings": anomalies},
            run_fields={"classification": {**out, "findings": anomalies}},
        )

        variables = {
            "record": rec,
            "classification": classification,
            "anomalies": anomalies,
            "vendor": g["vendor"],
            "charge": g["charge"],
            "dispute": g["dispute"],
            "payable_account": payable,
        }
        draft_out = await ctx.structured(
            "draft",
            self.prompts.request("finance/draft", variables, output_schema=DRAFT_SCHEMA),
        )
        check_balanced(draft_out, total if rec["kind"] == "invoice" else Decimal(0))
        draft = ctx.record("draft", "draft", draft_out, run_fields={"draft": draft_out})

        wanted = {
            self.erp: ("post_journal_entry",),
            self.payments: ("create_refund", "submit_dispute_evidence"),
            self.chat: ("post_message",),
        }
        tools = [t for t in ctx.catalogue if t.operation in wanted.get(t.connection, ())]
        variables = {
            "record": rec,
            "classification": classification,
            "draft": draft,
            "anomalies": anomalies,
            "channel": self.channel,
            "connections": {"erp": self.erp, "payments": self.payments, "chat": self.chat},
        }
        final = await ctx.agent_loop(
            "act",
            self.prompts.request("finance/act", variables),
            tools,
        )
        return {"summary": final.content}
