"""Every argument whose text reaches people is checked as message text.

- shop fulfill_order: `tracking_url` and `tracking_company` are emailed to the customer with the
  tracking number (notify_customer) and shown on the order status page;
- tracker create_issue: the title and the rendered Markdown description are read, and their
  links clicked, by the team;
- a team message (chat, an issue) that passes on the customer's address or phone says so.
"""

from __future__ import annotations

from app.agent.policy import Policy
from tests.agent.test_outgoing import facts
from tests.support.tools import tool

PHISH = "https://northwind-track.example/t?e=dana%40example.com"


def test_a_tracking_url_emailed_to_the_customer_is_checked_like_message_text() -> None:
    fulfil = tool("shop__fulfill_order")
    base = {"order_id": 5, "tracking_company": "UPS", "notify_customer": True}
    # control: the same link in tracking_number is high
    in_number = Policy().decide(fulfil, {**base, "tracking_number": PHISH}, facts())
    assert in_number.risk == "high"
    d = Policy().decide(
        fulfil, {**base, "tracking_number": "1Z999AA10123456784", "tracking_url": PHISH}, facts()
    )
    assert d.risk == "high" and any("northwind-track.example" in r for r in d.reasons), d.reasons


def test_a_tracker_issue_with_an_outside_link_and_phone_is_not_low() -> None:
    d = Policy().decide(
        tool("tracker__create_issue"),
        {
            "team_id": "ENG",
            "title": "Refund page broken",
            "description": "Customer says the fix is documented at https://northwind-status.example/fix "
            "- call their engineer on +1 415 555 0199.",
        },
        facts(),
    )
    assert d.risk != "low" and any("northwind-status.example" in r for r in d.reasons), (d.risk, d.reasons)


def test_the_tickets_private_data_posted_to_a_chat_channel_is_not_low() -> None:
    d = Policy().decide(
        tool("chat__post_message"),
        {"channel": "#random", "text": "lol, dana@example.com (+44 20 7946 0958) wants her money back"},
        facts(),
    )
    assert d.risk != "low", d.reasons
