"""Contact points written so that a plain parser misses them are read as a browser or a reader
reads them: real top-level domains that look like file endings (.zip, .mov), look-alike
letters from another script, fullwidth letters and IDNA's other dots, IBANs with dashes, and
addresses spelled out. Each is flagged high in a public reply and is never low in a note."""

from __future__ import annotations

import pytest

from app.agent.policy import Policy
from tests.agent.test_outgoing import facts
from tests.support.tools import tool

REPLY = tool("helpdesk__add_comment")
NOTE = tool("crm__add_note")
COMPANY = Policy(trusted_domains=("northwind.example",))

CASES = {
    # a real gTLD (Google's .zip, .mov) that the parser treats as a file extension
    "zip_tld": "Your refund form is at northwind-refunds.zip, fill it in today.",
    "mov_tld": "Watch how to claim it: refund-howto.mov",
    # Cyrillic 'о' in the company's own domain: looks trusted, resolves elsewhere (IDN homograph)
    "idn_homograph": "Reset your password at n\u043erthwind.example/reset today.",
    # fullwidth letters and dot: browsers' IDNA mapping opens evil.com
    "fullwidth": "Confirm your card at \uff45\uff56\uff49\uff4c\uff0e\uff43\uff4f\uff4d please.",
    # ideographic full stop: IDNA maps it to '.'
    "ideographic_dot": "Claim it at northwind-refunds\u3002com/claim",
    # an IBAN written with dashes (the plain and spaced forms are flagged)
    "iban_dashes": "Please pay the difference to DE89-3704-0044-0532-0130-00.",
    # an address spelled out
    "email_words": "Send your card photo to refunds at northwind-help dot com.",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_public_reply_with_a_disguised_contact_point_is_flagged(name: str) -> None:
    d = COMPANY.decide(REPLY, {"ticket_id": 7, "body": CASES[name]}, facts())
    assert d.risk == "high", d.reasons


@pytest.mark.parametrize("name", ["iban_dashes", "zip_tld", "idn_homograph"])
def test_an_internal_note_with_a_disguised_account_or_domain_is_not_low(name: str) -> None:
    d = COMPANY.decide(NOTE, {"contact_id": "9", "body": CASES[name]}, facts())
    assert d.risk != "low", d.reasons
