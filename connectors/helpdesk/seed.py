"""Believable help-desk data for the demo and tests: Northwind, a home-goods shop
with a "Northwind Plus" membership.

Everything is written through the simulator's own ticket methods, so seeded
tickets have the same audits and comments a real Zendesk history would.
Ticket ids start at 1, in the order of `TICKETS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.helpdesk.simulator import HelpdeskState

API_USER_EMAIL = "switchboard@northwind.example"

# (name, email, role, locale, time zone)
USERS: list[tuple[str, str, str, str, str]] = [
    ("Priya Shah", "priya.shah@northwind.example", "admin", "en-US", "America/New_York"),
    ("Marco Rossi", "marco.rossi@northwind.example", "agent", "en-US", "Europe/Rome"),
    ("Aiko Tanaka", "aiko.tanaka@northwind.example", "agent", "en-US", "Asia/Tokyo"),
    ("Switchboard", API_USER_EMAIL, "agent", "en-US", "UTC"),
    ("Dana Whitfield", "dana.whitfield@example.com", "end-user", "en-US", "America/Chicago"),
    ("Jonas Weber", "jonas.weber@example.org", "end-user", "de", "Europe/Berlin"),
    ("Sam Okafor", "sam.okafor@example.com", "end-user", "en-GB", "Europe/London"),
    ("Greta Lindqvist", "greta.lindqvist@example.net", "end-user", "en-US", "Europe/Stockholm"),
    ("Raj Patel", "raj.patel@example.org", "end-user", "en-US", "America/Los_Angeles"),
    ("Maria Gonzalez", "maria.gonzalez@example.com", "end-user", "es", "America/Mexico_City"),
    ("Kevin Doyle", "kevin.doyle@example.net", "end-user", "en-US", "America/Denver"),
]


@dataclass
class SeedComment:
    author: str  # email
    hours_ago: float
    body: str
    public: bool = True
    set: dict[str, Any] = field(default_factory=dict)  # ticket fields changed with this comment


@dataclass
class SeedTicket:
    subject: str
    requester: str
    hours_ago: float
    body: str
    priority: str | None = None
    status: str = "new"
    tags: list[str] = field(default_factory=list)
    type: str | None = "question"
    assignee: str | None = None
    comments: list[SeedComment] = field(default_factory=list)


TICKETS: list[SeedTicket] = [
    SeedTicket(
        subject="Refund for a blender that arrived broken",
        requester="dana.whitfield@example.com",
        hours_ago=50,
        body=(
            "Hi, my order NW-48102 (Vitamix-style blender, $129.00) arrived today with a cracked jug. "
            "The box looked fine from the outside. I'd like a refund rather than a replacement, please."
        ),
        priority="normal",
        status="open",
        tags=["refund", "damaged_item"],
        assignee="marco.rossi@northwind.example",
        comments=[
            SeedComment(
                "marco.rossi@northwind.example",
                46,
                "Hi Dana, I'm sorry the blender arrived damaged. Could you send a photo of the crack "
                "and of the shipping label? As soon as I have them I can start the refund.",
                set={"status": "pending"},
            ),
            SeedComment(
                "dana.whitfield@example.com",
                20,
                "Photos attached - the crack runs down the side of the jug. Label is on the second photo.",
                set={"status": "open"},
            ),
        ],
    ),
    SeedTicket(
        subject="Can't log in after resetting my password",
        requester="sam.okafor@example.com",
        hours_ago=6,
        body=(
            "I reset my password this morning using the link in the email, but the site still says "
            "'incorrect email or password'. I've tried three times and now it says my account is "
            "temporarily locked. Can you help?"
        ),
        priority="normal",
        tags=["login", "account_access"],
    ),
    SeedTicket(
        subject="Order NW-47761 still hasn't arrived after two weeks",
        requester="greta.lindqvist@example.net",
        hours_ago=75,
        body=(
            "I ordered a set of linen curtains on the 2nd and the tracking page hasn't changed in "
            "nine days ('in transit - Malmö hub'). Your site says 5-7 business days to Sweden. "
            "Is the parcel lost?"
        ),
        priority="normal",
        status="open",
        tags=["shipping", "delay", "international"],
        assignee="aiko.tanaka@northwind.example",
        comments=[
            SeedComment(
                "aiko.tanaka@northwind.example",
                70,
                "Hi Greta, thanks for your patience. The carrier confirms the parcel is held at customs "
                "in Malmö. I've asked them to release it; you should get an update within 2 business days.",
                set={"status": "pending"},
            ),
        ],
    ),
    SeedTicket(
        subject="Charged twice for my Plus membership",
        requester="raj.patel@example.org",
        hours_ago=3,
        body=(
            "My card statement shows two charges of $9.99 from NORTHWIND*PLUS on the 3rd. I only have "
            "one account. Please refund the duplicate charge."
        ),
        priority="high",
        tags=["billing", "double_charge"],
    ),
    SeedTicket(
        subject="App crashes when I open my order history",
        requester="maria.gonzalez@example.com",
        hours_ago=30,
        body=(
            "Every time I tap 'Orders' in the iPhone app (version 4.12.0, iOS 17.4) the app closes. "
            "Reinstalling didn't help. The website works fine."
        ),
        priority="normal",
        status="open",
        tags=["bug", "ios", "mobile_app"],
        type="problem",
        assignee="aiko.tanaka@northwind.example",
        comments=[
            SeedComment(
                "aiko.tanaka@northwind.example",
                28,
                "Reproduced on an iPhone 13 with iOS 17.4 and an account with more than 50 orders. "
                "Filed ENG-2231 for the mobile team.",
                public=False,
            ),
        ],
    ),
    SeedTicket(
        subject="Feature request: share my wishlist with family",
        requester="dana.whitfield@example.com",
        hours_ago=120,
        body=(
            "It would be great to send my wishlist to family before birthdays, maybe as a link they "
            "can open without an account. Other shops do this. Just a suggestion!"
        ),
        priority="low",
        tags=["feature_request", "wishlist"],
        type="task",
    ),
    SeedTicket(
        subject="THIRD time asking - where is my refund???",
        requester="kevin.doyle@example.net",
        hours_ago=200,
        body=(
            "I returned the standing desk (order NW-45530) a month ago. You confirmed you received it. "
            "I still have NOT been refunded $349. This is ridiculous."
        ),
        priority="high",
        status="open",
        tags=["refund", "return"],
        assignee="marco.rossi@northwind.example",
        comments=[
            SeedComment(
                "marco.rossi@northwind.example",
                190,
                "Hi Kevin, we received the desk on the 14th and the refund was issued the same day. "
                "Banks usually take 5-10 business days to show it.",
                set={"status": "pending"},
            ),
            SeedComment(
                "kevin.doyle@example.net",
                4,
                "It has been way more than 10 business days. Nothing on my card. I've waited long "
                "enough - if this isn't sorted today I'm disputing the charge with my bank and leaving "
                "a review everywhere I can. Unbelievable service.",
                set={"status": "open"},
            ),
        ],
    ),
    SeedTicket(
        subject="Rechnung für Bestellung NW-47102 benötigt",
        requester="jonas.weber@example.org",
        hours_ago=10,
        body=(
            "Guten Tag, für meine Bestellung NW-47102 (Schreibtischlampe, 59,90 €) brauche ich eine "
            "Rechnung mit meiner Firmenadresse und USt-IdNr. DE298765432 für die Buchhaltung. "
            "Können Sie mir die Rechnung bitte per E-Mail schicken? Vielen Dank, Jonas Weber"
        ),
        tags=["invoice", "billing"],
    ),
    SeedTicket(
        subject="How do I cancel Northwind Plus?",
        requester="maria.gonzalez@example.com",
        hours_ago=2,
        body=(
            "I'd like to cancel my Plus membership before it renews next week. I can't find the "
            "option in my account settings."
        ),
        priority="low",
        tags=["subscription", "cancellation"],
    ),
    SeedTicket(
        subject="Lost my phone - can't get my two-factor code",
        requester="greta.lindqvist@example.net",
        hours_ago=8,
        body=(
            "My phone was stolen yesterday and I can't get the 6-digit code to log in. I don't "
            "have the backup codes. I have an order arriving this week and need to change the address."
        ),
        priority="high",
        status="open",
        tags=["2fa", "account_access"],
        assignee="priya.shah@northwind.example",
    ),
    SeedTicket(
        subject="GDPR request: a copy of all my personal data",
        requester="raj.patel@example.org",
        hours_ago=96,
        body=(
            "Under GDPR Article 15 I'm requesting a copy of all personal data you hold about me, "
            "including order history and marketing preferences."
        ),
        priority="normal",
        status="open",
        tags=["privacy", "data_export"],
        assignee="priya.shah@northwind.example",
        comments=[
            SeedComment(
                "priya.shah@northwind.example",
                90,
                "Hi Raj, we've received your request. To protect your account we need to verify it's "
                "you: please reply from the email address on your account. We'll send the export "
                "within 30 days of verification.",
            ),
            SeedComment(
                "priya.shah@northwind.example",
                89,
                "Waiting on identity verification before starting the export. Legal deadline: 30 days.",
                public=False,
                set={"status": "hold"},
            ),
        ],
    ),
    SeedTicket(
        subject="Change the billing address on my account",
        requester="sam.okafor@example.com",
        hours_ago=150,
        body="I moved house. How do I update the billing address for my saved card?",
        priority="low",
        status="open",
        tags=["billing", "account"],
        assignee="marco.rossi@northwind.example",
        comments=[
            SeedComment(
                "marco.rossi@northwind.example",
                148,
                "Hi Sam, go to Account > Payment methods, choose the card and click Edit billing "
                "address. Our guide 'Change your billing details' has screenshots.",
                set={"status": "pending"},
            ),
            SeedComment("sam.okafor@example.com", 140, "Found it, all done. Thanks!"),
            SeedComment(
                "marco.rossi@northwind.example",
                139,
                "Glad that worked, Sam. I'll close this ticket; just reply if anything else comes up.",
                set={"status": "solved"},
            ),
        ],
    ),
]

SECTIONS = {
    "orders": 360000001001,
    "billing": 360000001002,
    "account": 360000001003,
    "plus": 360000001004,
}

# (title, section, label_names, html body)
ARTICLES: list[tuple[str, str, list[str], str]] = [
    (
        "Refund policy",
        "billing",
        ["refund", "returns", "money back"],
        "<p>We want you to love what you bought. If you don't, you can ask for a refund within "
        "<strong>30 days</strong> of delivery.</p>"
        "<h2>What can be refunded</h2><ul>"
        "<li>Unused items in their original packaging: full refund of the item price.</li>"
        "<li>Items that arrived damaged or faulty: full refund including shipping. Please send a "
        "photo of the damage and of the shipping label.</li>"
        "<li>Northwind Plus membership: refundable within 14 days of a renewal if you have not "
        "used any Plus benefit since.</li></ul>"
        "<h2>How long it takes</h2><p>We issue the refund within 2 business days of receiving the "
        "return (or the photos, for damaged items). Your bank then takes <strong>5-10 business "
        "days</strong> to show it on your statement.</p>"
        "<p>Refunds go back to the original payment method. If it has been more than 10 business "
        "days, contact us with your order number and we'll send you the refund reference (ARN) "
        "so your bank can trace it.</p>",
    ),
    (
        "How to reset your password",
        "account",
        ["password", "login", "sign in"],
        "<p>If you forgot your password or it stopped working:</p><ol>"
        '<li>Go to <a href="https://northwind.example/login">northwind.example/login</a> and click '
        "<em>Forgot password?</em></li>"
        "<li>Enter the email address on your account. We send a reset link that is valid for "
        "<strong>60 minutes</strong>.</li>"
        "<li>Choose a new password of at least 10 characters.</li></ol>"
        "<h2>Still can't sign in?</h2><p>After 5 failed attempts your account is locked for "
        "30 minutes to protect it. Wait for the lock to expire, then sign in with the new "
        "password. Clear saved passwords in your browser if it keeps filling in the old one.</p>",
    ),
    (
        "Shipping times and tracking your order",
        "orders",
        ["shipping", "delivery", "tracking"],
        "<p>Orders leave our warehouse within 1 business day.</p>"
        "<table><tr><th>Destination</th><th>Standard</th><th>Express</th></tr>"
        "<tr><td>United States</td><td>3-5 business days</td><td>1-2 business days</td></tr>"
        "<tr><td>Canada</td><td>5-8 business days</td><td>2-3 business days</td></tr>"
        "<tr><td>EU and UK</td><td>5-7 business days</td><td>2-4 business days</td></tr></table>"
        "<p>You get a tracking link by email when your parcel ships. International parcels can "
        "be held by customs for a few extra days; the tracking page then shows <em>in transit</em> "
        "without updates.</p><p>If your tracking hasn't changed for <strong>7 business "
        "days</strong>, contact us and we'll open an investigation with the carrier. Lost parcels "
        "are replaced or refunded.</p>",
    ),
    (
        "Change your billing details",
        "billing",
        ["billing", "payment method", "address"],
        "<p>To change the card or billing address we charge:</p><ol>"
        "<li>Sign in and open <strong>Account &gt; Payment methods</strong>.</li>"
        "<li>Choose the card and click <em>Edit billing address</em>, or <em>Add card</em> to use a "
        "new one.</li><li>Set the new card as default. Your Plus membership renews on the default "
        "card.</li></ol><p>Changes apply to future orders only; invoices already issued keep the "
        "old address. See <em>Download invoices and receipts</em> to request a corrected invoice.</p>",
    ),
    (
        "Cancel your Northwind Plus membership",
        "plus",
        ["subscription", "cancel", "plus"],
        "<p>You can cancel Northwind Plus at any time:</p><ol>"
        "<li>Open <strong>Account &gt; Membership</strong>.</li>"
        "<li>Click <em>Manage membership</em> and then <em>Cancel Plus</em>.</li>"
        "<li>Confirm. You'll get an email confirmation.</li></ol>"
        "<p>Your benefits last until the end of the period you paid for; you won't be charged "
        "again. In the mobile app the option is under <em>Profile &gt; Membership</em>.</p>"
        "<p>Cancelled right after a renewal by mistake? See our <em>Refund policy</em>: renewals "
        "are refundable within 14 days if no Plus benefit was used.</p>",
    ),
    (
        "Two-factor authentication: set it up, or get back in without your phone",
        "account",
        ["2fa", "two-factor", "security", "login"],
        "<p>Two-factor authentication (2FA) asks for a 6-digit code from an authenticator app "
        "when you sign in. Turn it on under <strong>Account &gt; Security</strong>.</p>"
        "<h2>Save your backup codes</h2><p>When you turn on 2FA we show 10 single-use backup "
        "codes. Keep them somewhere safe: each one works once instead of a code from your phone.</p>"
        "<h2>Lost your phone and your backup codes?</h2><p>Contact support from the email address "
        "on your account. For your security we verify your identity (recent order number and "
        "the last 4 digits of the card used) before we turn off 2FA. This takes up to 1 business "
        "day. We never turn off 2FA over chat or phone.</p>",
    ),
    (
        "Download invoices and receipts",
        "billing",
        ["invoice", "receipt", "vat"],
        "<p>Every order has a PDF invoice under <strong>Account &gt; Orders</strong>: open the "
        "order and click <em>Download invoice</em>.</p>"
        "<h2>Business invoices</h2><p>Need your company name, address or VAT number on the "
        "invoice? Add them under <strong>Account &gt; Business details</strong> before ordering. "
        "For an order already placed, send us the order number, company name, address and VAT "
        "ID and we'll issue a corrected invoice within 2 business days.</p>"
        "<p>Northwind Plus receipts are emailed on each renewal and listed under "
        "<em>Membership &gt; Billing history</em>.</p>",
    ),
    (
        "Export or delete your personal data",
        "account",
        ["privacy", "gdpr", "data export", "delete account"],
        "<p>You can download a copy of your data (profile, addresses, orders, reviews, marketing "
        "preferences) at any time under <strong>Account &gt; Privacy &gt; Export my data</strong>. "
        "The export is a ZIP of JSON files, ready within 24 hours.</p>"
        "<p>Requests sent to support are answered within <strong>30 days</strong>, as required by "
        "GDPR, after we verify that the request comes from the account owner.</p>"
        "<h2>Deleting your account</h2><p>Under <em>Privacy &gt; Delete account</em>. We keep "
        "invoices for 7 years because tax law requires it; everything else is erased within 30 days.</p>",
    ),
    (
        "Why was I charged twice?",
        "billing",
        ["billing", "double charge", "pending", "refund"],
        "<p>Two charges for one order are usually one of these:</p><ul>"
        "<li><strong>A pending authorisation.</strong> When you place an order your bank holds the "
        "amount; when we ship, we take the payment and the hold drops off within 3-5 business "
        "days. Until then it can look like two charges.</li>"
        "<li><strong>A split shipment.</strong> Orders shipped in two parcels are charged per parcel.</li>"
        "<li><strong>A genuine duplicate.</strong> Rarely, a payment is taken twice. We refund the "
        "duplicate in full as soon as we confirm it.</li></ul>"
        "<p>If both charges are still there after 5 business days, send us the date and amount "
        "of each charge and the last 4 digits of the card.</p>",
    ),
    (
        "Returns and exchanges",
        "orders",
        ["returns", "exchange", "refund"],
        "<p>Start a return under <strong>Account &gt; Orders &gt; Return items</strong> within "
        "30 days of delivery. Print the prepaid label and drop the parcel at any carrier point.</p>"
        "<p>Exchanges for a different size or colour are free; we ship the new item as soon as "
        "the return is scanned by the carrier. Large furniture is collected from your home: "
        "choose a pickup slot when you start the return.</p>"
        "<p>Once the return reaches our warehouse (usually 3-7 days) we refund you as described "
        "in our <em>Refund policy</em>.</p>",
    ),
]


def seed(state: HelpdeskState, *, now: datetime | None = None) -> None:
    """Fill an empty state with the users, tickets (with their histories) and articles above."""
    now = now or datetime.now(UTC)
    at = lambda hours: now - timedelta(hours=hours)  # noqa: E731
    ids: dict[str, int] = {}
    for i, (name, email, role, locale, tz) in enumerate(USERS):
        user = state.add_user(
            name=name, email=email, role=role, locale=locale, time_zone=tz, at=at(24 * 400 - i)
        )
        ids[email] = user["id"]
    state.default_user_id = ids[API_USER_EMAIL]

    for t in TICKETS:
        payload: dict[str, Any] = {
            "subject": t.subject,
            "comment": {"body": t.body, "author_id": ids[t.requester]},
            "requester_id": ids[t.requester],
            "priority": t.priority,
            "status": t.status,
            "tags": t.tags,
            "type": t.type,
        }
        if t.assignee:
            payload["assignee_id"] = ids[t.assignee]
        ticket, _ = state.create_ticket(payload, author_id=ids[t.requester], at=at(t.hours_ago), via="web")
        for c in t.comments:
            change = {"comment": {"body": c.body, "public": c.public, "author_id": ids[c.author]}, **c.set}
            via = "web" if ids[c.author] == ids[t.requester] else "api"
            state.update_ticket(ticket["id"], change, author_id=ids[c.author], at=at(c.hours_ago), via=via)

    for i, (title, section, labels, html) in enumerate(ARTICLES):
        state.add_article(
            title=title,
            body=html,
            section_id=SECTIONS[section],
            label_names=labels,
            author_id=ids["priya.shah@northwind.example"],
            at=at(24 * (200 - 10 * i)),
        )
