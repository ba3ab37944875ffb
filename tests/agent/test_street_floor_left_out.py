"""A record's street line whose unit starts with its number ("2nd Floor", "Level 3", "Ground
Floor") is still that customer's when a reply leaves the unit out: the street's name read from
the record stops at the unit, so "12 Harbour Road" names them."""

from __future__ import annotations

import pytest

from tests.agent.test_street_number_elsewhere import decide


def test_the_control_apt_left_out_is_flagged() -> None:
    assert (
        decide("Hi Dana, it was delivered to 12 Harbour Road, Leeds.", "12 Harbour Road Apt 4").risk == "high"
    )


@pytest.mark.parametrize(
    "bob_line", ["12 Harbour Road, 2nd Floor", "12 Harbour Road, Level 3", "12 Harbour Road Ground Floor"]
)
def test_bobs_line_with_its_floor_left_out_is_flagged(bob_line: str) -> None:
    d = decide("Hi Dana, it was delivered to 12 Harbour Road, Leeds.", bob_line)
    assert d.risk == "high" and any("bob@example.com" in r for r in d.reasons), (d.risk, d.reasons)
