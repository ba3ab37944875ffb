"""The approval card shows attacker text as it is written: invisible and direction-changing
characters appear as ⟨U+202E⟩ markers, so an RLO-reversed value cannot paint as a different
customer or bank account than the one the write uses; the gate flags such a write high."""

from __future__ import annotations

import re

from connectors.base import Effects, Money
from tests.web.approver_view.helpers import card, displayed, plant, text_of
from tests.web.conftest import Ui

REFUND = Effects(money=Money(amount="amount", currency=None, source="charge_id"))
VENDOR = Effects(payee="iban")


async def test_refund_card_names_a_customer_the_refund_does_not_go_to(ui: Ui) -> None:
    # The attacker signed up with this email at the payment provider (customer data is theirs).
    attacker_email = "\u202emoc.elpmaxe@eel.nna\u202c"  # logically "moc.elpmaxe@eel.nna"
    args = {"charge_id": "ch_attacker", "amount": 49900}
    facts = {
        "charges": {"ch_attacker": {"customer": "cus_x", "amount": 49900, "currency": "usd"}},
        "customers": {"cus_x": attacker_email},
    }
    action_id = plant(ui, tool="payments__create_refund", arguments=args, effects=REFUND.summary(args, facts))
    page = (await ui.get("/ui/queue", role="approver")).text
    m = re.search(r"<dt>Customer</dt><dd>(.*?)</dd>", card(page, action_id), re.S)
    assert m, "the card names the customer"
    shown = text_of(m.group(1))
    # The approver reads the trusted customer's address; the refund is of the attacker's charge.
    assert displayed(shown) != "ann.lee@example.com", (
        f"the card paints {shown!r} as 'ann.lee@example.com' (bidi override passed through unmarked)"
    )


async def test_new_vendor_card_paints_a_bank_account_other_than_the_one_written(ui: Ui) -> None:
    real = "DE89370400440532013000"
    # The IBAN on the attacker's invoice, as the model copied it: the last six digits are
    # written reversed behind an RLO, so the account is ...0532000310 but paints as `real`.
    iban = "DE89370400440532\u202e000310\u202c"
    args = {"name": "Acme Supplies", "currency": "EUR", "iban": iban}
    action_id = plant(ui, tool="erp__create_vendor", arguments=args, effects=VENDOR.summary(args))
    page = (await ui.get("/ui/queue", role="approver")).text
    m = re.search(
        r'payee account</span> <span class="arrow">→</span> <strong>(.*?)</strong>', card(page, action_id)
    )
    assert m, "the card names the payee account"
    shown = text_of(m.group(1))
    assert shown.replace("\u202e", "").replace("\u202c", "") != real  # the account written is not `real`
    assert displayed(shown) != real, (
        f"the card paints the account {shown!r} as {real} (bidi override passed through unmarked)"
    )


def test_the_gate_flags_a_write_carrying_invisible_characters() -> None:
    from app.agent.policy import Policy, new_facts
    from tests.support.tools import tool

    vendor = tool("erp__create_vendor")
    args = {"name": "Acme Supplies", "currency": "EUR", "iban": "DE89370400440532\u202e000310\u202c"}
    decision = Policy().decide(vendor, args, new_facts())
    assert decision.risk == "high"
    assert any("U+202C, U+202E" in r for r in decision.reasons), decision.reasons
