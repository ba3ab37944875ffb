"""Floors written as record lines ordinarily write them end the street's name.

"Basement", "Level 3A", "Level G", "Lvl B2", "2nd Flr" and "Ground Flr" start a unit's part of a
street line, so another customer's street and house number written in a reply are found and the
reply is high risk, naming them.
"""

from __future__ import annotations

import pytest

from tests.agent.test_street_number_elsewhere import decide

BODY = "Hi Dana, it was delivered to 12 Harbour Road, Leeds."
LINES = [
    "12 Harbour Road, Basement",
    "12 Harbour Road, Level 3A",
    "12 Harbour Road, Level G",
    "12 Harbour Road, Lvl B2",
    "12 Harbour Road, 2nd Flr",
    "12 Harbour Road, Ground Flr",
    "Harbour Road 12, Level 3A",
]


@pytest.mark.parametrize("bob_line", LINES)
def test_bobs_street_with_a_floor_is_flagged(bob_line: str) -> None:
    d = decide(BODY, bob_line)
    assert d.risk == "high" and any("bob@example.com" in r for r in d.reasons), (d.risk, d.reasons)
