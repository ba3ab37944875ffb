"""A connection is not moved to another system while writes proposed for the one before wait.

Removing a connection is refused while writes on it are pending, approved or running;
`connections update --base-url` points the same name at another system in one step, so it is
refused alike: an approver who reads "reply on desk" approves it for the system it was proposed
for (its facts, customers and charges were read there). Once the writes are decided, it moves.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.services import approvals
from app.services.auth import Principal
from app.services.connections import update_connection
from app.services.errors import Conflict
from tests.services.test_connection_changes import _desk, c, pending_write  # noqa: F401  (the fixture)

PAT = Principal("pat", "approver")


def _pending_on_desk(c: Any) -> str:  # noqa: F811
    return pending_write(c, "desk", "add_tags", {"ticket_id": 1, "tags": ["vip"]})


def test_a_connection_with_writes_waiting_is_not_moved_to_another_system(c: Any) -> None:  # noqa: F811
    _desk(c)
    action_id = _pending_on_desk(c)
    with pytest.raises(Conflict, match=r"cannot be moved to http://other-helpdesk\.sim: it has 1 write"):
        update_connection(c.db, c.box, "desk", base_url="http://other-helpdesk.sim", allow_private=True)
    approvals.reject(c.db, action_id, PAT, "not now")
    assert update_connection(
        c.db, c.box, "desk", base_url="http://other-helpdesk.sim", allow_private=True
    ) == ["base_url"]
