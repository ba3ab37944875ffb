"""'Select all low-risk' takes only writes a person can undo; the bulk endpoint refuses the rest."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from app.services import approvals
from app.services.views import action_view
from app.store.tables import Action
from tests.web.conftest import Ui

IRREVERSIBLE: dict[str, dict[str, Any]] = {
    "team message": {"reversible": False, "final": False, "message": {"audience": "team"}},
    "money": {
        "reversible": False,
        "final": False,
        "money": {"amount": 900, "currency": None, "source": "ch_1"},
    },
    "final": {"reversible": False, "final": True},
    "public message": {"reversible": True, "final": False, "message": {"audience": "public"}},
    "not recorded": {},
}


def _plant(ui: Ui) -> tuple[str, dict[str, str]]:
    """The reversible low-risk tag update the triage proposed, and a low-risk copy of it per
    kind of write that cannot be taken back (as an old or mis-rated row could be)."""
    update = next(a for a in ui.pending() if a["operation"] == "update_ticket")
    assert update["risk"] == "low" and update["effects"]["reversible"] is True
    planted: dict[str, str] = {}
    with ui.c.db.session() as s:
        row = s.get(Action, update["id"])
        assert row is not None
        for n, (label, effects) in enumerate(IRREVERSIBLE.items()):
            copy = Action(
                run_id=row.run_id,
                tool_call_id=f"{row.tool_call_id}-copy{n}",
                tool=row.tool,
                connection=row.connection,
                operation=row.operation,
                arguments=row.arguments,
                proposed_arguments=row.arguments,
                status="pending",
                risk="low",
                reasons=[],
                effects=effects,
            )
            s.add(copy)
            s.flush()
            planted[label] = copy.id
    return update["id"], planted


async def test_select_all_low_risk_offers_only_undoable_writes(ui: Ui) -> None:
    update, planted = _plant(ui)
    page = (await ui.get("/ui/queue", role="approver")).text
    offered = set(re.findall(r'class="bulk-check" name="ids" value="([^"]+)"', page))
    assert update in offered
    assert not offered & set(planted.values())
    assert approvals.get_action(ui.c.db, update)["bulk"] is True
    with ui.c.db.session() as s:
        views = {
            a.id: action_view(a) for a in s.scalars(select(Action).where(Action.id.in_(planted.values())))
        }
    assert not any(v["bulk"] for v in views.values())


async def test_the_bulk_endpoint_refuses_irreversible_writes_whatever_the_page_sent(ui: Ui) -> None:
    update, planted = _plant(ui)
    form = {"ids": [update, *planted.values()], "decision": "approve"}
    r = await ui.post("/ui/queue/bulk", role="approver", data=form, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "Approved 1 item." in r.text
    assert approvals.get_action(ui.c.db, update)["status"] == "approved"
    for label, action_id in planted.items():
        assert approvals.get_action(ui.c.db, action_id)["status"] == "pending", label
    for why in (
        "it cannot be undone",
        "it moves money",
        "it is a final submission",
        "it sends a message customers will read",
        "what it does was not recorded",
    ):
        assert why in r.text, why
    assert "open it and decide it on its own" in r.text
