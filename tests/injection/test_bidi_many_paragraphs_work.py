"""Laying out right-to-left text is linear in its length however many paragraphs it has.

python-bidi's get_display reorders each paragraph of what it is given with work of the whole
text, so one call on many short paragraphs costs (paragraphs) x (length): 800,000 characters of
Hebrew lines took 9 s. The detector lays text out a paragraph at a time, and only paragraphs with
right-to-left formatting. The work counted is that model: for each get_display call, its length
times the paragraphs in it that hold a right-to-left character.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.agent import hidden, injection

_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc\u200f\u061c\u202b\u202e\u2067\u2068]")
_PARAGRAPHS = re.compile("[\n\r\x1c\x1d\x1e\x85\u2029]")


def test_many_short_hebrew_paragraphs_are_laid_out_in_linear_work(monkeypatch: pytest.MonkeyPatch) -> None:
    work = 0
    real = hidden.get_display

    def counted(text: str, *args: Any, **kwargs: Any) -> str:
        nonlocal work
        rtl_paragraphs = sum(1 for p in _PARAGRAPHS.split(text) if _RTL.search(p))
        work += len(text) * max(rtl_paragraphs, 1)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(hidden, "get_display", counted)
    body = "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd\n" * 10_000  # 100,000 characters, 10,000 lines
    injection.scan(body)
    assert work <= 10 * len(body), work
