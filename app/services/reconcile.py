"""Month-end: do the books hold what the payment processor paid out? Matching, pure and explained.

For each payout created in the period, what the payments system says happened (its balance
transactions: card sales, processing fees, refunds, and the cash sent to the bank) is set
against the ERP's journal entries that quote it: the payout's id for sales, fees and cash, the
refund's id or its order number for a refund. Every expected booking ends as one of:
- matched: booked once, for the amount;
- missing: not booked; a balanced entry is proposed;
- booked twice: the extra entry is named and a reversing entry proposed;
- a different amount: an entry for the difference is proposed;
- in transit: the payout has not reached the bank yet, so no cash entry is due (explained,
  nothing proposed; a cash entry already booked for it is the difference then).
A dispute withdrawn from a payout (and one won back) is booked like a refund, on the disputes
account; a balance transaction of any other kind is named for a person, never left unsaid, and
a payout whose transactions do not add up to what it paid out says so.
Entries Switchboard already proposed and that wait in the queue count as booked, so running the
reconciliation twice proposes nothing twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from connectors.currency import exponent, major_text

REFERENCE = re.compile(r"\b(?:po|ch|re|txn|py)_[A-Za-z0-9]+\b|\b[A-Z]{2,5}-\d{3,}\b")
ON_THE_WAY = ("pending", "in_transit")
# Stripe's reporting categories of the `adjustment` balance transactions a dispute makes.
DISPUTES = ("dispute", "dispute_reversal")


@dataclass(frozen=True)
class Accounts:
    """GL accounts the payout's movements are booked to."""

    bank: str = "1000"
    clearing: str = "1010"
    sales: str = "4000"
    refunds: str = "4900"
    fees: str = "6500"
    disputes: str = "4900"  # chargebacks: with refunds unless the chart has an account of their own


def accounts_from_chart(chart: list[dict[str, Any]]) -> Accounts:
    """Find the accounts by name in the ERP's chart; the usual numbers where a name is not found."""

    def find(*words: str, default: str) -> str:
        for a in chart:
            name = str(a.get("Name") or "").lower()
            if a.get("Active", True) and all(w in name for w in words):
                return str(a.get("AccountNumber"))
        return default

    return Accounts(
        bank=find("cash", "operating", default="1000"),
        clearing=find("clearing", default="1010"),
        sales=find("revenue", "online", default="4000"),
        refunds=(refunds := find("refund", default="4900")),
        fees=find("fees", default="6500"),
        disputes=find("dispute", default=find("chargeback", default=refunds)),
    )


def references(text: str) -> set[str]:
    return {m.group(0).upper() for m in REFERENCE.finditer(text or "")}


# The ERP's ledger keeps two decimals (its journal refuses more): payouts in a currency with other
# minor units (JPY's none, KWD's three) are not compared in cents.
LEDGER_EXPONENT = 2


def _cents(value: Any) -> int:
    return int((Decimal(str(value or 0)) * 100).to_integral_value())


def _money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def _day(ts: Any) -> str:
    return datetime.fromtimestamp(int(ts), UTC).date().isoformat()


@dataclass
class Booking:
    """One entry's line on one account, for one reference."""

    entry: str  # EntryId, or "action:<id>" for one waiting in Switchboard's queue
    number: str
    day: str
    memo: str
    cents: int


def _bookings(
    entries: list[dict[str, Any]], pending: list[dict[str, Any]]
) -> list[tuple[set[str], str, str, Booking]]:
    """(references, account, side, booking) for every line of every entry, posted or pending."""
    out = []
    for e in entries:
        lines = e.get("Lines") or []
        text = " ".join([str(e.get("Memo") or "")] + [str(x.get("Description") or "") for x in lines])
        refs = references(text)
        for x in lines:
            debit, credit = _cents(x.get("Debit")), _cents(x.get("Credit"))
            side = "debit" if debit else "credit"
            b = Booking(
                str(e.get("EntryId")),
                str(e.get("JournalEntryNumber")),
                str(e.get("Date")),
                str(e.get("Memo")),
                debit or credit,
            )
            out.append((refs, str(x.get("Account")), side, b))
    for p in pending:
        args = p.get("arguments") or {}
        lines = args.get("lines") or []
        text = " ".join([str(args.get("memo") or "")] + [str(x.get("description") or "") for x in lines])
        refs = references(text)
        for x in lines:
            debit, credit = _cents(x.get("debit")), _cents(x.get("credit"))
            b = Booking(
                f"action:{p.get('action_id')}",
                f"pending action {p.get('action_id')}",
                str(args.get("date")),
                str(args.get("memo")),
                debit or credit,
            )
            out.append((refs, str(x.get("account")), "debit" if debit else "credit", b))
    return out


def _entry(day: str, memo: str, debit: str, credit: str, cents: int, text: str) -> dict[str, Any]:
    amount = float(Decimal(cents) / 100)
    return {
        "date": day,
        "memo": memo,
        "lines": [
            {"account": debit, "debit": amount, "credit": 0.0, "description": text},
            {"account": credit, "debit": 0.0, "credit": amount, "description": text},
        ],
    }


Settled = tuple[str, set[str], str, str, int, str, tuple[str, str, str]]  # settle()'s arguments


def _refund(t: dict[str, Any], pid: str, acc: Accounts) -> Settled:
    """How a refund in a payout is settled: found by its id or the order it names, on the refunds account."""
    refs = {str(t.get("source") or "").upper()} | references(str(t.get("description") or ""))
    refs.discard("")
    label = next((r for r in sorted(refs) if not r.startswith("RE_")), str(t.get("source")))
    fix = (f"Refund {label} ({t.get('source')})", acc.refunds, acc.clearing)
    item = f"refund {t.get('source')} ({label}) in payout {pid}"
    return item, refs, acc.refunds, "debit", -int(t.get("amount") or 0), _day(t.get("created")), fix


def _dispute(t: dict[str, Any], pid: str, acc: Accounts) -> Settled:
    """How a dispute's withdrawal (or its money won back) is settled: as a refund, on the disputes account."""
    amount, source = int(t.get("amount") or 0), str(t.get("source") or "")
    refs = {source.upper()} - {""}
    day = _day(t.get("created"))
    if amount < 0:
        fix = (f"Dispute {source}", acc.disputes, acc.clearing)
        return f"dispute withdrawal {source} in payout {pid}", refs, acc.disputes, "debit", -amount, day, fix
    fix = (f"Dispute {source} won back", acc.clearing, acc.disputes)
    return f"dispute won back {source} in payout {pid}", refs, acc.disputes, "credit", amount, day, fix


def _sorted_out(txns: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], ...]:
    """A payout's transactions as sales, refunds, disputes, and any other kind (its own payout aside)."""
    groups: tuple[list[dict[str, Any]], ...] = ([], [], [], [])
    for t in txns:
        kind = t.get("type")
        if kind in ("charge", "payment"):
            groups[0].append(t)
        elif kind in ("refund", "payment_refund"):
            groups[1].append(t)
        elif kind == "adjustment" and t.get("reporting_category") in DISPUTES:
            groups[2].append(t)
        elif kind != "payout":
            groups[3].append(t)
    return groups


def _unexplained(
    payout: dict[str, Any], txns: list[dict[str, Any]], unknown: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """What a payout holds that is not booked here (a kind of transaction not understood), and
    whether its transactions add up to what it paid out: for a person, with nothing proposed."""
    pid, cash = str(payout["id"]), int(payout.get("amount") or 0)
    found = []
    for t in unknown:
        kind, amount = str(t.get("reporting_category") or t.get("type")), int(t.get("amount") or 0)
        found.append(
            {
                "kind": "not_understood",
                "item": f"{kind} {t.get('source') or t.get('id')} in payout {pid}",
                "amount": _money(amount),
                "explanation": f"payout {pid} holds a {kind} of {_money(amount)} ({t.get('id')}) that this "
                "reconciliation does not book: book it by hand, or the clearing account keeps it",
                "proposal": None,
            }
        )
    moved = sum(
        int(t["net"]) if t.get("net") is not None else int(t.get("amount") or 0) - int(t.get("fee") or 0)
        for t in txns
        if t.get("type") != "payout"
    )
    if txns and moved != cash:
        found.append(
            {
                "kind": "does_not_add_up",
                "item": f"payout {pid}",
                "amount": _money(abs(cash - moved)),
                "explanation": f"payout {pid} paid out {_money(cash)}, but its transactions come to "
                f"{_money(moved)}: not all of what it paid out is listed; check it in the payments system",
                "proposal": None,
            }
        )
    return found


def reconcile(
    period: tuple[date, date],
    payouts: list[dict[str, Any]],
    transactions: dict[str, list[dict[str, Any]]],
    entries: list[dict[str, Any]],
    *,
    accounts: Accounts | None = None,
    pending: list[dict[str, Any]] | None = None,
    ledger_currency: str = "",
) -> dict[str, Any]:
    """The reconciliation report: per payout what was expected and found, the differences with
    their explanations, and the journal entries proposed for them."""
    acc = accounts or Accounts()
    booked = _bookings(entries, pending or [])
    first, last = period
    report: dict[str, Any] = {
        "period": f"{first.isoformat()}..{last.isoformat()}",
        "payouts": [],
        "matched": [],
        "differences": [],
        "proposals": [],
    }

    def found(refs: set[str], account: str, side: str) -> list[Booking]:
        return [b for r, a, s, b in booked if a == account and s == side and refs & r]

    def settle(
        item: str, refs: set[str], account: str, side: str, cents: int, day: str, fix: tuple[str, str, str]
    ) -> None:
        """Compare one expected booking with what the books hold (reversals net out); explain and propose."""
        memo_ref, debit, credit = fix
        other = "credit" if side == "debit" else "debit"
        hits, backs = found(refs, account, side), found(refs, account, other)
        net = sum(b.cents for b in hits) - sum(b.cents for b in backs)
        where = ", ".join(f"{b.number} ({b.day}, {_money(b.cents)})" for b in hits)
        if backs:
            where += "; reversed by " + ", ".join(f"{b.number} ({_money(b.cents)})" for b in backs)
        if net == cents and hits:
            report["matched"].append({"item": item, "amount": _money(cents), "booked_in": where})
            return
        if not hits:
            report["differences"].append(
                {
                    "kind": "missing",
                    "item": item,
                    "amount": _money(cents),
                    "explanation": f"{item} ({_money(cents)}) is in the payments system but not in the ERP's journal",
                    "proposal": len(report["proposals"]),
                }
            )
            report["proposals"].append(
                _entry(day, f"{memo_ref} (reconciliation)", debit, credit, cents, item)
            )
            return
        extra = hits[1 + len(backs) :]
        if extra and all(b.cents == cents for b in hits) and net == cents * (1 + len(extra)):
            for twin in extra:
                report["differences"].append(
                    {
                        "kind": "booked_twice",
                        "item": item,
                        "amount": _money(cents),
                        "explanation": f"{item} ({_money(cents)}) is booked {len(hits)} times: {where}; "
                        f"{twin.number} repeats {hits[0].number}",
                        "proposal": len(report["proposals"]),
                    }
                )
                report["proposals"].append(
                    _entry(
                        twin.day,
                        f"Reverse {twin.number}: {memo_ref} booked twice (reconciliation)",
                        credit,
                        debit,
                        cents,
                        f"reverses {twin.number}",
                    )
                )
            return
        gap = cents - net
        report["differences"].append(
            {
                "kind": "amount_differs",
                "item": item,
                "amount": _money(abs(gap)),
                "explanation": f"{item} is {_money(cents)} in the payments system but {_money(net)} in the "
                f"ERP's journal ({where})",
                "proposal": len(report["proposals"]),
            }
        )
        debit_, credit_ = (debit, credit) if gap > 0 else (credit, debit)
        report["proposals"].append(
            _entry(day, f"{memo_ref}: difference (reconciliation)", debit_, credit_, abs(gap), item)
        )

    for p in sorted(payouts, key=lambda x: int(x.get("created") or 0)):
        pid = str(p["id"])
        currency = str(p.get("currency") or "").upper()
        if exponent(currency) != LEDGER_EXPONENT or currency not in (ledger_currency.upper() or currency,):
            # Not the ledger's money (¥98,000 is 98000, not 980.00; 1,000.00 EUR is no 1,000.00 USD):
            # comparing or booking it needs the rate the bank applied, which only a person has.
            report["differences"].append(
                {
                    "kind": "other_currency",
                    "item": f"payout {pid}",
                    "amount": f"{major_text(int(p.get('amount') or 0), currency, grouped=True)} {currency}",
                    "explanation": f"payout {pid} is in {currency}, "
                    + (
                        f"whose amounts have {exponent(currency)} decimals; the ERP's ledger keeps two"
                        if exponent(currency) != LEDGER_EXPONENT
                        else f"and the ledger keeps {ledger_currency.upper()}"
                    )
                    + ", so it is neither compared nor booked here: book it by hand at the rate the bank applied",
                    "proposal": None,
                }
            )
            continue
        txns = transactions.get(pid) or []
        charges, refunds, disputes, unknown = _sorted_out(txns)
        gross = sum(int(t.get("amount") or 0) for t in charges)
        fees = sum(int(t.get("fee") or 0) for t in txns)
        day = _day(p.get("created"))
        report["payouts"].append(
            {
                "id": pid,
                "amount": _money(int(p.get("amount") or 0)),
                "currency": str(p.get("currency") or "").upper(),
                "status": p.get("status"),
                "created": day,
                "arrival_date": _day(p.get("arrival_date") or p.get("created")),
                "sales": _money(gross),
                "fees": _money(fees),
                "refunds": _money(-sum(int(t.get("amount") or 0) for t in refunds)),
                "transactions": len(txns),
            }
        )
        ref = {pid.upper()}
        settle(
            f"card sales of payout {pid}",
            ref,
            acc.sales,
            "credit",
            gross,
            day,
            (f"Stripe payout {pid}: card sales", acc.clearing, acc.sales),
        )
        if fees:
            settle(
                f"processing fees of payout {pid}",
                ref,
                acc.fees,
                "debit",
                fees,
                day,
                (f"Stripe payout {pid}: processing fees", acc.fees, acc.clearing),
            )
        for booking in [*(_refund(t, pid, acc) for t in refunds), *(_dispute(t, pid, acc) for t in disputes)]:
            settle(*booking)
        report["differences"].extend(_unexplained(p, txns, unknown))
        cash = int(p.get("amount") or 0)
        if p.get("status") in ON_THE_WAY:
            hits = found(ref, acc.bank, "debit")
            if not hits:
                report["differences"].append(
                    {
                        "kind": "in_transit",
                        "item": f"payout {pid} to the bank",
                        "amount": _money(cash),
                        "explanation": f"payout {pid} ({_money(cash)}) is {p.get('status')} and arrives on "
                        f"{_day(p.get('arrival_date'))}: not in the bank yet, so no cash entry is due; it stays "
                        "on the clearing account until it arrives",
                        "proposal": None,
                    }
                )
            else:
                report["differences"].append(
                    {
                        "kind": "booked_before_arrival",
                        "item": f"payout {pid} to the bank",
                        "amount": _money(cash),
                        "explanation": f"payout {pid} is {p.get('status')}, but the ERP already books it as "
                        f"received ({', '.join(b.number for b in hits)}); check the bank statement",
                        "proposal": None,
                    }
                )
        elif p.get("status") == "paid":
            settle(
                f"payout {pid} received in the bank",
                ref,
                acc.bank,
                "debit",
                cash,
                _day(p.get("arrival_date") or p.get("created")),
                (f"Stripe payout {pid} received", acc.bank, acc.clearing),
            )
    return report
