"""Waits on concurrency limits show on /metrics: a worker slowed by its own caps says so."""

from __future__ import annotations

import asyncio

from connectors.limits import ConcurrencyLimit
from tests.observability.conftest import sample


async def test_a_call_that_waits_for_a_slot_is_counted_while_it_waits_and_after() -> None:
    limit = ConcurrencyLimit("model:metrics-test", 1)
    released = asyncio.Event()

    async def hold() -> None:
        async with limit.slot():
            await released.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0.05)
    labels = {"limit": "model:metrics-test"}
    assert sample("switchboard_concurrency_limit_slots", **labels) == 1
    assert sample("switchboard_concurrency_limit_in_flight", **labels) == 1
    assert sample("switchboard_concurrency_limit_waiting", **labels) == 1
    assert sample("switchboard_concurrency_limit_waits_total", **labels) == 1
    released.set()
    await asyncio.gather(holder, waiter)
    assert sample("switchboard_concurrency_limit_waiting", **labels) == 0
    assert sample("switchboard_concurrency_limit_in_flight", **labels) == 0
    assert sample("switchboard_concurrency_limit_wait_seconds_total", **labels) >= 0.04
