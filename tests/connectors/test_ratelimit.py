"""The one token bucket: connectors wait on it, the API refuses with it."""

from __future__ import annotations

import asyncio

import pytest

from app.api.ratelimit import RateLimiter
from connectors.ratelimit import KeyedBuckets, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_take_says_how_long_until_the_next_token_and_takes_nothing_meanwhile() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4.0, burst=2, clock=clock)
    assert bucket.take() == 0.0 and bucket.take() == 0.0
    assert bucket.take() == pytest.approx(0.25)
    clock.now += 0.1
    assert bucket.take() == pytest.approx(0.15)  # the refused call took no token
    clock.now += 0.15
    assert bucket.try_take() and not bucket.try_take()


def test_an_idle_bucket_refills_only_up_to_its_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1.0, burst=3, clock=clock)
    for _ in range(3):
        assert bucket.try_take()
    clock.now += 3600
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]


async def test_concurrent_waiters_are_spaced_one_token_apart() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, clock=clock, sleep=clock.sleep)
    await asyncio.gather(*(bucket.acquire() for _ in range(5)))
    assert clock.sleeps == pytest.approx([0.5] * 4)
    assert clock.now == pytest.approx(102.0)


def test_keyed_buckets_limit_each_key_on_its_own() -> None:
    clock = FakeClock()
    limiter = KeyedBuckets(rate=1.0, burst=2, clock=clock)
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    assert limiter.allow("b")  # another caller is not held back by the first
    clock.now += 1.0
    assert limiter.allow("a") and not limiter.allow("a")


def test_keyed_buckets_turn_off_at_rate_zero_and_stay_bounded() -> None:
    off = KeyedBuckets(rate=0, burst=1)
    assert all(off.allow("a") for _ in range(100)) and len(off) == 0
    limiter = KeyedBuckets(rate=1.0, burst=1, max_keys=3)
    for key in "abcdef":
        limiter.allow(key)
    assert len(limiter) <= 3


def test_the_api_limiter_is_the_shared_bucket() -> None:
    assert RateLimiter is KeyedBuckets
