"""Has this already been booked or paid? Checks against what was posted, not only what was filed.

An invoice can be in the ERP's journal without being an AP invoice (Switchboard posts journal
entries), and a refund can be done or waiting in the queue. So a record is checked against:
- the ERP's journal: an entry quoting the invoice number, or one of the same total naming the
  same vendor within a few days;
- Switchboard's own journal entries and refunds of other runs, pending ones included;
- the payments system's refunds of the charge.
Each finding says what it matched, so a person can look it up.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.currency import major_text

WINDOW_DAYS = 7
INVOICE_DUPLICATES = (
    "duplicate_invoice",
    "possible_duplicate",
    "already_booked",
    "duplicate_booking",
    "duplicate_pending",
)
DONE = "succeeded"


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _norm(number: Any) -> str:
    """An invoice number by its letters and digits: "INV-7781", "inv 7781" and "INV/7781" are
    one number however a copy spelled it."""
    return re.sub(r"[^0-9A-Z]", "", str(number or "").upper())


def _entry_text(entry: dict[str, Any]) -> str:
    lines = entry.get("Lines") or []
    return " ".join([str(entry.get("Memo") or "")] + [str(x.get("Description") or "") for x in lines])


def _quotes(text: str, number: str) -> bool:
    """Whether `text` quotes the (normalised) number, spelled with or without separators."""
    spelled = r"[\s\-/._#]?".join(re.escape(c) for c in number)
    return bool(number) and re.search(rf"(?<![A-Z0-9]){spelled}(?![A-Z0-9])", text.upper()) is not None


def _close(a: Any, b: Any, days: int = WINDOW_DAYS) -> bool:
    x, y = _day(a), _day(b)
    return x is not None and y is not None and abs((x - y).days) <= days


def _vendor_words(rec: dict[str, Any], vendor: dict[str, Any] | None) -> list[str]:
    names = [str((vendor or {}).get("Name") or ""), str(rec.get("counterparty") or "")]
    return [w for n in names for w in re.findall(r"[A-Za-z]{4,}", n)][:2]


def journal_duplicates(
    rec: dict[str, Any], vendor: dict[str, Any] | None, entries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """An invoice already in the ERP's journal: quoted by number, or the same total for the same
    vendor within WINDOW_DAYS."""
    out: list[dict[str, Any]] = []
    number = _norm(rec.get("invoice_number"))
    amount = Decimal(str(rec.get("amount") or 0))
    words = [w.upper() for w in _vendor_words(rec, vendor)]
    for e in entries:
        text = _entry_text(e)
        where = f"{e.get('JournalEntryNumber')} of {e.get('Date')} ({e.get('Memo')})"
        if _quotes(text, number):
            out.append(
                {
                    "kind": "already_booked",
                    "reason": f"invoice {str(rec.get('invoice_number')).strip()} is already booked in the "
                    f"ERP's journal: {where}",
                    "entry_id": e.get("EntryId"),
                }
            )
        elif (
            Decimal(str(e.get("TotalDebit") or 0)) == amount
            and _close(e.get("Date"), rec.get("date"))
            and any(w in text.upper() for w in words)
        ):
            out.append(
                {
                    "kind": "possible_duplicate",
                    "reason": f"the ERP's journal has {where} for the same amount {amount} and vendor "
                    f"within {WINDOW_DAYS} days",
                    "entry_id": e.get("EntryId"),
                }
            )
    return out


def invoice_key(rec: dict[str, Any], vendor_id: str | None = None) -> tuple[str, str] | None:
    """(vendor, invoice number) as one invoice is known by, normalised; None without a number.
    `vendor_id` is the vendor the run resolved in the ERP, which wins over how the record named it."""
    number = _norm(rec.get("invoice_number"))
    who = str(vendor_id or rec.get("vendor_id") or rec.get("counterparty") or "").strip().lower()
    return (who, number) if number else None


def same_invoice(a: dict[str, Any], a_vendor: str | None, b: dict[str, Any], b_vendor: str | None) -> bool:
    """Whether two records are one invoice: the same number from the same vendor. A vendor named
    by id in one copy and by name in the other (and resolved in neither run) is taken as the
    same when the amounts agree too: booking one invoice twice costs more than asking."""
    ka, kb = invoice_key(a, a_vendor), invoice_key(b, b_vendor)
    if ka is None or kb is None or ka[1] != kb[1]:
        return False
    if ka[0] == kb[0]:
        return True
    by_id_a, by_id_b = bool(a_vendor or a.get("vendor_id")), bool(b_vendor or b.get("vendor_id"))
    return by_id_a != by_id_b and _amount(a) == _amount(b) and _amount(a) is not None


def _amount(rec: dict[str, Any]) -> Decimal | None:
    try:
        return Decimal(str(rec.get("amount")))
    except (ArithmeticError, ValueError):
        return None


def own_invoice_duplicates(
    rec: dict[str, Any], own: list[dict[str, Any]], seen_entries: set[str]
) -> list[dict[str, Any]]:
    """The same invoice booked, or waiting to be booked, by another of Switchboard's runs."""
    out: list[dict[str, Any]] = []
    number = _norm(rec.get("invoice_number"))
    amount = Decimal(str(rec.get("amount") or 0))
    who = str(rec.get("vendor_id") or rec.get("counterparty") or "").strip().lower()
    for b in own:
        other = b.get("record") or {}
        if b.get("operation") != "post_journal_entry" or b.get("action_id") in seen_entries:
            continue
        same_number = bool(number) and _norm(other.get("invoice_number")) == number
        same_deal = (
            Decimal(str(other.get("amount") or 0)) == amount
            and str(other.get("vendor_id") or other.get("counterparty") or "").strip().lower() == who
            and _close(other.get("date"), rec.get("date"))
        )
        if not (same_number or same_deal):
            continue
        what = f"invoice {number}" if same_number else f"an invoice of {amount} from the same vendor"
        if b.get("status") == DONE:
            kind, state = "duplicate_booking", "was booked by Switchboard"
        else:
            kind, state = "duplicate_pending", f"already has a journal entry {b.get('status')} in the queue"
        out.append(
            {
                "kind": kind,
                "reason": f"{what} {state} (action {b.get('action_id')}, run {b.get('run_id')})",
                "action_id": b.get("action_id"),
            }
        )
    return out


def refund_duplicates(
    charge_id: str | None, refunds: list[dict[str, Any]], own: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A second refund for a charge that has one done (in payments) or pending (in Switchboard)."""
    if not charge_id:
        return []
    out: list[dict[str, Any]] = []
    for r in refunds:
        if r.get("status") in ("failed", "canceled"):
            continue
        amount = major_text(int(r.get("amount") or 0), r.get("currency"))
        out.append(
            {
                "kind": "duplicate_refund",
                "reason": f"charge {charge_id} already has refund {r.get('id')} of {amount} "
                f"{str(r.get('currency') or '').upper()} ({r.get('status')}): a second refund needs a "
                "person to confirm it is not the same one",
            }
        )
    for b in own:
        if b.get("operation") == "create_refund" and (b.get("arguments") or {}).get("charge_id") == charge_id:
            state = (
                "was made by Switchboard" if b.get("status") == DONE else f"is {b.get('status')} in the queue"
            )
            out.append(
                {
                    "kind": "duplicate_refund",
                    "reason": f"a refund of charge {charge_id} {state} (action {b.get('action_id')}, "
                    f"run {b.get('run_id')})",
                }
            )
    return out


def pending_vendor(rec: dict[str, Any], own: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A vendor creation for this counterparty already proposed by another run."""
    name = str(rec.get("counterparty") or "").strip().lower()
    for b in own:
        if (
            b.get("operation") == "create_vendor"
            and str((b.get("arguments") or {}).get("name") or "").strip().lower() == name
        ):
            return b
    return None
