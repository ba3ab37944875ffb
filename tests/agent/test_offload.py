"""Store calls run on the offload's threads, and each is timed as the run waited for it."""

from __future__ import annotations

import functools

import pytest

from app.agent.offload import Offload
from app.observability.metrics import REGISTRY


class _Store:
    def save(self, x: int) -> int:
        return x * 2

    def broken(self) -> None:
        raise ValueError("the database said no")


def _timed(call: str) -> tuple[float, float]:
    """switchboard_store_call_seconds for `call` so far: (calls timed, seconds in all)."""

    def value(name: str) -> float:
        return REGISTRY.get_sample_value(f"switchboard_store_call_seconds_{name}", {"call": call}) or 0.0

    return value("count"), value("sum")


async def test_each_store_call_is_timed_under_its_function_name() -> None:
    offload, store = Offload(2), _Store()
    saved, broken = _timed("_Store.save"), _timed("_Store.broken")
    try:
        assert await offload(store.save, 2) == 4
        assert await offload(store.save, x=5) == 10
        with pytest.raises(ValueError, match="said no"):
            await offload(store.broken)
    finally:
        offload.close()
    assert _timed("_Store.save")[0] == saved[0] + 2
    assert _timed("_Store.save")[1] > saved[1]
    assert _timed("_Store.broken")[0] == broken[0] + 1  # a call that failed is timed too


async def test_a_partial_is_timed_under_the_function_it_wraps() -> None:
    offload, store = Offload(1), _Store()
    saved = _timed("_Store.save")
    try:
        assert await offload(functools.partial(store.save, 3)) == 6
    finally:
        offload.close()
    assert _timed("_Store.save")[0] == saved[0] + 1
