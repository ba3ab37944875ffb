"""Plant a pending action as the run loop records one, and read a card as an approver sees it."""

from __future__ import annotations

import html
import re
from typing import Any

from app.store.tables import Action
from tests.web.conftest import Ui


def plant(
    ui: Ui,
    *,
    tool: str,
    arguments: dict[str, Any],
    effects: dict[str, Any],
    risk: str = "high",
    reasons: list[str] | None = None,
) -> str:
    """A pending action on the fixture's run, with the effects `Effects.summary` recorded."""
    template = ui.pending()[0]
    connection, _, operation = tool.partition("__")
    with ui.c.db.session() as s:
        n = s.query(Action).count()
        a = Action(
            run_id=template["run_id"],
            tool_call_id=f"review-{n}",
            tool=tool,
            connection=connection,
            operation=operation,
            arguments=arguments,
            proposed_arguments=arguments,
            status="pending",
            risk=risk,
            reasons=reasons or [],
            effects=effects,
        )
        s.add(a)
        s.flush()
        action_id = a.id
        s.commit()
    return action_id


def card(page: str, action_id: str) -> str:
    m = re.search(rf'<article[^>]*id="a-{action_id}".*?</article>', page, re.S)
    assert m, "card not found"
    return m.group(0)


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def displayed(logical: str) -> str:
    """What a browser paints for a left-to-right string with RIGHT-TO-LEFT OVERRIDE (U+202E) …
    POP DIRECTIONAL FORMATTING (U+202C) runs: the run is drawn reversed, the controls unseen
    (Unicode Bidirectional Algorithm, rule X4/L2; enough for the strings used here)."""
    out, i = [], 0
    while i < len(logical):
        if logical[i] == "\u202e":
            j = logical.find("\u202c", i + 1)
            j = len(logical) if j < 0 else j
            out.append(logical[i + 1 : j][::-1])
            i = j + 1
        else:
            out.append(logical[i])
            i += 1
    return "".join(
        ch
        for ch in "".join(out)
        if ch not in "\u202a\u202b\u202c\u202d\u202e\u200b\u200c\u200d\u2066\u2067\u2068\u2069"
    )
