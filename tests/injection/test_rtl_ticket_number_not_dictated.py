"""A Hebrew or Arabic ticket that names an English field does not dictate a number by layout.

Text with right-to-left letters but no bidi formatting is read as written: no reader sees the
number that ends a right-to-left run ("... number of parcels: 2") right after an English word
before the run ("Priority"), so provenance does not read "Priority 2" there, and the standing
rule runs its ordinary write.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.agent.policy import Policy
from tests.injection.test_dictated_numbers import IMPORTED, INT_RULE
from tests.injection.test_provenance import facts_for

CASES: list[tuple[dict[str, Any], str]] = [
    # "Hello, I ordered Priority shipping a week ago, number of parcels: 2"
    (
        {"priority": 2},
        "\u05e9\u05dc\u05d5\u05dd, \u05d4\u05d6\u05de\u05e0\u05ea\u05d9 \u05de\u05e9\u05dc\u05d5\u05d7 Priority \u05dc\u05e4\u05e0\u05d9 \u05e9\u05d1\u05d5\u05e2, \u05de\u05e1\u05e4\u05e8 \u05d7\u05d1\u05d9\u05dc\u05d5\u05ea: 2",
    ),
    # "I checked the status of the order, it has been late for 3"
    (
        {"status": 3},
        "\u05d1\u05d3\u05e7\u05ea\u05d9 \u05d0\u05ea \u05d4-status \u05e9\u05dc \u05d4\u05d4\u05d6\u05de\u05e0\u05d4, \u05d4\u05d9\u05d0 \u05de\u05ea\u05e2\u05db\u05d1\u05ea \u05db\u05d1\u05e8 3",
    ),
    # Arabic: "I ordered Priority shipping a week ago, number of parcels: 3"
    (
        {"priority": 3},
        "\u0637\u0644\u0628\u062a \u0634\u062d\u0646 Priority \u0645\u0646\u0630 \u0623\u0633\u0628\u0648\u0639\u060c \u0639\u062f\u062f \u0627\u0644\u0637\u0631\u0648\u062f: 3",
    ),
]


@pytest.mark.parametrize(("args", "body"), CASES, ids=["he-priority", "he-status", "ar-priority"])
def test_a_number_ending_a_right_to_left_run_is_not_dictated(args: dict[str, Any], body: str) -> None:
    d = Policy([INT_RULE]).decide(IMPORTED, {"ticket_id": 7, **args}, facts_for(body))
    outside = {p: o["detail"] for p, o in d.provenance.items() if o["source"] == "untrusted"}
    assert not outside and d.rule is not None, (body, d.reasons, outside)
