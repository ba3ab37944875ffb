"""Financial records: classify → draft → act over the payments and ERP systems.

Reads gather the facts (vendor master data, the vendor's invoice history,
the chart of accounts, the ERP's journal, the customer's charges and refunds,
the dispute, and for a dispute the customer's help-desk tickets and CRM notes).
Anomaly checks are computed from those facts, not guessed: a duplicate invoice
(same number, or same vendor, amount and date within a window), an invoice
already in the journal or already booked or waiting in Switchboard's own queue,
an amount far from the counterparty's history, a payee account that differs
from the vendor record, a refund larger than what is left on the charge or for
a charge already refunded, an unknown vendor, a GL account that is a guess.
The model then classifies (category and GL account), drafts (a balanced
journal entry, dispute evidence as cited claims that are checked before use,
or a reconciliation note) and proposes writes through the gate. The checks
also become facts the gate reads (`findings`), so a write they concern is
rated by them whatever the model proposes. A record of kind "reconciliation"
matches a period's payouts against the ERP's journal (app/services/reconcile.py).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from app.agent.run import RunContext, RunFailed
from app.llm.prompts import PromptLibrary
from app.services import booked, evidence
from app.services import reconcile as recon
from connectors.currency import to_minor

RECORD_KINDS = ("transaction", "invoice", "refund", "dispute", "reconciliation")
FINANCE_OPERATIONS = (
    "post_journal_entry",
    "create_vendor",
    "create_refund",
    "submit_dispute_evidence",
    "post_message",
)
DUPLICATE_WINDOW_DAYS = 7
OUTLIER_FACTOR = 3.0


def minor(amount: Any, currency: Any) -> int:
    """A record's amount (major units) in its currency's minor units, the units the gate and the
    payments system count in: 120000 JPY is 120000, 486.20 EUR is 48620."""
    return to_minor(amount, currency)


def record_cap(amount: Any, currency: Any) -> int:
    """The record's amount as the gate's cap on what its writes may move (`record_amount`): in
    its currency's minor units, but never more than the amount read with two decimals, and
    rounded down. The currency is what the record's sender claims, and a claimed KWD (three
    decimals) must not let a refund of ten times the amount pass as the record's, nor hide an
    entry ten times the invoice; a genuine three-decimal record is flagged more, not less."""
    return min(to_minor(amount, currency, rounding=ROUND_FLOOR), to_minor(amount, None, rounding=ROUND_FLOOR))


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
    ledger_currency: str = "",
) -> list[dict[str, Any]]:
    """Deterministic checks against the systems of record; each finding says why."""
    out: list[dict[str, Any]] = []
    currency = str(record.get("currency") or "").strip().upper()
    if record.get("kind") == "invoice" and ledger_currency and currency and currency != ledger_currency:
        out.append(
            {
                "kind": "other_currency",
                "reason": f"the invoice is in {currency}, but the ledger keeps {ledger_currency} and a "
                f"journal entry names no currency: booked as it is, {record.get('amount')} {currency} "
                f"would count as {ledger_currency}; convert it at the rate a person states",
            }
        )
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
                    "reason": f"no vendor record in the ERP matches {record.get('counterparty')!r}: "
                    "a new vendor is proposed for a person to check, not assumed",
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
        claimed, charged = (
            str(x or "").strip().upper() for x in (record.get("currency"), charge.get("currency"))
        )
        if claimed and charged and claimed != charged:
            out.append(
                {
                    "kind": "currency_mismatch",
                    "reason": f"the record is in {claimed}, but charge {charge.get('id')} is in {charged}: "
                    "a refund is paid in the charge's currency, so the record's amount says nothing of it",
                }
            )
        left = int(charge.get("amount") or 0) - int(charge.get("amount_refunded") or 0)
        wanted = minor(amount, record.get("currency"))
        if wanted > left:
            out.append(
                {
                    "kind": "refund_exceeds_charge",
                    "reason": f"{wanted} is more than the {left} left on charge {charge.get('id')}",
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


def review_reasons(
    record: dict[str, Any],
    classification: dict[str, Any],
    vendor: dict[str, Any] | None,
    accounts: list[dict[str, Any]],
    anomalies: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Why an invoice's booking needs a person, from facts: the GL account is firm only when it
    is the vendor's own default account; anything else is a guess and is said to be one."""
    if record.get("kind") != "invoice":
        return []
    kinds = {a.get("kind") for a in anomalies}
    account = str(classification.get("gl_account") or "")
    default = str((vendor or {}).get("DefaultGLAccount") or "")
    if default and account == default:
        return []
    name = next((str(a.get("Name")) for a in accounts if str(a.get("AccountNumber")) == account), "")
    why = (
        "the vendor is unknown"
        if "unknown_vendor" in kinds or vendor is None
        else "the vendor has no default account"
    )
    if default and account != default:
        why = f"the vendor's default account is {default}"
    return [
        {
            "kind": "gl_account_guess",
            "reason": f"GL account {account}{f' ({name})' if name else ''} is a guess from the description; {why}",
        }
    ]


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
            "needs_review": {"type": "boolean"},
        },
        "required": ["category", "gl_account", "confidence", "rationale"],
    }


DRAFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["journal_entry", "dispute_response", "reconciliation_note"]},
        # dispute evidence: the claims to make, each citing the ids of the facts it rests on
        "claims": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "claim": {"type": "string", "enum": list(evidence.CLAIMS)},
                    "sources": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["claim", "sources"],
            },
        },
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


Bookings = Callable[[str], list[dict[str, Any]]]
LIVE = ("pending", "approved", "executing")
MAX_TICKETS = 5


def _period(value: Any) -> tuple[date, date]:
    """'2026-11' (a month) or '2026-11-01..2026-11-30' as (first, last) days."""
    text = str(value or "").strip()
    try:
        if ".." in text:
            a, b = text.split("..", 1)
            first, last = date.fromisoformat(a.strip()), date.fromisoformat(b.strip())
        else:
            first = date.fromisoformat(f"{text}-01")
            nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            last = date.fromordinal(nxt.toordinal() - 1)
    except ValueError:
        raise RunFailed(f"period must be a month (YYYY-MM) or FROM..TO dates, not {text!r}") from None
    if last < first:
        raise RunFailed(f"the period ends before it starts: {text}")
    return first, last


def _unix(d: date, end: bool = False) -> int:
    moment = datetime.combine(d, time.max if end else time.min, tzinfo=UTC)
    return int(moment.timestamp())


def gate_findings(rec: dict[str, Any], anomalies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checks' findings as facts for the gate: which writes they concern, and how much."""
    out: list[dict[str, Any]] = []
    for a in anomalies:
        kind = a.get("kind")
        if kind in booked.INVOICE_DUPLICATES:
            out.append({"operation": "post_journal_entry", "level": "high", "reason": a["reason"]})
        elif kind in ("duplicate_refund", "currency_mismatch") and rec.get("charge_id"):
            out.append(
                {
                    "operation": "create_refund",
                    "match": {"charge_id": rec["charge_id"]},
                    "level": "high",
                    "reason": a["reason"],
                }
            )
        elif kind == "other_currency":
            out.append({"operation": "post_journal_entry", "level": "high", "reason": a["reason"]})
        elif kind in ("unknown_vendor", "gl_account_guess"):
            out.append({"operation": "post_journal_entry", "level": "medium", "reason": a["reason"]})
        elif kind == "refund_requested_before_dispute":
            out.append(
                {
                    "operation": "submit_dispute_evidence",
                    "match": {"submit": True},
                    "level": "high",
                    "reason": a["reason"] + "; submitting evidence against it is likely to lose the dispute",
                }
            )
    return out


class FinancePipeline:
    def __init__(
        self,
        prompts: PromptLibrary,
        *,
        bookings: Bookings | None = None,
        erp: str = "erp",
        payments: str = "payments",
        chat: str = "chat",
        helpdesk: str = "helpdesk",
        crm: str = "crm",
        channel: str = "#finance",
        ledger_currency: str = "",
    ):
        self.prompts = prompts
        self.ledger_currency = ledger_currency.strip().upper()
        # Switchboard's own live and done money writes of other runs (app/services/bookings.py).
        self.bookings = bookings
        self.erp, self.payments, self.chat, self.channel = erp, payments, chat, channel
        self.helpdesk, self.crm = helpdesk, crm

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

    async def _own(self, ctx: RunContext) -> list[dict[str, Any]]:
        """Recorded once, so a resumed run decides on what it saw the first time."""
        if (rec := ctx.recorded("read:own_bookings")) is not None:
            return list(rec.data["bookings"])
        found = await ctx.io(self.bookings, ctx.run.id) if self.bookings is not None else []  # off the loop
        return list((await ctx.record("read:own_bookings", "note", {"bookings": found}))["bookings"])

    async def _gather(self, ctx: RunContext, rec: dict[str, Any]) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "vendor": None,
            "history": [],
            "existing": None,
            "accounts": [],
            "journal": [],
            "customer": None,
            "charges": [],
            "charge": None,
            "refunds": [],
            "dispute": None,
            "evidence": {},
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
            window: dict[str, Any] = {}
            if (day := _day(rec.get("date"))) is not None:
                window = {
                    "from_date": date.fromordinal(day.toordinal() - 90).isoformat(),
                    "to_date": date.fromordinal(day.toordinal() + 90).isoformat(),
                }
            journal = await self._read(ctx, "read:journal", self.erp, "list_journal_entries", window)
            facts["journal"] = journal if isinstance(journal, list) else []
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
                refunds = await self._read(
                    ctx, "read:refunds", self.payments, "list_refunds", {"charge_id": charge_id}
                )
                facts["refunds"] = refunds if isinstance(refunds, list) else []
            if kind == "dispute":
                facts["evidence"] = await self._conversation(ctx, facts)
        return facts

    async def _conversation(self, ctx: RunContext, g: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The facts dispute evidence may cite: the charge, its refunds, and what the customer
        told us (help-desk tickets and comments, CRM notes), each under an id."""
        out: dict[str, dict[str, Any]] = {}
        charge = g["charge"] if isinstance(g["charge"], dict) else None
        if charge is None:
            return out
        cid = str(charge.get("id"))
        out[f"payments.charge:{cid}"] = {
            "type": "charge",
            **{
                k: charge.get(k)
                for k in ("amount", "currency", "status", "captured", "created", "description")
            },
            "amount_refunded": charge.get("amount_refunded"),
        }
        out[f"payments.refunds:{cid}"] = {
            "type": "refunds",
            "items": [
                {
                    "id": r.get("id"),
                    "amount": r.get("amount"),
                    "currency": r.get("currency"),
                    "status": r.get("status"),
                    "created": r.get("created"),
                    "arn": ((r.get("destination_details") or {}).get("card") or {}).get("reference"),
                }
                for r in g["refunds"]
            ],
        }
        email = str((charge.get("billing_details") or {}).get("email") or "").strip().lower()
        if not email and charge.get("customer"):
            customer = await self._read(
                ctx, "read:customer", self.payments, "get_customer", {"customer_id": charge["customer"]}
            )
            email = str((customer or {}).get("email") or "").strip().lower()
        if not email:
            return out
        ctx.know(requester_email=email)
        tickets = await self._read(
            ctx, "read:tickets", self.helpdesk, "search_tickets", {"query": f"requester:{email}"}
        )
        if isinstance(tickets, list):
            out[f"helpdesk.tickets:{email}"] = {"type": "ticket_search", "count": len(tickets)}
            for t in tickets[:MAX_TICKETS]:
                messages = [
                    {
                        "at": t.get("created_at"),
                        "text": f"{t.get('subject') or ''}\n{t.get('description') or ''}",
                    }
                ]
                comments = await self._read(
                    ctx,
                    f"read:comments:{t.get('id')}",
                    self.helpdesk,
                    "list_comments",
                    {"ticket_id": t.get("id")},
                )
                for c in comments if isinstance(comments, list) else []:
                    if c.get("author_id") == t.get("requester_id"):
                        messages.append({"at": c.get("created_at"), "text": c.get("body") or ""})
                out[f"helpdesk.ticket:{t.get('id')}"] = {
                    "type": "ticket",
                    "subject": t.get("subject"),
                    "created_at": t.get("created_at"),
                    "messages": messages,
                }
        contact = await self._read(ctx, "read:contact", self.crm, "find_contact", {"email": email})
        if self._has(ctx, self.crm, "find_contact"):
            notes: Any = []
            if isinstance(contact, dict) and contact.get("id"):
                notes = await self._read(
                    ctx, "read:notes", self.crm, "list_notes", {"contact_id": str(contact["id"])}
                )
            if isinstance(notes, list):
                out[f"crm.notes:{email}"] = {"type": "crm_notes", "count": len(notes)}
                for n in notes:
                    props = n.get("properties") or {}
                    out[f"crm.note:{n.get('id')}"] = {
                        "type": "crm_note",
                        "messages": [
                            {"at": props.get("hs_timestamp"), "text": str(props.get("hs_note_body") or "")}
                        ],
                    }
        return out

    async def __call__(self, ctx: RunContext) -> dict[str, Any]:
        rec: dict[str, Any] = dict(ctx.run.input["record"])
        if rec["kind"] == "reconciliation":
            return await self._reconcile(ctx, rec)
        total = Decimal(str(rec.get("amount") or 0))
        ctx.know(
            record_amount=record_cap(total, rec.get("currency")),
            requester_email=(rec.get("customer_email") or "").lower() or None,
            untrusted_text=[
                str(rec.get(k) or "") for k in ("description", "counterparty", "notes", "iban") if rec.get(k)
            ],
        )
        g = await self._gather(ctx, rec)
        own = await self._own(ctx)
        found = detect_anomalies(
            rec,
            vendor=g["vendor"],
            history=g["history"],
            existing=g["existing"],
            charges=g["charges"],
            charge=g["charge"],
            ledger_currency=self.ledger_currency,
        )
        if rec["kind"] == "invoice":
            in_journal = booked.journal_duplicates(rec, g["vendor"], g["journal"])
            found += in_journal
            found += booked.own_invoice_duplicates(rec, own, {str(x.get("entry_id")) for x in in_journal})
        if rec["kind"] == "refund":
            found += booked.refund_duplicates(rec.get("charge_id"), g["refunds"], own)
        anomalies = (await ctx.record("anomalies", "note", {"anomalies": found}))["anomalies"]
        accounts = [str(a["AccountNumber"]) for a in g["accounts"] if a.get("Active", True)]
        payable = next(
            (
                str(a["AccountNumber"])
                for a in g["accounts"]
                if "payable" in str(a.get("Name", "")).lower() and a.get("Type") == "LIABILITY"
            ),
            "",  # no payable account in the chart: the draft says so, a person picks one
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
        review = review_reasons(rec, out, g["vendor"], g["accounts"], anomalies)
        anomalies = (await ctx.record("review", "note", {"anomalies": anomalies + review}))["anomalies"]
        flags = sorted({*(out.get("anomalies") or []), *(a["kind"] for a in anomalies)})
        out["anomalies"] = flags
        out["suspected_fraud"] = bool(out.get("suspected_fraud")) or "payee_changed" in flags
        out["needs_review"] = bool(review) or bool(out.get("needs_review"))
        # The ERP's own id for the vendor, however the record named it: one invoice is one
        # (vendor, number), whether a copy gave the vendor's id or its name.
        out["vendor_id"] = str((g["vendor"] or {}).get("VendorId") or "") or None
        if review:
            out["rationale"] = f"{out.get('rationale', '')} Needs review: " + "; ".join(
                r["reason"] for r in review
            )
        classification = await ctx.record(
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
            "refunds": g["refunds"],
            "facts": g["evidence"],
            "payable_account": payable,
        }
        draft_out = await ctx.structured(
            "draft",
            self.prompts.request("finance/draft", variables, output_schema=DRAFT_SCHEMA),
        )
        check_balanced(draft_out, total if rec["kind"] == "invoice" else Decimal(0))
        if rec["kind"] == "dispute":
            draft_out, anomalies = await self._checked_evidence(ctx, draft_out, g, anomalies)
            kinds = sorted({*classification.get("anomalies", []), *(a["kind"] for a in anomalies)})
            classification = {**classification, "anomalies": kinds, "findings": anomalies}
            await ctx.record(
                "classification:evidence", "note", {}, run_fields={"classification": classification}
            )
        draft = await ctx.record("draft", "draft", draft_out, run_fields={"draft": draft_out})
        ctx.know(findings=gate_findings(rec, anomalies) + self._evidence_finding(rec, draft))

        wanted = {
            self.erp: ("post_journal_entry", "create_vendor"),
            self.payments: ("create_refund", "submit_dispute_evidence"),
            self.chat: ("post_message",),
        }
        tools = [t for t in ctx.catalogue if t.operation in wanted.get(t.connection, ())]
        variables = {
            "record": rec,
            "classification": classification,
            "draft": draft,
            "anomalies": anomalies,
            "vendor_proposed": booked.pending_vendor(rec, own) is not None,
            "channel": self.channel,
            "connections": {"erp": self.erp, "payments": self.payments, "chat": self.chat},
        }
        final = await ctx.agent_loop(
            "act",
            self.prompts.request("finance/act", variables),
            tools,
        )
        return {"summary": final.content}

    @staticmethod
    async def _checked_evidence(
        ctx: RunContext, draft_out: dict[str, Any], g: dict[str, Any], anomalies: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Check the draft's claims against the facts read; the evidence is written from the
        accepted claims only, and what was refused or speaks against us becomes a finding."""
        checked = evidence.check_claims(
            list(draft_out.get("claims") or []),
            g["evidence"],
            dispute_opened=(g["dispute"] or {}).get("created"),
        )
        extra = [
            {"kind": "unsupported_claim", "reason": f"claim {r['claim']} was left out: {r['reason']}"}
            for r in checked.rejected
        ] + checked.contrary
        anomalies = (await ctx.record("evidence_check", "note", {"anomalies": anomalies + extra}))[
            "anomalies"
        ]
        draft_out = {
            **draft_out,
            "text": checked.text,
            "claims": checked.claims,
            "rejected_claims": checked.rejected,
            "checked": True,
        }
        return draft_out, anomalies

    @staticmethod
    def _evidence_finding(rec: dict[str, Any], draft: dict[str, Any]) -> list[dict[str, Any]]:
        if rec["kind"] != "dispute":
            return []
        return [
            {
                "operation": "submit_dispute_evidence",
                # Every evidence field the issuer reads: the checked text, and nothing unchecked
                # beside it (Stripe's other fields would carry claims no one checked).
                "unless": {
                    "uncategorized_text": draft.get("text"),
                    "product_description": None,
                    "customer_email_address": None,
                },
                "level": "high",
                "reason": "the evidence is not the text whose claims were checked against the facts read, "
                "alone",
            }
        ]

    async def _reconcile(self, ctx: RunContext, rec: dict[str, Any]) -> dict[str, Any]:
        """Match the period's payouts against the ERP's journal and propose what is missing."""
        # A resumed run takes its report from the step: a long read's recorded result is trimmed.
        done = ctx.recorded("draft")
        report = dict(done.data) if done is not None else await self._report(ctx, rec)
        draft_out = {"type": "reconciliation", **report}
        draft = await ctx.record("draft", "draft", draft_out, run_fields={"draft": draft_out})
        kinds = [d["kind"] for d in report["differences"]]
        summary = {
            "category": "reconciliation",
            "confidence": None,
            "needs_review": bool(report["proposals"]),
            "rationale": f"{len(report['payouts'])} payouts, {len(report['matched'])} bookings matched, "
            f"{len(kinds)} differences" + (f" ({', '.join(kinds)})" if kinds else ""),
            "payouts": len(report["payouts"]),
            "matched": len(report["matched"]),
            "differences": kinds,
        }
        await ctx.record("classification", "classification", summary, run_fields={"classification": summary})
        tools = [t for t in ctx.catalogue if t.connection == self.erp and t.operation == "post_journal_entry"]
        variables = {
            "record": rec,
            "classification": summary,
            "draft": draft,
            "anomalies": [],
            "vendor_proposed": False,
            "connections": {"erp": self.erp, "payments": self.payments, "chat": self.chat},
            "channel": self.channel,
        }
        final = await ctx.agent_loop("act", self.prompts.request("finance/act", variables), tools)
        return {"summary": final.content}

    async def _report(self, ctx: RunContext, rec: dict[str, Any]) -> dict[str, Any]:
        """Read the period's payouts, what each paid out, and the journal; match them."""
        first, last = _period(rec.get("period"))
        payouts = await self._read(
            ctx,
            "read:payouts",
            self.payments,
            "list_payouts",
            {"created_from": _unix(first), "created_to": _unix(last, end=True)},
        )
        if payouts is None:
            raise RunFailed(f"could not read the payouts from {self.payments}")
        transactions: dict[str, list[dict[str, Any]]] = {}
        for p in payouts:
            txns = await self._read(
                ctx,
                f"read:payout:{p['id']}",
                self.payments,
                "list_balance_transactions",
                {"payout_id": p["id"]},
            )
            transactions[str(p["id"])] = txns if isinstance(txns, list) else []
        until = date.fromordinal(last.toordinal() + 15)
        journal = await self._read(
            ctx,
            "read:journal",
            self.erp,
            "list_journal_entries",
            {"from_date": first.isoformat(), "to_date": until.isoformat()},
        )
        if journal is None:
            raise RunFailed(f"could not read the journal from {self.erp}")
        chart = await self._read(ctx, "read:accounts", self.erp, "list_gl_accounts", {})
        pending = [
            b
            for b in await self._own(ctx)
            if b.get("operation") == "post_journal_entry" and b.get("status") in LIVE
        ]
        return recon.reconcile(
            (first, last),
            payouts,
            transactions,
            journal,
            accounts=recon.accounts_from_chart(chart if isinstance(chart, list) else []),
            pending=pending,
            ledger_currency=self.ledger_currency,
        )
