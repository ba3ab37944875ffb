"""A house number with a letter is a house number.

Another customer's "12a Harbour Road" written "12A Harbour Rd." or "Harbour Road 12a" in a reply
is theirs, flagged high as the exact line is.
"""

from __future__ import annotations

import pytest

from tests.agent.test_street_number_elsewhere import decide


def test_the_control_the_exact_line_is_flagged() -> None:
    d = decide("Hi Dana, it was delivered to 12a Harbour Road, Leeds.", "12a Harbour Road")
    assert d.risk == "high", (d.risk, d.reasons)


@pytest.mark.parametrize(
    "body",
    [
        "Hi Dana, it was delivered to 12A Harbour Rd., Leeds.",
        "Hi Dana, it was delivered to Harbour Road 12a, Leeds.",
    ],
    ids=["abbreviated", "number-after"],
)
def test_a_house_number_with_a_letter_is_still_bobs(body: str) -> None:
    d = decide(body, "12a Harbour Road")
    assert d.risk == "high" and any("bob@example.com" in r for r in d.reasons), (d.risk, d.reasons)
