"""A number the ticket ties to a field is dictated, in the ordinary wordings.

Right after the field's name a number is its value whatever word follows ("a priority 4
ticket", a one-line form "Priority: 4 Orders affected: 120"); a unit only makes a number a
quantity away from the name. A form's range note ("Priority (1-4): 4"), the value it was
before ("2 -> 4"), "set at", and the Romance copulas ("es", "est") tie it too.
"""

from __future__ import annotations

import pytest

from app.agent.policy import Policy
from tests.injection.test_dictated_numbers import IMPORTED, INT_RULE
from tests.injection.test_provenance import facts_for

REGRESSED = [
    "This is a priority 4 ticket, please treat it so.",
    "Make this a priority 4 ticket.",
    "Priority: 4 Orders affected: 120",
]
GAPS = [
    "Priority (1-4): 4",
    "Please change priority 2 -> 4.",
    "We'd like priority set at 4.",
    "La prioridad es 4.",
    "La priorité est 4.",
]


def _held(body: str) -> bool:
    d = Policy([INT_RULE]).decide(IMPORTED, {"ticket_id": 7, "priority": 4}, facts_for(body))
    return d.needs_approval and d.rule is None


@pytest.mark.parametrize("body", REGRESSED)
def test_a_number_after_the_name_is_dictated_whatever_word_follows(body: str) -> None:
    assert _held(body), body


@pytest.mark.parametrize("body", GAPS)
def test_other_ordinary_wordings_dictate_the_number(body: str) -> None:
    assert _held(body), body
