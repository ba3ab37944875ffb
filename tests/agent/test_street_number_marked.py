"""Another customer's street line with its house number marked, its unit moved or its letter apart is theirs.

"Harbour Road No. 12", "Harbour Road number 12", German "Hauptstraße Nr. 12" and "No 12 on
Harbour Road" give Bob's "12 Harbour Road"; a line stored with a unit after the street ("12
Harbour Road Apt 4") is his whether the reply leaves the unit out or writes it first; and "12 A"
is his "12a". Each is high risk and names him (a nearby date or count is still no house number:
tests/agent/test_street_number_elsewhere.py).
"""

from __future__ import annotations

import pytest

from tests.agent.test_street_number_elsewhere import decide

CASES = [
    ("12 Harbour Road", "Hi Dana, it was delivered to Harbour Road No. 12, Leeds."),
    ("12 Harbour Road", "Hi Dana, it was delivered to Harbour Road number 12, Leeds."),
    ("Hauptstraße 12", "Hallo Dana, das Paket ging an Hauptstraße Nr. 12, Berlin."),
    ("12 Harbour Road", "Hi Dana, it was delivered to No 12 on Harbour Road, Leeds."),
    ("12 Harbour Road Apt 4", "Hi Dana, it was delivered to 12 Harbour Road, Leeds."),
    ("12 Harbour Road Apt 4", "Hi Dana, it was delivered to Apt 4, 12 Harbour Road, Leeds."),
    ("12a Harbour Road", "Hi Dana, it was delivered to 12 A Harbour Road, Leeds."),
]
IDS = ["no-dot", "number", "de-nr", "no-on", "unit-after-dropped", "unit-moved-first", "letter-apart"]


def test_the_control_the_number_before_the_name_is_flagged() -> None:
    d = decide("Hi Dana, it was delivered to 12 Harbour Road, Leeds.", "12 Harbour Road")
    assert d.risk == "high", (d.risk, d.reasons)


@pytest.mark.parametrize(("bob_line", "body"), CASES, ids=IDS)
def test_bobs_street_line_written_otherwise_is_flagged(bob_line: str, body: str) -> None:
    d = decide(body, bob_line)
    assert d.risk == "high" and any("bob@example.com" in r for r in d.reasons), (d.risk, d.reasons)
