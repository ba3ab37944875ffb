"""A phone number read out the British way with "nought" (or "nil") for zero is still the number.

"two one two, five five five, nought one four seven" and "two one two, triple five, nought one
four seven" give Bob's +1 212 555 0147, someone else's number than the requester's: high risk.
"""

from __future__ import annotations

import pytest

from tests.agent.test_spoken_phone_variants import decide


@pytest.mark.parametrize(
    "said",
    [
        "two one two, five five five, nought one four seven",
        "two one two, triple five, nought one four seven",
    ],
    ids=["nought", "triple-and-nought"],
)
def test_bobs_number_with_nought_is_flagged_high(said: str) -> None:
    d = decide(said)
    assert d.risk == "high", (said, d.risk, d.reasons)
