"""A system's own keys are not outside text for provenance.

A Shopify order's keys (`total_line_items_price_set`, `current_total_additional_fees_set`) are
the system's: a tag the model chose ("fees") is not traced to "data read in this run" because a
key holds the word, and the standing rule that allows the tag runs it.
"""

from __future__ import annotations

from app.agent.policy import Policy, StandingRule, merge_facts, observe
from tests.injection.test_provenance import facts_for

TIGHT = StandingRule(
    tool="helpdesk__update_ticket",
    approved_by="lead",
    arguments_schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "ticket_id": {"type": "integer"},
            "add_tags": {"type": "array", "items": {"enum": ["refund", "fees"]}},
        },
    },
)
ORDER = {
    "order": {
        "id": 8812,
        "total_line_items_price_set": {"shop_money": {"amount": "19.99", "currency_code": "EUR"}},
        "current_total_additional_fees_set": None,
    }
}


def test_a_tag_matching_a_word_of_a_system_key_runs_under_the_rule() -> None:
    from tests.support.tools import tool

    facts = facts_for("My order total looks wrong, can you check?")
    merge_facts(facts, observe(ORDER))
    d = Policy([TIGHT]).decide(tool("helpdesk__update_ticket"), {"ticket_id": 7, "add_tags": ["fees"]}, facts)
    assert d.provenance["add_tags/0"]["source"] != "untrusted", d.provenance["add_tags/0"]
    assert not d.needs_approval and d.rule == TIGHT, d.reasons
