"""Believable accounts-payable data for the ERP simulator: Northwind's chart of
accounts, its suppliers and their invoices, and a few posted journal entries.

Two traps are planted on purpose, because catching them is the point of the
finance pipeline: a near-duplicate (Fabrikam FAB-22817 and FAB-22871: same vendor,
amount and date, digits transposed) and the same invoice number entered twice
(Adatum ADT-10912, once paid and once still open). Some vendor contacts are
also help-desk customers (Greta Lindqvist, Jonas Weber), so cross-system
questions have answers.

Last month's card sales are booked from Stripe's payouts (connectors/demo_books.py): sales,
processing fees, refunds and the cash received, one entry each, quoting the payout id or the
order number, with three differences planted for the month-end reconciliation to find.

Dates are relative to the state's clock, so the demo always has recent, open
invoices; tests pass a fixed clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from connectors import demo_books

if TYPE_CHECKING:
    from connectors.erp.simulator import ERPState


def iban(country: str, bban: str) -> str:
    """A valid IBAN from a country code and domestic account number (ISO 13616 mod-97)."""
    digits = "".join(str(int(ch, 36)) for ch in (bban + country + "00").upper())
    check = 98 - int(digits) % 97
    return f"{country}{check:02d}{bban}"


# (number, name, type, active)
ACCOUNTS: list[tuple[str, str, str, bool]] = [
    ("1000", "Cash - Operating account", "ASSET", True),
    ("1010", "Cash - Payment processor clearing", "ASSET", True),
    ("1200", "Accounts receivable", "ASSET", True),
    ("1300", "Inventory", "ASSET", True),
    ("1400", "Input VAT receivable", "ASSET", True),
    ("1500", "Prepaid expenses", "ASSET", True),
    ("2000", "Accounts payable", "LIABILITY", True),
    ("2100", "Sales tax payable", "LIABILITY", True),
    ("2200", "Accrued liabilities", "LIABILITY", True),
    ("3000", "Owner's equity", "EQUITY", True),
    ("4000", "Revenue - Online store", "REVENUE", True),
    ("4100", "Revenue - Northwind Plus memberships", "REVENUE", True),
    ("4900", "Sales returns and refunds", "REVENUE", True),
    ("5000", "Cost of goods sold", "EXPENSE", True),
    ("5100", "Freight in", "EXPENSE", True),
    ("6100", "Software and subscriptions", "EXPENSE", True),
    ("6200", "Office supplies", "EXPENSE", True),
    ("6300", "Travel", "EXPENSE", True),
    ("6400", "Professional services", "EXPENSE", True),
    ("6500", "Bank and payment fees", "EXPENSE", True),
    ("6600", "Entertainment (closed 2023, use 6300)", "EXPENSE", False),
]


@dataclass
class SeedVendor:
    vendor_id: str
    name: str
    tax_id: str
    contact: str
    email: str
    phone: str
    street: str
    city: str
    postal_code: str
    country: str
    iban: str
    bic: str
    currency: str
    terms_days: int
    gl_account: str
    active: bool = True


VENDORS: list[SeedVendor] = [
    SeedVendor(
        "V1001",
        "Contoso Kitchenware Ltd",
        "GB284719362",
        "Harriet Cole",
        "accounts@contoso-kitchenware.example",
        "+44 161 496 0732",
        "14 Ancoats Street",
        "Manchester",
        "M4 6DE",
        "GB",
        iban("GB", "BARC20041558672341"),
        "BARCGB22",
        "GBP",
        30,
        "5000",
    ),
    SeedVendor(
        "V1002",
        "Fabrikam Office Supplies B.V.",
        "NL859204317B01",
        "Pieter de Vries",
        "facturen@fabrikam-office.example",
        "+31 20 794 1180",
        "Keizersgracht 212",
        "Amsterdam",
        "1016 DZ",
        "NL",
        iban("NL", "INGB0006758321"),
        "INGBNL2A",
        "EUR",
        14,
        "6200",
    ),
    SeedVendor(
        "V1003",
        "Adatum Cloud Software Ltd",
        "IE3456789TH",
        "Niamh Byrne",
        "billing@adatum-cloud.example",
        "+353 1 443 8820",
        "Unit 4, Grand Canal Quay",
        "Dublin",
        "D02 X576",
        "IE",
        iban("IE", "AIBK93115212345678"),
        "AIBKIE2D",
        "EUR",
        30,
        "6100",
    ),
    SeedVendor(
        "V1004",
        "Lindqvist Design AB",
        "SE556812345601",
        "Greta Lindqvist",
        "greta.lindqvist@example.net",
        "+46 8 501 642 17",
        "Hornsgatan 58",
        "Stockholm",
        "118 21",
        "SE",
        iban("SE", "80000008327461905312"),
        "SWEDSESS",
        "EUR",
        30,
        "6400",
    ),
    SeedVendor(
        "V1005",
        "Blue Yonder Travel GmbH",
        "DE301245876",
        "Lena Hoffmann",
        "rechnung@blueyonder-travel.example",
        "+49 30 2089 4410",
        "Friedrichstraße 95",
        "Berlin",
        "10117",
        "DE",
        iban("DE", "100700000123456789"),
        "DEUTDEBBXXX",
        "EUR",
        7,
        "6300",
    ),
    SeedVendor(
        "V1006",
        "Weber Logistik GmbH",
        "DE276530914",
        "Jonas Weber",
        "jonas.weber@example.org",
        "+49 40 3250 7781",
        "Am Sandtorkai 41",
        "Hamburg",
        "20457",
        "DE",
        iban("DE", "200700240015482693"),
        "DEUTDEDBHAM",
        "EUR",
        30,
        "5100",
    ),
    SeedVendor(
        "V1007",
        "Litware Conseil Sàrl",
        "FR40123456824",
        "Camille Moreau",
        "compta@litware-conseil.example",
        "+33 1 84 88 21 07",
        "27 rue de la Roquette",
        "Paris",
        "75011",
        "FR",
        iban("FR", "30006000011234567890189"),
        "AGRIFRPP",
        "EUR",
        45,
        "6400",
        active=False,
    ),
]


@dataclass
class SeedInvoice:
    vendor_id: str
    invoice_number: str
    days_ago: int  # invoice date
    # (description, quantity, unit price, GL account)
    lines: list[tuple[str, str, str, str]]
    tax_rate: str = "0"
    status: str = "OPEN"
    paid_days_ago: int | None = None
    po_number: str | None = None
    entered_days_after: int = 1  # keyed in this many days after the invoice date
    description: str | None = None


INVOICES: list[SeedInvoice] = [
    SeedInvoice(
        "V1007",
        "LW-7731",
        62,
        [("Accounting review, Q3 close (12 hours)", "12", "150.00", "6400")],
        status="PAID",
        paid_days_ago=30,
        description="Quarter-close review",
    ),
    SeedInvoice(
        "V1001",
        "CK-3381",
        45,
        [
            ("Countertop blender BX-200, carton of 12", "20", "38.50", "5000"),
            ("Replacement jug BX-J", "24", "9.75", "5000"),
        ],
        status="PAID",
        paid_days_ago=16,
        po_number="PO-7781",
    ),
    SeedInvoice(
        "V1002",
        "FAB-22640",
        40,
        [("Shipping boxes 40x30x30 cm, bundle of 50", "4", "36.00", "6200")],
        tax_rate="0.21",
        status="PAID",
        paid_days_ago=27,
    ),
    SeedInvoice(
        "V1003",
        "ADT-10912",
        33,
        [("Adatum Helpdesk Suite, annual subscription, 15 seats", "15", "240.00", "6100")],
        status="PAID",
        paid_days_ago=12,
        description="Annual renewal (reverse charge)",
    ),
    SeedInvoice(
        "V1006",
        "WL-71188",
        30,
        [("Inbound freight Rotterdam-Hamburg, 2 pallets", "2", "310.00", "5100")],
        tax_rate="0.19",
        status="PAID",
        paid_days_ago=8,
        po_number="PO-7790",
    ),
    SeedInvoice(
        "V1004",
        "LD-0457",
        25,
        [("Spring catalogue photography and layout (40 hours)", "40", "95.00", "6400")],
        description="Spring catalogue",
    ),
    # The same Adatum invoice keyed in a second time, nine days after the first.
    SeedInvoice(
        "V1003",
        "ADT-10912",
        33,
        [("Adatum Helpdesk Suite, annual subscription, 15 seats", "15", "240.00", "6100")],
        entered_days_after=10,
        description="Annual renewal (reverse charge)",
    ),
    SeedInvoice(
        "V1005",
        "BYT-88213",
        21,
        [
            ("Flights BER-MXP, Milan housewares fair (2 travellers)", "2", "214.60", "6300"),
            ("Hotel, 3 nights, Milan", "1", "486.00", "6300"),
        ],
        status="PAID",
        paid_days_ago=14,
    ),
    SeedInvoice(
        "V1001",
        "CK-3467",
        18,
        [("Stand mixer SM-5, carton of 6", "10", "112.00", "5000")],
        po_number="PO-7802",
    ),
    # Near-duplicate pair: same vendor, amount and date; the number's digits transposed.
    SeedInvoice(
        "V1002",
        "FAB-22817",
        12,
        [
            ("Printer paper A4 80 g, box of 5 reams", "5", "41.90", "6200"),
            ("Toner cartridge 26X", "3", "91.00", "6200"),
        ],
        tax_rate="0.21",
    ),
    SeedInvoice(
        "V1002",
        "FAB-22871",
        12,
        [
            ("Printer paper A4 80 g, box of 5 reams", "5", "41.90", "6200"),
            ("Toner cartridge 26X", "3", "91.00", "6200"),
        ],
        tax_rate="0.21",
        entered_days_after=3,
    ),
    SeedInvoice(
        "V1006",
        "WL-71243",
        9,
        [("Inbound freight Rotterdam-Hamburg, 3 pallets", "3", "310.00", "5100")],
        tax_rate="0.19",
        po_number="PO-7811",
    ),
    SeedInvoice(
        "V1005",
        "BYT-88390",
        6,
        [("Rail tickets Berlin-Hamburg, supplier visit (2 travellers)", "2", "89.90", "6300")],
        status="VOID",
        description="Trip cancelled; credited by Blue Yonder",
    ),
    SeedInvoice(
        "V1004",
        "LD-0462",
        4,
        [("Product photo retouching (120 images)", "120", "4.50", "6400")],
    ),
    SeedInvoice(
        "V1003",
        "ADT-11047",
        3,
        [("Inventory sync add-on, monthly", "1", "180.00", "6100")],
    ),
    SeedInvoice(
        "V1006",
        "WL-71251",
        2,
        [("Express courier surcharge", "1", "85.00", "5100")],
        tax_rate="0.19",
    ),
]


@dataclass
class SeedEntry:
    entry_id: str
    days_ago: int
    memo: str
    # (account, debit, credit, description)
    lines: list[tuple[str, str, str, str]] = field(default_factory=list)


JOURNAL_ENTRIES: list[SeedEntry] = [
    SeedEntry(
        "NWERP-IMP-2291",
        33,
        "Adatum ADT-10912 annual subscription",
        [
            ("1500", "3600.00", "0", "Prepaid software, 12 months"),
            ("2000", "0", "3600.00", "Adatum Cloud Software Ltd"),
        ],
    ),
    SeedEntry(
        "NWERP-IMP-2304",
        21,
        "Blue Yonder BYT-88213 Milan fair travel",
        [
            ("6300", "915.20", "0", "Flights and hotel, Milan housewares fair"),
            ("2000", "0", "915.20", "Blue Yonder Travel GmbH"),
        ],
    ),
    SeedEntry(
        "NWERP-IMP-2312",
        16,
        "Payment Contoso CK-3381",
        [
            ("2000", "1004.00", "0", "Contoso Kitchenware Ltd"),
            ("1000", "0", "1004.00", "Bank transfer"),
        ],
    ),
    SeedEntry(
        "NWERP-IMP-2318",
        7,
        "Online store sales, week 2",
        [
            ("1010", "12480.00", "0", "Payment processor settlement"),
            ("4000", "0", "11555.56", "Web orders"),
            ("2100", "0", "924.44", "Sales tax collected"),
        ],
    ),
    SeedEntry(
        "NWERP-IMP-2325",
        5,
        "Payment processor fees, week 2",
        [
            ("6500", "361.92", "0", "Card processing fees"),
            ("1010", "0", "361.92", "Deducted from settlement"),
        ],
    ),
]


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def seed(state: ERPState) -> None:
    """Fill an empty state: accounts, vendors, invoices (in entry order), journal entries."""
    today = state.today()
    for number, name, kind, active in ACCOUNTS:
        state.accounts[number] = {"AccountNumber": number, "Name": name, "Type": kind, "Active": active}
    for v in VENDORS:
        state.vendors[v.vendor_id] = {
            "VendorId": v.vendor_id,
            "Name": v.name,
            "TaxId": v.tax_id,
            "ContactName": v.contact,
            "Email": v.email,
            "Phone": v.phone,
            "Address": {
                "Street": v.street,
                "City": v.city,
                "PostalCode": v.postal_code,
                "Country": v.country,
            },
            "IBAN": v.iban,
            "BIC": v.bic,
            "Currency": v.currency,
            "PaymentTermsDays": v.terms_days,
            "DefaultGLAccount": v.gl_account,
            "Active": v.active,
        }
    for inv in sorted(INVOICES, key=lambda i: i.days_ago - i.entered_days_after, reverse=True):
        vendor = state.vendors[inv.vendor_id]
        invoice_date = today - timedelta(days=inv.days_ago)
        lines: list[dict[str, Any]] = []
        subtotal = Decimal("0.00")
        for n, (text, qty, price, gl) in enumerate(inv.lines, start=1):
            amount = _cents(Decimal(qty) * Decimal(price))
            lines.append(
                {
                    "LineNumber": n,
                    "Description": text,
                    "Quantity": Decimal(qty),
                    "UnitPrice": Decimal(price),
                    "Amount": amount,
                    "GLAccount": gl,
                }
            )
            subtotal += amount
        tax = _cents(subtotal * Decimal(inv.tax_rate))
        entered = datetime.combine(invoice_date + timedelta(days=inv.entered_days_after), time(9, 30))
        state.add_invoice(
            {
                "InvoiceNumber": inv.invoice_number,
                "VendorId": inv.vendor_id,
                "VendorName": vendor["Name"],
                "InvoiceDate": invoice_date,
                "DueDate": invoice_date + timedelta(days=vendor["PaymentTermsDays"]),
                "EnteredAt": entered.replace(tzinfo=state.now().tzinfo),
                "PONumber": inv.po_number,
                "Description": inv.description,
                "Currency": vendor["Currency"],
                "Subtotal": subtotal,
                "TaxAmount": tax,
                "TotalAmount": subtotal + tax,
                "Status": inv.status,
                "PaidDate": today - timedelta(days=inv.paid_days_ago) if inv.paid_days_ago else None,
                "PaymentReference": (
                    f"PAY-{(today - timedelta(days=inv.paid_days_ago)):%Y%m%d}-{inv.vendor_id}"
                    if inv.paid_days_ago
                    else None
                ),
                "Lines": {"Line": lines},
            }
        )
    for entry in JOURNAL_ENTRIES:
        state.post_journal_entry(
            entry.entry_id,
            today - timedelta(days=entry.days_ago),
            entry.memo,
            [
                {"Account": a, "Debit": Decimal(d), "Credit": Decimal(c), "Description": text}
                for a, d, c, text in entry.lines
            ],
            posted_by="DATAIMPORT",
            posted_at=datetime.combine(today - timedelta(days=entry.days_ago), time(17, 5)).replace(
                tzinfo=state.now().tzinfo
            ),
        )
    _book_last_month(state)


def _money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def month_entries(today: date) -> list[tuple[str, date, str, list[tuple[str, str, str, str]]]]:
    """The bookkeeper's entries for last month's payouts: (entry id, date, memo, lines).
    Planted: payout B's fees are missing, the refund of NW-43103 is booked twice, and
    payout C (in transit) has no cash entry yet."""
    first, last = demo_books.month_before(today)
    out: list[tuple[str, date, str, list[tuple[str, str, str, str]]]] = []
    for n, p in enumerate(demo_books.PAYOUTS):
        day = demo_books.day_of(first, last, p.day)
        gross, fees, _, net = demo_books.payout_totals(p)
        tag = f"NWERP-STR-{first:%y%m}-{n + 1}"
        out.append(
            (
                f"{tag}-S",
                day,
                f"Stripe payout {p.payout_id}: card sales",
                [
                    ("1010", _money(gross), "0", "Card sales in payout"),
                    ("4000", "0", _money(gross), "Web orders"),
                ],
            )
        )
        if n != 1:  # planted: the second payout's fees were never booked
            out.append(
                (
                    f"{tag}-F",
                    day,
                    f"Stripe payout {p.payout_id}: processing fees",
                    [
                        ("6500", _money(fees), "0", "Card processing fees"),
                        ("1010", "0", _money(fees), "Stripe fees"),
                    ],
                )
            )
        for order in p.refunds:
            refund = next(r for r in demo_books.REFUNDS if r.order == order)
            when = demo_books.day_of(first, last, refund.day)
            copies = 2 if order == "NW-43103" else 1  # planted: this refund booked twice
            for k in range(copies):
                out.append(
                    (
                        f"{tag}-R{order[-3:]}{'-' + str(k) if k else ''}",
                        min(when + timedelta(days=2 * k), last),
                        f"Refund {order} (Stripe)",
                        [
                            ("4900", _money(refund.amount), "0", f"Refund of order {order}"),
                            ("1010", "0", _money(refund.amount), "Refunded by card"),
                        ],
                    )
                )
        if p.status == "paid":
            received = min(day + timedelta(days=demo_books.ARRIVAL_DAYS), last)
            out.append(
                (
                    f"{tag}-C",
                    received,
                    f"Stripe payout {p.payout_id} received",
                    [
                        ("1000", _money(net), "0", "Bank: STRIPE PAYOUT"),
                        ("1010", "0", _money(net), "Payout to bank"),
                    ],
                )
            )
    return out


def _book_last_month(state: ERPState) -> None:
    for entry_id, day, memo, lines in month_entries(state.today()):
        state.post_journal_entry(
            entry_id,
            day,
            memo,
            [
                {"Account": a, "Debit": Decimal(d), "Credit": Decimal(c), "Description": t}
                for a, d, c, t in lines
            ],
            posted_by="BOOKKEEPER",
            posted_at=datetime.combine(day, time(16, 30)).replace(tzinfo=state.now().tzinfo),
        )
