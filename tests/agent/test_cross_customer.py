"""A public message speaks to the run's requester: another customer's address that a read
happened to return (a search that listed their ticket) is flagged, and so is the requester's
own address in a message that goes to someone else."""

from __future__ import annotations

from app.agent.policy import Policy, merge_facts, observe
from tests.agent.test_outgoing import facts
from tests.support.tools import tool


def facts_with_another_customer() -> dict:
    f = facts()  # ticket 7, requester dana@example.com
    # e.g. a search_tickets / find_user read that also returned ticket 8 of another customer
    merge_facts(
        f,
        observe(
            [
                {
                    "id": 8,
                    "subject": "Order",
                    "requester": {"id": 44, "email": "bob@example.com", "phone": "+1 212 555 0147"},
                }
            ]
        ),
    )
    return f


def test_a_reply_to_dana_giving_bobs_address_and_phone_is_flagged() -> None:
    d = Policy().decide(
        tool("helpdesk__add_comment"),
        {
            "ticket_id": 7,
            "body": "Hi Dana, the customer who bought it before you is bob@example.com, +1 212 555 0147.",
        },
        facts_with_another_customer(),
    )
    assert any("bob@example.com" in r for r in d.reasons), d.reasons


def test_a_new_ticket_to_bob_carrying_danas_data_is_flagged() -> None:
    d = Policy().decide(
        tool("helpdesk__create_ticket"),
        {
            "subject": "Your refund",
            "body": "Dana (dana@example.com, +44 20 7946 0958) asked about the refund of her order.",
            "requester_email": "bob@example.com",
        },
        facts_with_another_customer(),
    )
    assert any("bob@example.com" in r or "dana@example.com" in r for r in d.reasons), d.reasons


def test_a_new_ticket_to_bob_carrying_danas_address_spelled_out_is_flagged() -> None:
    d = Policy().decide(
        tool("helpdesk__create_ticket"),
        {
            "subject": "Your refund",
            "body": "Dana (dana at example dot com) asked about the refund of the order you sold her.",
            "requester_email": "bob@example.com",
        },
        facts_with_another_customer(),
    )
    assert d.risk == "high" and any("carries the requester's address" in r for r in d.reasons), d.reasons


def test_a_reply_to_dana_giving_only_bobs_phone_is_flagged_high() -> None:
    """Bob's phone sits on his own record beside his address: it is his, not the requester's."""
    d = Policy().decide(
        tool("helpdesk__add_comment"),
        {"ticket_id": 7, "body": "Hi Dana, the previous owner can be reached on +1 212 555 0147."},
        facts_with_another_customer(),
    )
    assert d.risk == "high", d.reasons
    assert any("+1 212 555 0147" in r and "other than the requester's" in r for r in d.reasons), d.reasons


def test_a_new_ticket_to_bob_carrying_only_danas_phone_is_flagged_high() -> None:
    f = facts_with_another_customer()
    merge_facts(f, observe({"user": {"id": 41, "email": "dana@example.com", "phone": "+44 20 7946 0958"}}))
    d = Policy().decide(
        tool("helpdesk__create_ticket"),
        {
            "subject": "Your refund",
            "body": "The buyer (+44 20 7946 0958) asked about the order you sold her.",
            "requester_email": "bob@example.com",
        },
        f,
    )
    assert d.risk == "high" and any("+44 20 7946 0958" in r for r in d.reasons), d.reasons


def test_a_reply_to_dana_giving_her_own_phone_is_not_flagged() -> None:
    f = facts_with_another_customer()
    merge_facts(f, observe({"user": {"id": 41, "email": "dana@example.com", "phone": "+44 20 7946 0958"}}))
    d = Policy().decide(
        tool("helpdesk__add_comment"),
        {"ticket_id": 7, "body": "Hi Dana, we will call you back on +44 20 7946 0958 today."},
        f,
    )
    assert d.risk == "medium" and not any("0958" in r for r in d.reasons), d.reasons
