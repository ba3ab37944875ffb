"""Reading an override's extent takes work in proportion to the text, whatever its controls.

A PDI closes the innermost open isolate, or is ignored when none is open; which it is is known
from a count of open isolates, not by looking through the stack of open levels, so n embedding
openers followed by n PDIs take linear work. Measured as the number of membership looks in the
isolate set, not as time.
"""

from __future__ import annotations

import pytest

from app.agent import hidden

RLO, LRE, PDI = "\u202e", "\u202a", "\u2069"


class _Counted(frozenset):
    looks = 0

    def __contains__(self, item: object) -> bool:
        type(self).looks += 1
        return super().__contains__(item)


def test_unmatched_pdis_after_many_openers_take_linear_work(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 2_000
    text = "Hi " + RLO + LRE * n + PDI * n
    counted = _Counted(hidden._ISOLATES)
    _Counted.looks = 0
    monkeypatch.setattr(hidden, "_ISOLATES", counted)
    hidden._display_order(text)
    assert _Counted.looks <= 10 * len(text), (_Counted.looks, len(text))
