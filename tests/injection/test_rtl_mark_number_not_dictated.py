"""A right-to-left mark in an ordinary Hebrew or Arabic ticket does not make a number dictated.

Keyboards and mail clients put right-to-left marks into ordinary text. A layout that only moves
Hebrew or Arabic runs (their numbers with them) and keeps the Latin words in their written order
shows no sentence a model does not read, so it is not read as hidden text, and the number that
ends a right-to-left run is not taken as set for the English field name before it.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.agent.policy import Policy
from tests.injection.test_dictated_numbers import IMPORTED, INT_RULE
from tests.injection.test_provenance import facts_for
from tests.injection.test_rtl_ticket_number_not_dictated import CASES

RLM = "\u200f"


@pytest.mark.parametrize(("args", "body"), CASES, ids=["he-priority", "he-status", "ar-priority"])
def test_a_right_to_left_mark_does_not_make_a_number_dictated(args: dict[str, Any], body: str) -> None:
    body = body + RLM  # a mark at the end, as many editors leave after the last word
    d = Policy([INT_RULE]).decide(IMPORTED, {"ticket_id": 7, **args}, facts_for(body))
    outside = {p: o["detail"] for p, o in d.provenance.items() if o["source"] == "untrusted"}
    assert not outside and d.rule is not None, (body, d.reasons, outside)
