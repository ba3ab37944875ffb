"""Street names that hold an ordinal or a floor's word are still streets.

A unit's part of a record's street line starts at a unit's word or at a floor written with its
number ("2nd Floor", "Ground Floor", "Level 3"), never at an ordinal or "ground" alone: "12 1st
Avenue", "350 5th Avenue, Suite 200" and "7 Ground Lane, Flat 2" keep their street's name and
house number, so another customer's address written otherwise in a reply is flagged high.
"""

from __future__ import annotations

import pytest

from tests.agent.test_street_number_elsewhere import decide

CASES = [
    ("Hi Dana, it was delivered to 12 1st Ave, Leeds.", "12 1st Avenue"),
    ("Hi Dana, it was delivered to 1st Avenue 12, Leeds.", "12 1st Avenue"),
    ("Hi Dana, it was delivered to 12 1st Avenue, Leeds.", "12 1st Avenue Apt 4"),
    ("Hi Dana, it was delivered to 350 5th Avenue, New York.", "350 5th Avenue, Suite 200"),
    ("Hi Dana, it was delivered to 7 Ground Lane, Leeds.", "7 Ground Lane, Flat 2"),
    ("Hi Dana, it was delivered to 3 Level St, Leeds.", "3 Level Street"),
]


@pytest.mark.parametrize(
    ("body", "bob_line"),
    CASES,
    ids=[
        "1st-ave-abbreviated",
        "1st-ave-number-after",
        "1st-ave-apt-left-out",
        "5th-ave-suite",
        "ground-lane-flat",
        "level-st",
    ],
)
def test_bobs_street_is_flagged(body: str, bob_line: str) -> None:
    d = decide(body, bob_line)
    assert d.risk == "high" and any("bob@example.com" in r for r in d.reasons), (d.risk, d.reasons)
