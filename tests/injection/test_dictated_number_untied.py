"""A number near the word "priority" or "status" is not a number the ticket sets for that field.

A number counts as set by the ticket only when the text ties it to the field ("priority: 4",
"the priority of this ticket to 4"); "Priority Mail on May 3", "the status of my order … for 4
days", Spanish "he estado esperando 3 semanas" and Italian "è stato spedito 2 settimane fa"
set nothing, and the standing rule runs the write.
"""

from __future__ import annotations

import pytest

from app.agent.policy import Policy
from tests.injection.test_dictated_numbers import IMPORTED, INT_RULE
from tests.injection.test_provenance import facts_for

CASES = [
    ("I paid extra for Priority Mail on May 3 and the parcel still has not arrived.", {"priority": 3}),
    ("What is the status of my order? The tracking page has said processing for 4 days.", {"status": 4}),
    ("Hola, he estado esperando mi pedido 3 semanas y no ha llegado.", {"status": 3}),
    ("Ciao, il mio ordine è stato spedito 2 settimane fa ma non è mai arrivato.", {"status": 2}),
]


def test_the_control_runs_under_the_rule() -> None:
    d = Policy([INT_RULE]).decide(
        IMPORTED, {"ticket_id": 7, "priority": 3}, facts_for("My kettle arrived with a cracked lid.")
    )
    assert not d.needs_approval and d.rule is not None, (d.reasons, d.provenance)


@pytest.mark.parametrize(
    ("body", "args"), CASES, ids=["priority-mail", "order-status", "es-estado", "it-stato"]
)
def test_a_number_the_ticket_does_not_tie_to_the_field_is_not_dictated(body: str, args: dict) -> None:
    d = Policy([INT_RULE]).decide(IMPORTED, {"ticket_id": 7, **args}, facts_for(body))
    outside = {p: o["detail"] for p, o in d.provenance.items() if o["source"] == "untrusted"}
    assert not outside and d.rule is not None, (body, d.reasons, outside)
