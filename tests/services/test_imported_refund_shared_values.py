"""A value every refund of an account carries does not tie two refunds of different charges.

A key with a word an account shares (`payment_method`, `refund_reason`, `location_id`: Shopify's
and Square's shop location) names no record. Two refunds of two different charges (4,000 each,
threshold 5,000) sharing such a value ("card", the location) are not weighed together: the
second is approved by one person, as in the Adyen merchant-account case of
tests/services/test_imported_refund_naming.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.store.db import Database
from tests.services.test_imported_refund_naming import _second_decision


@pytest.mark.parametrize(
    "shared",
    [{"payment_method": "card"}, {"refund_reason": "requested_by_customer"}, {"location_id": "L8Y2KQ"}],
    ids=["payment_method", "refund_reason", "location_id"],
)
async def test_refunds_of_two_charges_sharing_an_account_value_are_not_weighed_together(
    db: Database, shared: dict[str, Any]
) -> None:
    first = {"charge": "ch_1", "amount": 4_000, **shared}
    second = {"charge": "ch_2", "amount": 4_000, **shared}
    decided = await _second_decision(db, first, second)
    assert decided["status"] == "approved", (
        f"a 4,000 refund of ch_2 was weighed with one of ch_1 because both carry {shared}: "
        f"{decided['status']}, required {decided['required_approvals']}, reasons {decided['reasons']}"
    )
