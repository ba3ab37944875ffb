"""Imported refunds of one charge are weighed together whatever key names the charge.

Imported operations name the record they refund under many keys: `source` (the charge a transfer
or refund draws on), `txn`, or inside the URL-ish path an operation takes. Two runs each
refunding 4,000 of one charge (threshold 5,000) through such an operation: the second needs two
approvers, as it does for `{"charge": "ch_1"}` (the control).
"""

from __future__ import annotations

from typing import Any

import pytest

from app.store.db import Database
from tests.services.test_imported_refund_naming import THRESHOLD, _second_decision


async def _weighed(db: Database, refund: dict[str, Any]) -> None:
    decided = await _second_decision(db, refund, dict(refund))
    assert decided["status"] == "pending" and decided["required_approvals"] == 2, (
        f"two runs each refunding 4,000 through the imported refund with {refund} (threshold "
        f"{THRESHOLD}) were each approved by one person: {decided['status']}, required "
        f"{decided['required_approvals']}, reasons {decided['reasons']}"
    )


async def test_control_a_charge_key_is_weighed(db: Database) -> None:
    await _weighed(db, {"charge": "ch_1", "amount": 4_000})


@pytest.mark.parametrize(
    "refund",
    [
        {"source": "ch_1", "amount": 4_000},
        {"txn": "T-1001", "amount": 4_000},
        {"path": "/v1/charges/ch_1/refunds", "amount": 4_000},
    ],
    ids=["source", "txn", "url-path"],
)
async def test_the_same_charge_under_another_key_is_weighed(db: Database, refund: dict[str, Any]) -> None:
    await _weighed(db, refund)
