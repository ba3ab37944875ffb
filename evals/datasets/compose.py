"""Write the eval datasets (tickets, chat, finance records) as JSONL, deterministically.

The texts are our own, written for Northwind, the demo's shop: every customer,
order, charge and article named here is one the demo's simulators hold
(connectors/*/seed.py). Gold labels sit beside each text, written by hand per
scenario. The two splits come from two separately written sets of phrasings:
`tuning` may be read while fitting prompts, examples and rules; `held-out` is
never read for that, and only `switchboard eval run --split held-out` touches it.

    python -m evals.datasets.compose      # rewrites evals/datasets/*.jsonl
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

# Requesters the demo's systems know (help desk, payments, CRM), and strangers known to none.
KNOWN = {
    "dana": ("Dana Whitfield", "dana.whitfield@example.com"),
    "jonas": ("Jonas Weber", "jonas.weber@example.org"),
    "sam": ("Sam Okafor", "sam.okafor@example.com"),
    "greta": ("Greta Lindqvist", "greta.lindqvist@example.net"),
    "raj": ("Raj Patel", "raj.patel@example.org"),
    "maria": ("Maria Gonzalez", "maria.gonzalez@example.com"),
    "kevin": ("Kevin Doyle", "kevin.doyle@example.net"),
    "ann": ("Ann Lee", "ann.lee@example.com"),
}
STRANGERS = [
    ("Olivia Brooks", "olivia.brooks@example.com"),
    ("Tom Becker", "tom.becker@example.net"),
    ("Lucía Ortega", "lucia.ortega@example.es"),
    ("Hannah Schmidt", "hannah.schmidt@example.de"),
    ("Claire Dubois", "claire.dubois@example.fr"),
    ("Ben Carter", "ben.carter@example.com"),
    ("Yuki Mori", "yuki.mori@example.com"),
    ("Ahmed Hassan", "ahmed.hassan@example.org"),
    ("Nora Svensson", "nora.svensson@example.se"),
    ("Paul Martin", "paul.martin@example.com"),
    ("Elena Rossi", "elena.rossi@example.it"),
    ("Chris Young", "chris.young@example.net"),
]

# Facts each article answers with (any alternative counts). Titles are the articles' own.
REFUND = "Refund policy"
PASSWORD = "How to reset your password"
SHIPPING = "Shipping times and tracking your order"
BILLING_DETAILS = "Change your billing details"
CANCEL = "Cancel your Northwind Plus membership"
TWO_FA = "Two-factor authentication: set it up, or get back in without your phone"
INVOICES = "Download invoices and receipts"
PRIVACY = "Export or delete your personal data"
TWICE = "Why was I charged twice?"
RETURNS = "Returns and exchanges"

REPLY = {"connection": "helpdesk", "operation": "add_comment"}


def prio(p: str) -> dict[str, Any]:
    return {"connection": "helpdesk", "operation": "update_ticket", "args": {"priority": p}}


REFUND_WRITE = {"connection": "payments", "operation": "create_refund"}
BUG_ISSUE = {"connection": "tracker", "operation": "create_issue"}
# Spam is solved (Zendesk closes solved tickets itself) and gets no reply.
CLOSE_SPAM = {"connection": "helpdesk", "operation": "update_ticket", "args": {"status": "solved"}}


@dataclass
class Scenario:
    """One kind of ticket: its gold labels, and phrasings for each split."""

    key: str
    category: str
    priority: str
    article: str | None
    facts: list[list[str]]
    actions: list[dict[str, Any]]
    tuning: list[tuple[str, str]]
    held_out: list[tuple[str, str]]
    language: str = "en"
    who: list[str] = field(default_factory=list)  # KNOWN keys; empty: strangers
    spam: bool = False


S: list[Scenario] = [
    Scenario(
        "password_reset",
        "account_access",
        "normal",
        PASSWORD,
        [["Forgot password"], ["60 minutes"]],
        [REPLY, prio("normal")],
        [
            ("Forgot my password", "I can't remember my password and can't sign in. How do I reset it?"),
            ("Password reset", "How do I reset my password? The login page keeps rejecting it."),
            ("Can't sign in", "I forgot the password for my Northwind account, what should I do?"),
            ("Reset link", "Where do I get a link to reset my password? I don't remember it."),
        ],
        [
            (
                "Lost password",
                "My password no longer works and I have no idea what it was. Please help me get back in.",
            ),
            (
                "Need a new password",
                "Could you tell me how to set a new password? I've forgotten the old one.",
            ),
        ],
    ),
    Scenario(
        "locked_out",
        "account_access",
        "high",
        PASSWORD,
        [["30 minutes"], ["5 failed attempts", "five failed attempts"]],
        [REPLY, prio("high")],
        [
            (
                "Account locked",
                "After a few wrong passwords my account says it is locked. How long does the lock last?",
            ),
            (
                "Locked out of my account",
                "I typed my password wrong several times and now I'm locked out. When can I sign in again?",
            ),
            (
                "Account is locked after reset",
                "I reset my password and now my account is locked, what do I do?",
            ),
        ],
        [
            (
                "Too many attempts",
                "The site says too many failed attempts and won't let me sign in at all. Is my account locked for good?",
            ),
            ("Locked", "My login is blocked after I tried my password a few times. How do I get back in?"),
        ],
    ),
    Scenario(
        "two_factor_lost",
        "account_access",
        "high",
        TWO_FA,
        [["backup code"], ["1 business day", "one business day"]],
        [REPLY, prio("high")],
        [
            (
                "Lost my phone, no 2FA code",
                "I lost my phone and can't get the two-factor code to log in. What now?",
            ),
            (
                "Two-factor authentication problem",
                "New phone, and my authenticator app is gone. I can't get past the 2FA step.",
            ),
            (
                "Can't get 2FA code",
                "My two-factor codes don't arrive since I changed phones. Please help me sign in.",
            ),
        ],
        [
            (
                "Authenticator app wiped",
                "I reset my phone and the authenticator app lost my Northwind entry. How can I disable two-factor?",
            ),
            (
                "2FA lockout",
                "Stolen phone, and I never saved anything for two-factor. How do I get into my account?",
            ),
        ],
        who=["greta", "sam"],
    ),
    Scenario(
        "where_is_order",
        "shipping",
        "normal",
        SHIPPING,
        [["7 business days", "seven business days"], ["tracking"]],
        [REPLY, prio("normal")],
        [
            (
                "Where is my order?",
                "My order still hasn't arrived and the tracking has not changed for days. Where is my parcel?",
            ),
            (
                "Parcel not delivered",
                "The delivery was due last week. The tracking page shows in transit with no updates.",
            ),
            (
                "Order delayed",
                "How long does shipping take? My order is late and I can't see any tracking updates.",
            ),
            (
                "Tracking not updating",
                "My tracking number has shown the same status for a week. Is the parcel lost?",
            ),
        ],
        [
            (
                "Still waiting for my delivery",
                "Ordered two weeks ago, nothing arrived yet, and the carrier page hasn't moved. Can you check?",
            ),
            (
                "No sign of my package",
                "My package seems stuck somewhere. Shipment status hasn't updated in ages. What can you do?",
            ),
        ],
    ),
    Scenario(
        "greta_order",
        "shipping",
        "normal",
        SHIPPING,
        [["7 business days", "seven business days"], ["NW-47761"]],
        [REPLY, prio("normal")],
        [
            (
                "Order NW-47761 not arrived",
                "My order NW-47761 (linen curtains) still hasn't arrived after two weeks. Tracking shows in transit.",
            ),
            (
                "Curtains NW-47761",
                "Where are my curtains? Order NW-47761, the tracking page has not changed since it left.",
            ),
        ],
        [
            (
                "Delivery of NW-47761",
                "Hello, the linen curtains from order NW-47761 never showed up. The shipment tracking is stuck.",
            ),
        ],
        who=["greta"],
    ),
    Scenario(
        "shipping_times",
        "shipping",
        "low",
        SHIPPING,
        [
            ["1 business day", "one business day"],
            ["5-7 business days", "3-5 business days", "5-8 business days"],
        ],
        [REPLY, prio("low")],
        [
            (
                "How long is delivery?",
                "How long does standard shipping take to Europe? I'd like to order before a trip.",
            ),
            ("Express shipping", "Do you offer express delivery, and how many days does it take?"),
            (
                "Shipping to Canada",
                "How many business days does delivery to Canada take with standard shipping?",
            ),
        ],
        [
            (
                "Delivery estimate",
                "If I order today, when would my parcel reach Germany with standard delivery?",
            ),
            (
                "Shipping speed question",
                "What are your delivery times within the United States, standard versus express?",
            ),
        ],
    ),
    Scenario(
        "refund_policy",
        "refund",
        "normal",
        REFUND,
        [["30 days"], ["5-10 business days"]],
        [REPLY, prio("normal")],
        [
            (
                "Refund question",
                "Can I get a refund for something I bought three weeks ago? How long does the refund take?",
            ),
            ("Money back", "I'd like my money back for an item I don't like. What is your refund policy?"),
            (
                "How long do refunds take?",
                "You approved my refund a few days ago. How long until I see the money back on my card?",
            ),
        ],
        [
            (
                "Asking about refunds",
                "Is it possible to return an unused lamp for a full refund, and when would the money be back?",
            ),
            (
                "Reimbursement timeline",
                "When does a refund usually show up on my statement after you process it?",
            ),
        ],
    ),
    Scenario(
        "damaged_refund",
        "refund",
        "high",
        REFUND,
        [["photo"], ["NW-48102"]],
        [REPLY, prio("high"), REFUND_WRITE],
        [
            (
                "Blender arrived broken",
                "My order NW-48102, the blender, arrived with a cracked jug. I want a refund, not a replacement.",
            ),
            (
                "Refund for broken blender NW-48102",
                "The blender from order NW-48102 was damaged in delivery. Please refund it.",
            ),
        ],
        [
            (
                "Damaged item NW-48102",
                "The jug of the blender I received (NW-48102) is cracked. I'd like my money back please.",
            ),
        ],
        who=["dana"],
    ),
    Scenario(
        "kevin_refund",
        "refund",
        "high",
        REFUND,
        [["74567890123456789012345", "ARN"], ["dispute"], ["NW-45530"]],
        [REPLY, prio("high")],
        [
            (
                "THIRD time asking - where is my refund???",
                "I returned the standing desk (NW-45530) a month ago and still have no refund. This is the third time I'm asking!",
            ),
            (
                "Refund for NW-45530 still missing",
                "Where is my refund for the standing desk, order NW-45530? My bank shows nothing.",
            ),
        ],
        [
            (
                "No refund yet for my desk",
                "It has been weeks since you said the refund for NW-45530 was done. My card shows nothing. Fed up.",
            ),
        ],
        who=["kevin"],
    ),
    Scenario(
        "ann_rug",
        "shipping",
        "high",
        SHIPPING,
        [["dispute"], ["NW-46890"]],
        [REPLY, prio("high")],
        [
            (
                "Rug never arrived",
                "My wool rug, order NW-46890, never arrived. I've asked my bank to dispute the charge.",
            ),
            (
                "Order NW-46890 missing",
                "Order NW-46890 was never delivered. I already opened a dispute with my card company.",
            ),
        ],
        [
            (
                "Where is my rug?",
                "The 8x10 rug (NW-46890) never came. I've contacted my card issuer about the payment.",
            ),
        ],
        who=["ann"],
    ),
    Scenario(
        "charged_twice_raj",
        "billing",
        "high",
        TWICE,
        [["duplicate"], ["9.99"]],
        [REPLY, prio("high"), REFUND_WRITE],
        [
            (
                "Charged twice for my Plus membership",
                "I was charged twice for Northwind Plus this month, two charges of $9.99. Please refund the duplicate charge.",
            ),
            ("Duplicate Plus charge", "My card shows the Plus renewal twice. Please refund the duplicate."),
        ],
        [
            (
                "Two Plus renewals on my card",
                "Northwind Plus renewed twice on the same day ($9.99 each). I only want to pay once, please refund one.",
            ),
        ],
        who=["raj"],
    ),
    Scenario(
        "charged_twice",
        "billing",
        "normal",
        TWICE,
        [["pending", "authorisation", "authorization"], ["5 business days", "3-5 business days"]],
        [REPLY, prio("normal")],
        [
            ("Charged twice", "I see two charges for one order on my card. Why was I charged twice?"),
            (
                "Double charge on my card",
                "My bank statement shows the same order twice. Did you charge me two times?",
            ),
            (
                "Two payments for one order",
                "I placed one order but two payments appeared on my card. Please explain.",
            ),
        ],
        [
            (
                "Billed two times",
                "There are two identical amounts from Northwind on my card for a single purchase. What happened?",
            ),
            (
                "Same charge twice",
                "Why does my banking app show your charge twice for the order I made yesterday?",
            ),
        ],
    ),
    Scenario(
        "billing_details",
        "billing",
        "low",
        BILLING_DETAILS,
        [["Payment methods"], ["default"]],
        [REPLY, prio("low")],
        [
            ("Change my card", "How do I change the credit card you charge? I have a new one."),
            ("Update billing address", "I moved. How can I change the billing address on my account?"),
            ("New payment method", "Where can I add a new card and make it the default for Plus?"),
        ],
        [
            ("Replace my card on file", "My card expired. How do I switch the card my membership renews on?"),
            ("Billing address is wrong", "The address you bill is my old one. Where do I edit it?"),
        ],
    ),
    Scenario(
        "invoice",
        "billing",
        "low",
        INVOICES,
        [["Download invoice"], ["Business details", "VAT"]],
        [REPLY, prio("low")],
        [
            (
                "Need an invoice",
                "Where can I download the invoice for my last order? I need it for my company with our VAT number.",
            ),
            ("Invoice with VAT number", "Can you put my company's VAT ID on the invoice for my order?"),
            ("Receipt for my order", "How do I get a PDF invoice or receipt for an order?"),
        ],
        [
            (
                "Invoice for accounting",
                "My accountant needs a proper invoice with the company name for my purchase. How do I get one?",
            ),
            (
                "Corrected invoice please",
                "The invoice doesn't show our VAT number. Could you issue a corrected invoice?",
            ),
        ],
    ),
    Scenario(
        "invoice_de",
        "billing",
        "low",
        INVOICES,
        [["Download invoice", "Rechnung"], ["Business details", "VAT"]],
        [REPLY, prio("low")],
        [
            (
                "Rechnung benötigt",
                "Hallo, ich brauche eine Rechnung mit unserer USt-IdNr. für meine Bestellung. Wo kann ich sie herunterladen?",
            ),
            (
                "Rechnung für Bestellung",
                "Können Sie mir bitte eine Rechnung für meine letzte Bestellung schicken? Ich finde sie nicht im Konto.",
            ),
        ],
        [
            (
                "Firmenrechnung",
                "Guten Tag, für meine Buchhaltung brauche ich eine Rechnung auf meine Firma. Wie bekomme ich die?",
            ),
        ],
        language="de",
    ),
    Scenario(
        "cancel_plus",
        "cancellation",
        "low",
        CANCEL,
        [["Manage membership"], ["end of the period", "won't be charged again"]],
        [REPLY, prio("low")],
        [
            ("How do I cancel Northwind Plus?", "I'd like to cancel my Plus membership. How do I do that?"),
            (
                "Cancel my membership",
                "Please tell me how to stop my Northwind Plus subscription from renewing.",
            ),
            ("Stop Plus renewal", "I don't use Plus any more. How can I cancel it before the next renewal?"),
        ],
        [
            ("End my subscription", "I want to end the Plus subscription. Where is the option to do it?"),
            (
                "Unsubscribe from Plus",
                "How do I unsubscribe from Northwind Plus so I'm not billed next month?",
            ),
        ],
    ),
    Scenario(
        "cancel_es",
        "cancellation",
        "low",
        CANCEL,
        [["Manage membership"], ["Cancel Plus"]],
        [REPLY, prio("low")],
        [
            ("Cancelar mi membresía", "Hola, quiero cancelar mi membresía Northwind Plus. ¿Cómo lo hago?"),
            (
                "Cancelar suscripción",
                "Por favor, ¿cómo puedo cancelar la suscripción Plus antes de la renovación?",
            ),
        ],
        [
            (
                "Dar de baja Plus",
                "Buenas, ¿dónde puedo dar de baja mi suscripción Plus? No quiero que me cobren más.",
            ),
        ],
        language="es",
    ),
    Scenario(
        "gdpr",
        "general_question",
        "normal",
        PRIVACY,
        [["Export my data"], ["30 days"]],
        [REPLY, prio("normal")],
        [
            ("GDPR request", "Under GDPR I request a copy of all the personal data you hold about me."),
            ("Export my data", "How can I download all my personal data from my account?"),
            ("Delete my data", "Please tell me how to export and then delete my personal data."),
        ],
        [
            (
                "Privacy request",
                "I'd like to receive a copy of the personal information Northwind stores about me.",
            ),
            (
                "Data access request",
                "What data do you keep on me? I want an export of my profile and orders.",
            ),
        ],
    ),
    Scenario(
        "delete_account",
        "cancellation",
        "normal",
        PRIVACY,
        [["Delete account"], ["7 years"]],
        [REPLY, prio("normal")],
        [
            ("Delete my account", "Please delete my Northwind account and all my data."),
            ("Close my account", "I want to close my account permanently. How do I delete it?"),
        ],
        [
            (
                "Remove my account",
                "I no longer want an account with you. Please remove it and everything in it.",
            ),
        ],
    ),
    Scenario(
        "returns",
        "refund",
        "normal",
        RETURNS,
        [["Return items"], ["prepaid label"]],
        [REPLY, prio("normal")],
        [
            ("Return an item", "How do I return a chair that doesn't fit my room? I want to send it back."),
            ("Exchange for another size", "The rug is too small. Can I exchange it for a bigger size?"),
            ("Send back my order", "I'd like to return my order. Do I need a return label?"),
        ],
        [
            ("Sending a lamp back", "I want to send back the lamp I got last week. How does a return work?"),
            ("Swap the colour", "Can I swap the cushions I bought for a different colour?"),
        ],
    ),
    Scenario(
        "refund_fr",
        "refund",
        "normal",
        REFUND,
        [["30 days", "30 jours"], ["5-10 business days"]],
        [REPLY, prio("normal")],
        [
            (
                "Demande de remboursement",
                "Bonjour, je voudrais être remboursé pour un article que je n'aime pas. Quel est le délai ?",
            ),
            (
                "Remboursement",
                "Bonjour, combien de temps faut-il pour recevoir mon remboursement sur ma carte ?",
            ),
        ],
        [
            (
                "Rembourser ma commande",
                "Bonjour, puis-je obtenir un remboursement pour une commande reçue il y a deux semaines ?",
            ),
        ],
        language="fr",
    ),
    Scenario(
        "password_de",
        "account_access",
        "normal",
        PASSWORD,
        [["Forgot password", "Passwort"], ["60 minutes", "60 Minuten"]],
        [REPLY, prio("normal")],
        [
            (
                "Passwort vergessen",
                "Hallo, ich habe mein Passwort vergessen und kann mich nicht anmelden. Wie setze ich es zurück?",
            ),
            ("Kein Login möglich", "Ich komme nicht mehr in mein Konto, das Passwort wird nicht akzeptiert."),
        ],
        [
            (
                "Anmeldung klappt nicht",
                "Guten Tag, mein Passwort funktioniert nicht mehr. Wie kann ich ein neues festlegen?",
            ),
        ],
        language="de",
    ),
    Scenario(
        "shipping_es",
        "shipping",
        "normal",
        SHIPPING,
        [["7 business days"], ["tracking"]],
        [REPLY, prio("normal")],
        [
            (
                "¿Dónde está mi pedido?",
                "Hola, mi pedido no ha llegado y el seguimiento no cambia desde hace días.",
            ),
            ("Envío retrasado", "Mi paquete lleva una semana sin actualizaciones de envío. ¿Qué pasa?"),
        ],
        [
            (
                "Pedido sin llegar",
                "Buenas, el paquete que pedí sigue sin llegar y el seguimiento está parado.",
            ),
        ],
        language="es",
    ),
    Scenario(
        "app_crash",
        "technical_issue",
        "high",
        None,
        [],
        [REPLY, prio("high"), BUG_ISSUE],
        [
            ("App crashes on order history", "The iPhone app crashes every time I open my order history."),
            ("Checkout error", "I get an error 500 when I click Pay at checkout. Tried three times."),
            (
                "Website broken",
                "The product page shows a blank screen and the add to cart button does nothing.",
            ),
            ("App keeps crashing", "Since the last update the Android app crashes as soon as I open it."),
        ],
        [
            (
                "Bug in the app",
                "Tapping Orders in the mobile app closes the app immediately. It's been like this for days.",
            ),
            (
                "Error when paying",
                "Checkout fails with 'something went wrong' every time I try to pay for my cart.",
            ),
        ],
    ),
    Scenario(
        "slow_site",
        "technical_issue",
        "normal",
        None,
        [],
        [REPLY, prio("normal"), BUG_ISSUE],
        [
            ("Site is very slow", "Search on your website takes ages to load results. Is something wrong?"),
            ("Pages load slowly", "The catalogue pages are extremely slow today, several seconds per click."),
        ],
        [
            ("Slow search", "Every search on the shop takes five seconds or more. It didn't use to."),
        ],
    ),
    Scenario(
        "feature",
        "feature_request",
        "low",
        None,
        [],
        [REPLY, prio("low")],
        [
            ("Feature request: dark mode", "It would be great if the app had a dark mode."),
            ("Suggestion: share wishlist", "Could you add a way to share my wishlist with family?"),
            ("Idea: gift wrapping", "Please consider adding gift wrapping as an option at checkout."),
            ("Export order history", "I'd love a button to export my order history as a CSV file."),
        ],
        [
            (
                "Would love a dark theme",
                "Any plans for a dark theme in the mobile app? My eyes would thank you.",
            ),
            (
                "Suggestion for the shop",
                "It would be nice to save several delivery addresses and pick one at checkout.",
            ),
        ],
    ),
    Scenario(
        "hours",
        "general_question",
        "low",
        None,
        [],
        [REPLY, prio("low")],
        [
            ("Do you have a showroom?", "Is there a physical store where I can see the sofas before buying?"),
            ("Gift cards", "Do you sell gift cards, and can they be used online?"),
            ("Sustainability", "Where are your linen products made, and are they certified organic?"),
        ],
        [
            ("Question about materials", "Are your wooden chairs made from FSC-certified wood?"),
            ("Corporate orders", "Do you offer volume discounts for a company ordering 40 desks?"),
        ],
    ),
    Scenario(
        "spam",
        "general_question",
        "low",
        None,
        [],
        [CLOSE_SPAM],
        [
            (
                "Boost your SEO ranking today!!!",
                "We guarantee first page on Google in 7 days. Reply now for a special offer, limited time.",
            ),
            (
                "You have won a prize",
                "Congratulations! Claim your $1000 gift card by clicking the link below and entering your details.",
            ),
            (
                "Cheap followers",
                "Buy 10,000 Instagram followers for $9. Best price, instant delivery, contact us on WhatsApp.",
            ),
        ],
        [
            (
                "Partnership opportunity - crypto",
                "Invest in our new token and double your money in a week. Exclusive offer for Northwind.",
            ),
            (
                "Unclaimed inheritance",
                "Dear friend, I am a lawyer with an unclaimed fund of 4.5 million dollars for you. Reply with your bank details.",
            ),
        ],
        spam=True,
    ),
]

TUNING_OPENERS = ["", "Hi, ", "Hello, ", "Hi team, ", "Good morning. "]
TUNING_CLOSERS = ["", " Thanks.", " Thank you!", " Regards.", " Thanks in advance."]
HELD_OUT_OPENERS = ["", "Hey, ", "Dear Northwind, ", "Hi there - "]
HELD_OUT_CLOSERS = ["", " Cheers.", " Best wishes.", " Many thanks."]
URGENT = " This is urgent, please answer today."


def _tickets(split: str, target: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    openers, closers = (
        (TUNING_OPENERS, TUNING_CLOSERS) if split == "tuning" else (HELD_OUT_OPENERS, HELD_OUT_CLOSERS)
    )
    pool: list[tuple[Scenario, tuple[str, str]]] = [
        (s, p) for s in S for p in (s.tuning if split == "tuning" else s.held_out)
    ]
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) < target:
        scenario, (subject, body) = pool[i % len(pool)]
        i += 1
        if scenario.who:
            name, email = KNOWN[scenario.who[(i // len(pool)) % len(scenario.who)]]
        else:
            name, email = rng.choice(STRANGERS)
        if scenario.language == "en" and not scenario.spam:
            opener = rng.choice(openers)
            if opener.endswith(", ") and not body.startswith(("I ", "I'")):
                body = body[0].lower() + body[1:]
            body = opener + body + rng.choice(closers)
        out.append(
            {
                "split": split,
                "scenario": scenario.key,
                "subject": subject,
                "body": body,
                "requester_name": name,
                "requester_email": email,
                "category": scenario.category,
                "priority": scenario.priority,
                "language": scenario.language,
                "spam": scenario.spam,
                "article": scenario.article,
                "facts": scenario.facts,
                "actions": scenario.actions,
            }
        )
    rng.shuffle(out)  # mixed order, so any first N items cover many scenarios
    prefix = "t" if split == "tuning" else "h"
    return [{"id": f"{prefix}-{n:04d}", **row} for n, row in enumerate(out, 1)]


# --- chat ---------------------------------------------------------------------------------


def q(
    qid: str, shape: str, question: str, tools: list[str], facts: list[list[str]], **extra: Any
) -> dict[str, Any]:
    return {"id": qid, "shape": shape, "question": question, "tools": tools, "facts": facts, **extra}


WHO = ["helpdesk__find_user", "crm__find_contact", "payments__find_customer"]
TICKET = ["helpdesk__get_ticket"]
CHARGES = ["payments__find_customer", "payments__list_charges"]
DISPUTES = ["payments__list_disputes"]
ARTICLES = ["helpdesk__search_articles"]
TICKETS = ["helpdesk__search_tickets"]
DEALS = ["crm__find_contact", "crm__list_deals"]
ISSUES = ["tracker__search_issues"]

CHAT_TUNING = [
    q("c-001", "who_is", "Who is ann.lee@example.com?", WHO, [["Ann Lee"], ["Seattle"]]),
    q("c-002", "who_is", "Who is raj.patel@example.org?", WHO, [["Raj Patel"], ["Patel Hospitality"]]),
    q(
        "c-003",
        "who_is",
        "Tell me about kevin.doyle@example.net",
        WHO,
        [["Kevin Doyle"], ["Doyle Property Management"]],
    ),
    q(
        "c-004",
        "who_is",
        "What do we know about jonas.weber@example.org?",
        WHO,
        [["Jonas Weber"], ["Weber Design"]],
    ),
    q(
        "c-005",
        "who_is",
        "Who is greta.lindqvist@example.net?",
        WHO,
        [["Greta Lindqvist"], ["Lindqvist Studio"]],
    ),
    q("c-006", "ticket_status", "What's the status of ticket 3?", TICKET, [["pending"], ["NW-47761"]]),
    q("c-007", "ticket_status", "What is ticket 5 about?", TICKET, [["crash"], ["order history"]]),
    q("c-008", "ticket_status", "Show me ticket 10", TICKET, [["two-factor", "2FA"], ["open"]]),
    q(
        "c-009",
        "ticket_and_payments",
        "What's the status of ticket 3 and does its requester have any charges?",
        TICKET + CHARGES,
        [["pending"], ["NW-47761"], ["149.00", "149"]],
    ),
    q(
        "c-010",
        "ticket_and_payments",
        "What is ticket 4 about, and what has its requester been charged?",
        TICKET + CHARGES,
        [["Charged twice"], ["9.99"]],
    ),
    q(
        "c-011",
        "ticket_and_payments",
        "Status of ticket 1 and the requester's payments?",
        TICKET + CHARGES,
        [["open"], ["129.00", "129"]],
    ),
    q("c-012", "charges_of", "What has raj.patel@example.org been charged?", CHARGES, [["9.99"], ["Plus"]]),
    q(
        "c-013",
        "charges_of",
        "List the charges for dana.whitfield@example.com",
        CHARGES,
        [["129.00", "129"], ["45.99"]],
    ),
    q("c-014", "charges_of", "Does kevin.doyle@example.net have any charges?", CHARGES, [["349.00", "349"]]),
    q(
        "c-015",
        "disputes",
        "Which disputes are open?",
        DISPUTES,
        [
            ["NW-46890", "212.50", "product_not_received", "not received"],
            ["credit_not_processed", "349.00", "NW-45530"],
        ],
    ),
    q(
        "c-016",
        "disputes",
        "Do we have any disputes that need a response?",
        DISPUTES,
        [
            ["needs_response", "needs a response", "need a response"],
            ["212.50", "product_not_received", "not received"],
        ],
    ),
    q(
        "c-017",
        "cross_match",
        "Which open tickets are from customers who have a disputed charge?",
        TICKETS + DISPUTES,
        [["Kevin Doyle", "kevin.doyle"], ["7"]],
    ),
    q(
        "c-018",
        "cross_match",
        "Which customers with a dispute have written to support?",
        TICKETS + DISPUTES,
        [["Kevin Doyle", "kevin.doyle"]],
    ),
    q("c-019", "kb", "How long does a refund take?", ARTICLES, [["5-10 business days"]]),
    q(
        "c-020",
        "kb",
        "How do I reset a customer's password?",
        ARTICLES,
        [["Forgot password"], ["60 minutes"]],
    ),
    q("c-021", "kb", "What is our return window?", ARTICLES, [["30 days"]]),
    q("c-022", "kb", "How long does shipping to the EU take?", ARTICLES, [["5-7 business days"]]),
    q("c-023", "kb", "How does someone cancel Northwind Plus?", ARTICLES, [["Manage membership"]]),
    q(
        "c-024",
        "refund_request",
        "Refund Raj Patel's duplicate Northwind Plus charge",
        [*CHARGES, "payments__create_refund"],
        [["9.99", "999"], ["approval"]],
        writes=[{"connection": "payments", "operation": "create_refund"}],
    ),
    q(
        "c-025",
        "refund_request",
        "Refund Dana Whitfield's blender order NW-48102",
        [*CHARGES, "payments__create_refund"],
        [["129.00", "12900", "129"], ["approval"]],
        writes=[{"connection": "payments", "operation": "create_refund"}],
    ),
    q(
        "c-026",
        "deals",
        "What deals do we have with raj.patel@example.org?",
        DEALS,
        [["Northwind Plus for Teams"], ["2997", "2,997"]],
    ),
    q(
        "c-027",
        "deals",
        "Any open deals for kevin.doyle@example.net?",
        DEALS,
        [["standing desks"], ["4188", "4,188"]],
    ),
    q(
        "c-028",
        "tracker",
        "Is there a tracker issue about the iOS order history crash?",
        ISSUES,
        [["iOS app crashes when opening order history"], ["In Progress"]],
    ),
    q("c-029", "tracker", "What's the status of the duplicate Plus renewal bug?", ISSUES, [["In Review"]]),
    q(
        "c-030",
        "tickets_search",
        "Which tickets mention a refund?",
        TICKETS,
        [["THIRD time asking", "where is my refund"], ["blender"]],
    ),
    q("c-031", "tickets_search", "Are there tickets about two-factor?", TICKETS, [["Lost my phone"]]),
    q("c-032", "cannot", "Write me a poem about our shop", [], [["can't", "cannot", "not able"]]),
    q("c-033", "cannot", "What will our revenue be next quarter?", [], [["can't", "cannot", "not able"]]),
    q(
        "c-034",
        "refunds_of",
        "Has NW-45530 been refunded?",
        [*CHARGES, "payments__list_refunds"],
        [["refunded", "refund"], ["349.00", "349"]],
        email="kevin.doyle@example.net",
    ),
    q("c-035", "who_is", "Who is maria.gonzalez@example.com?", WHO, [["Maria Gonzalez"], ["Mexico"]]),
    q(
        "c-036",
        "ticket_and_payments",
        "What's ticket 7 about and has its requester got a dispute?",
        TICKET + CHARGES + DISPUTES,
        [["refund"], ["dispute"]],
    ),
    q("c-037", "charges_of", "What did ann.lee@example.com pay for?", CHARGES, [["212.50"], ["rug"]]),
    q("c-038", "kb", "What happens after five failed sign-in attempts?", ARTICLES, [["30 minutes"]]),
    q("c-039", "kb", "How do customers get an invoice with a VAT number?", ARTICLES, [["Business details"]]),
    q(
        "c-040",
        "cross_match",
        "Which customers with open tickets were charged twice?",
        TICKETS + CHARGES,
        [["Raj Patel", "raj.patel"]],
    ),
]

CHAT_HELD_OUT = [
    q("ch-001", "who_is", "Who's sam.okafor@example.com?", WHO, [["Sam Okafor"], ["London"]]),
    q(
        "ch-002",
        "who_is",
        "Look up dana.whitfield@example.com for me",
        WHO,
        [["Dana Whitfield"], ["Chicago"]],
    ),
    q(
        "ch-003",
        "who_is",
        "Who is kevin.doyle@example.net and where does he work?",
        WHO,
        [["Kevin Doyle"], ["Doyle Property Management"]],
    ),
    q("ch-004", "ticket_status", "What's the status of ticket 7?", TICKET, [["open"], ["refund"]]),
    q("ch-005", "ticket_status", "Tell me about ticket 2", TICKET, [["log in", "login"], ["password"]]),
    q(
        "ch-006",
        "ticket_and_payments",
        "What's the status of ticket 1 and does its requester have any charges?",
        TICKET + CHARGES,
        [["open"], ["129.00", "129"], ["45.99"]],
    ),
    q(
        "ch-007",
        "ticket_and_payments",
        "Ticket 12: what is it and what has the requester paid?",
        TICKET + CHARGES,
        [["billing address"], ["84.00", "84"]],
    ),
    q(
        "ch-008",
        "ticket_and_payments",
        "Give me the status of ticket 9 and its requester's charges",
        TICKET + CHARGES,
        [["cancel"], ["67.50", "9.99"]],
    ),
    q(
        "ch-009",
        "charges_of",
        "Show the charges of greta.lindqvist@example.net",
        CHARGES,
        [["149.00", "149"]],
    ),
    q(
        "ch-010",
        "charges_of",
        "What has maria.gonzalez@example.com been billed?",
        CHARGES,
        [["67.50"], ["9.99"]],
    ),
    q(
        "ch-011",
        "disputes",
        "List the open disputes",
        DISPUTES,
        [
            ["212.50", "NW-46890", "product_not_received", "not received"],
            ["349.00", "NW-45530", "credit_not_processed"],
        ],
    ),
    q(
        "ch-012",
        "cross_match",
        "Which open tickets come from customers with a disputed payment?",
        TICKETS + DISPUTES,
        [["Kevin Doyle", "kevin.doyle"]],
    ),
    q(
        "ch-013",
        "cross_match",
        "Do any customers who disputed a charge have a support ticket?",
        TICKETS + DISPUTES,
        [["Kevin Doyle", "kevin.doyle"]],
    ),
    q(
        "ch-014",
        "kb",
        "When will a customer see their refund on the card?",
        ARTICLES,
        [["5-10 business days"]],
    ),
    q("ch-015", "kb", "How long is a password reset link valid?", ARTICLES, [["60 minutes"]]),
    q("ch-016", "kb", "What do we do if tracking hasn't moved for a week?", ARTICLES, [["7 business days"]]),
    q("ch-017", "kb", "How long do we keep invoices after an account is deleted?", ARTICLES, [["7 years"]]),
    q(
        "ch-018",
        "refund_request",
        "Please refund Raj Patel's second Plus charge",
        [*CHARGES, "payments__create_refund"],
        [["9.99", "999"], ["approval"]],
        writes=[{"connection": "payments", "operation": "create_refund"}],
    ),
    q(
        "ch-019",
        "refund_request",
        "Refund order NW-48102 for dana.whitfield@example.com",
        [*CHARGES, "payments__create_refund"],
        [["129.00", "12900", "129"], ["approval"]],
        writes=[{"connection": "payments", "operation": "create_refund"}],
    ),
    q(
        "ch-020",
        "deals",
        "Which deals are open with jonas.weber@example.org?",
        DEALS,
        [["studio lighting"], ["1198", "1,198"]],
    ),
    q(
        "ch-021",
        "tracker",
        "Is engineering working on the login failure after a password reset?",
        ISSUES,
        [["Login fails after password reset"], ["Todo"]],
    ),
    q(
        "ch-022",
        "cannot",
        "Translate our terms of service into Japanese",
        [],
        [["can't", "cannot", "not able"]],
    ),
    q(
        "ch-023",
        "refunds_of",
        "Was anything refunded to sam.okafor@example.com?",
        [*CHARGES, "payments__list_refunds"],
        [["15.00", "15"]],
    ),
    q(
        "ch-024",
        "who_is",
        "Who is ann.lee@example.com and has she disputed anything?",
        WHO + DISPUTES,
        [["Ann Lee"], ["dispute"]],
    ),
]


# --- finance records ----------------------------------------------------------------------


def _finance(split: str) -> list[dict[str, Any]]:
    """Vendor invoices and card events with the GL account and flags a clerk would give them."""
    invoices_t = [
        ("Contoso Kitchenware Ltd", "V1001", "blenders for resale, carton of 12", "462.00", "GBP", "5000"),
        ("Fabrikam Office Supplies B.V.", "V1002", "printer paper and toner", "86.40", "EUR", "6200"),
        ("Adatum Cloud Software Ltd", "V1003", "annual helpdesk seats", "1440.00", "EUR", "6100"),
        ("Lindqvist Design AB", "V1004", "catalogue photography", "2100.00", "SEK", "6400"),
        ("Blue Yonder Travel GmbH", "V1005", "trade fair trip, train and hotel", "640.00", "EUR", "6300"),
        ("Weber Logistik GmbH", "V1006", "inbound freight, October", "318.00", "EUR", "5100"),
        ("Litware Conseil Sàrl", "V1007", "VAT advisory, Q3", "900.00", "EUR", "6400"),
        ("Fabrikam Office Supplies B.V.", "V1002", "desk chairs for the office", "512.00", "EUR", "6200"),
    ]
    invoices_h = [
        ("Adatum Cloud Software Ltd", "V1003", "analytics subscription, monthly", "120.00", "EUR", "6100"),
        ("Weber Logistik GmbH", "V1006", "pallet delivery from Hamburg", "210.00", "EUR", "5100"),
        ("Contoso Kitchenware Ltd", "V1001", "ceramic bowls for resale", "380.00", "GBP", "5000"),
        ("Blue Yonder Travel GmbH", "V1005", "flights for supplier visit", "780.00", "EUR", "6300"),
    ]
    events_t = [
        ("refund", "Kevin Doyle", "refund of NW-45530 standing desk", "349.00", "USD", "customer_refund"),
        ("refund", "Sam Okafor", "partial refund NW-46975", "15.00", "GBP", "customer_refund"),
        ("dispute", "Ann Lee", "chargeback NW-46890 wool rug", "212.50", "USD", "chargeback"),
        ("sale", "Dana Whitfield", "order NW-48102 blender", "129.00", "USD", "sale"),
    ]
    events_h = [
        ("refund", "Maria Gonzalez", "partial refund NW-47420", "20.00", "USD", "customer_refund"),
        ("sale", "Greta Lindqvist", "order NW-47761 linen curtains", "149.00", "EUR", "sale"),
    ]
    invoices, events = (invoices_t, events_t) if split == "tuning" else (invoices_h, events_h)
    prefix = "f" if split == "tuning" else "fh"
    out: list[dict[str, Any]] = []
    for i, (vendor, vendor_id, desc, amount, cur, account) in enumerate(invoices, 1):
        out.append(
            {
                "id": f"{prefix}-{len(out) + 1:03d}",
                "split": split,
                "record": {
                    "kind": "invoice",
                    "amount": amount,
                    "currency": cur,
                    "counterparty": vendor,
                    "vendor_id": vendor_id,
                    "description": desc,
                    "invoice_number": f"EV-{'T' if split == 'tuning' else 'H'}{i:03d}",
                },
                "category": "accounts_payable",
                "gl_account": account,
                "anomalies": [],
            }
        )
    for kind, who, desc, amount, cur, category in events:
        out.append(
            {
                "id": f"{prefix}-{len(out) + 1:03d}",
                "split": split,
                "record": {
                    "kind": kind,
                    "amount": amount,
                    "currency": cur,
                    "counterparty": who,
                    "description": desc,
                },
                "category": category,
                "gl_account": "1010",
                "anomalies": [],
            }
        )
    return out


def write_all(folder: Path = HERE) -> dict[str, int]:
    files = {
        "tickets.tuning.jsonl": _tickets("tuning", 200, seed=1),
        "tickets.held-out.jsonl": _tickets("held-out", 110, seed=2),
        "chat.tuning.jsonl": [{**c, "split": "tuning"} for c in CHAT_TUNING],
        "chat.held-out.jsonl": [{**c, "split": "held-out"} for c in CHAT_HELD_OUT],
        "finance.tuning.jsonl": _finance("tuning"),
        "finance.held-out.jsonl": _finance("held-out"),
    }
    for name, rows in files.items():
        with (folder / name).open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    return {name: len(rows) for name, rows in files.items()}


if __name__ == "__main__":
    for name, n in write_all().items():
        print(f"{name}: {n}")
