"""One token bucket: outgoing calls wait for it, incoming requests are refused by it.

Connectors space their requests to a system with `TokenBucket.acquire` (wait until a
token is there); the API refuses a caller past its rate with `KeyedBuckets.allow`
(take a token now or say no). Both are the same arithmetic, kept here once, in a
module that imports nothing of Switchboard so every layer may use it. Clocks and
sleeps are injectable so tests never wait for real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class TokenBucket:
    """At most `rate` tokens per second on average, bursts up to `burst`; starts full."""

    __slots__ = ("_clock", "_lock", "_sleep", "_tokens", "_updated", "capacity", "rate")

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.capacity = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock: asyncio.Lock | None = None  # made on first acquire: a refusing bucket needs none

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def take(self) -> float:
        """Take a token if one is there and return 0; otherwise take nothing and return the
        seconds until one will be."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate

    def try_take(self) -> bool:
        """Take a token if one is there, without waiting."""
        return self.take() == 0.0

    async def acquire(self) -> None:
        """Wait until a token is there and take it."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        # The lock keeps waiters in line, so the spacing holds under concurrency.
        async with self._lock:
            while (wait := self.take()) > 0:
                await self._sleep(wait)


class KeyedBuckets:
    """One bucket per key (a caller's token or address), for refusing rather than waiting.

    A `rate` of 0 or less turns limiting off. The table is cleared when it reaches
    `max_keys`, so a flood of distinct keys cannot grow memory without bound; a cleared
    key starts again with a full bucket, which errs towards letting callers in."""

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic, max_keys: int = 10_000):
        self.rate = rate
        self.burst = max(1.0, float(burst))
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, key: str) -> bool:
        if self.rate <= 0:
            return True
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, clock=self.clock)
        return bucket.try_take()

    def __len__(self) -> int:
        return len(self._buckets)
