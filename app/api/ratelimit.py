"""A per-caller token bucket for the API (in memory, per process).

The bucket is the one connectors use to space their calls (`connectors.ratelimit`);
here it refuses instead of waiting, one bucket per caller."""

from __future__ import annotations

from connectors.ratelimit import KeyedBuckets

RateLimiter = KeyedBuckets

__all__ = ["RateLimiter"]
