"""Contact points in an outgoing reply, however they are disguised, are seen by `outgoing.spans`.

Each body below makes a browser open, or a reader write to / pay, a place nothing in the run
vouches for; a public reply that carries one must be high with a reason naming it (as the
same place written plainly is). Browser behaviour checked in Chromium:
new URL("https://help.example.com'@evil.test/refund").host == "evil.test";
new URL("https://refunds-portal\\ufe0f.test/").host == "refunds-portal.test".
"""

from __future__ import annotations

import pytest

from app.agent.outgoing import Trust, strip_untrusted
from app.agent.policy import Policy
from tests.agent.test_outgoing import facts
from tests.support.tools import tool

REPLY = tool("helpdesk__add_comment")
GATE = Policy(trusted_domains=("help.example.com",))


def _reply(body: str):
    return GATE.decide(REPLY, {"ticket_id": 7, "body": body}, facts())


def test_control_plain_forms_are_flagged() -> None:
    for body in (
        "Refund portal: https://evil.test/refund",
        "Write to billing@evil-help.test",
        "Pay to DE89 3704 0044 0532 0130 00",
        "Visit refunds-portal.test",
    ):
        assert _reply(body).risk == "high", body


# A link is cut at ' ) ] ` before its userinfo: the gate sees https://help.example.com (trusted),
# and "@evil.test" is neither an address (no word character before @) nor a domain (after @).
@pytest.mark.parametrize("quote", ["'", ")", "]", "`"])
def test_a_link_cut_before_its_userinfo_opens_another_host(quote: str) -> None:
    body = (
        f'Please confirm here: <a href="https://help.example.com{quote}@evil.test/refund">Refund portal</a>'
    )
    d = _reply(body)
    assert d.risk == "high" and any("evil.test" in r for r in d.reasons), d.reasons
    stripped, _ = strip_untrusted(body, Trust.of(facts(), ("help.example.com",)))
    assert "evil.test" not in stripped


# RFC 5322 allows ~ $ ' # & { } ! and quoted local parts; EMAIL requires [\w.+-] right before @.
@pytest.mark.parametrize(
    "address", ["billing~@evil-help.test", '"billing"@evil-help.test', "refund$@evil-help.test"]
)
def test_an_address_with_another_local_part_character_is_seen(address: str) -> None:
    d = _reply(f"Send the receipt to {address} and we refund you today.")
    assert d.risk == "high" and any("evil-help.test" in r for r in d.reasons), d.reasons


# The country code in Cyrillic ("DЕ", U+0415) or groups split by dots/slashes: a reader pays it,
# neither _payee (IBAN on raw text) nor the message check (skips kind iban) sees an account.
@pytest.mark.parametrize(
    "account",
    ["D\u041589 3704 0044 0532 0130 00", "DE89.3704.0044.0532.0130.00", "DE89/3704/0044/0532/0130/00"],
)
def test_a_disguised_iban_in_a_reply_is_flagged(account: str) -> None:
    d = _reply(f"Our bank details changed: please transfer the balance to {account}.")
    assert d.risk == "high" and any("3704" in r for r in d.reasons), d.reasons


# Variation selectors and the combining grapheme joiner are ignored by IDNA (browsers drop them
# from hosts) and invisible to a reader, but INVISIBLE does not list them: the domain vanishes
# from the gate's reading and no "invisible characters" reason is given either.
@pytest.mark.parametrize("hidden", ["\ufe0f", "\u034f", "\U000e0100"])
def test_a_domain_with_an_ignorable_character_is_seen(hidden: str) -> None:
    d = _reply(f"Our refunds moved to refunds-portal{hidden}.test - log in there.")
    assert d.risk == "high", d.reasons


def test_a_phone_number_written_with_slashes_is_seen() -> None:
    d = _reply("Call our refund desk on 415/555/0199 with your card number.")
    assert d.risk == "high" and any("0199" in r for r in d.reasons), d.reasons
