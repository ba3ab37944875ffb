"""What a worker knows of its lease on a run, on its own clock, and how a write is held to it.

The store fences every database write by the lease, but nothing fences the call to the
outside system: a worker that stalls (a GC pause, a frozen VM, a starved thread pool) could
send a write after its lease lapsed and another worker took the run over, resumed the write
and made it too. So an approved write is bound to the lease on this side as well:

- `start_execution` renews the lease in the same transaction that marks the action
  executing. The worker notes its monotonic clock *before* asking, so it knows the lease
  holds at least until then + `seconds` by the store's clock; it counts its own deadline as
  then + `seconds` - `margin`, the margin covering skew between its clock and the clocks of
  the workers that compare the expiry with their `utcnow()` (and a step of its wall clock).
- The request goes out only while at least `margin` of that deadline is left (`send_by`).
  Checked just before the connector is called; otherwise nothing is sent (`NotSent`), and the
  action goes back to approved (fenced by the lease), to be sent on the next pass.
- Once sent, the worker waits for the answer only while its heartbeat keeps the lease: the
  call runs under a timeout that each renewal moves and a lost lease ends (`held`). A call
  still unanswered at the deadline is cancelled (`CutOff`): its outcome is unknown, the action
  stays executing, and whoever resumes it looks for the earlier write before writing.

Another worker can take the run only after the lease lapsed by its clock, so after this
worker's deadline plus the margin: by then this worker has stopped sending and waiting. The
deadline for sending is the one `start_execution` set, never one a later renewal moved: a
worker that stalls between marking the action and sending refuses however its heartbeat fared.

What is left, and cannot be closed from this side:
- A stall inside synchronous code between the check (or the last await) and the socket write:
  the event loop cannot cancel code that is running, so a process frozen there for longer
  than the lease sends its request when it wakes, perhaps after another worker's write.
- A request that went out before the deadline but that the system applies after another
  worker's look-up (it was cancelled here but not there, or the system is slow to make it
  visible). The margin gives it that long to land before anyone can resume the write; a
  check-then-write look-up cannot see a write the system has not made yet.
Both need the system's own deduplication: an idempotency key it honours (idempotency="key",
e.g. Stripe's Idempotency-Key) makes the second request a replay of the first. Operations that
deduplicate by looking (idempotency="check") or not at all ("none") keep this window.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from app.agent.ports import Transient

# The margin, as a share of the lease, when none is given: 6 s of a 30 s lease. The heartbeat
# renews every third of the lease, so a healthy one never lets the deadline come near.
MARGIN_SHARE = 0.2


class NotSent(Transient):
    """A write was not sent: too little of the lease was left. Nothing went out, so the run puts
    the action back to approved (`RunStore.return_unsent`, fenced by the lease) and the next pass
    sends it as any approved write. If the lease is gone by then, the action stays executing
    (another worker may hold the run) and is resumed with the look-up for an earlier write."""


class CutOff(Transient):
    """A write was still waiting for its answer when the lease ran out, and was cancelled. Its
    outcome is unknown: whoever resumes the action looks for the earlier write first."""


class Lease:
    """One worker's lease on one run, counted on `clock` (monotonic seconds; tests swap it)."""

    def __init__(
        self, seconds: float, *, margin: float | None = None, clock: Callable[[], float] = time.monotonic
    ):
        self.seconds = seconds
        self.margin = seconds * MARGIN_SHARE if margin is None else margin
        self.clock = clock
        self.deadline = -math.inf  # nothing known until a renewal this worker timed
        self._timeouts: set[asyncio.Timeout] = set()

    def renewing(self) -> float:
        """Note the time before asking the store to renew (or claim): the store's expiry is
        counted from a moment no earlier than this."""
        return self.clock()

    def renewed(self, started: float) -> float:
        """A renewal asked for at `started` succeeded: move the deadline (never back), and with
        it every call waiting under `held`. Returns the deadline this renewal alone gives."""
        until = started + self.seconds - self.margin
        if until > self.deadline:
            self.deadline = until
            self._reschedule()
        return until

    def lost(self) -> None:
        """The store says another worker holds the run: stop waiting now."""
        self.deadline = -math.inf
        self._reschedule()

    def send_by(self, deadline: float, what: str) -> None:
        """Raise NotSent unless at least the margin is left before `deadline`."""
        left = deadline - self.clock()
        if left < self.margin:
            raise NotSent(
                f"{what} was not sent: {max(left, 0.0):.1f}s of the lease was left, less than the "
                f"{self.margin:.1f}s a write needs (the worker stalled); it waits, approved, for "
                "the next pass"
            )

    @asynccontextmanager
    async def held(self, what: str) -> AsyncIterator[None]:
        """Run the body while the lease is held: cancelled at the deadline, which renewals move.
        A body cut off raises CutOff."""
        timeout = asyncio.timeout_at(self._loop_deadline())
        try:
            async with timeout:
                self._timeouts.add(timeout)
                try:
                    yield
                finally:
                    self._timeouts.discard(timeout)
        except TimeoutError as exc:
            if not timeout.expired():
                raise  # the body's own timeout, not the lease's
            raise CutOff(
                f"{what} was cancelled: the lease ran out before it answered; whether it was made "
                "is unknown, so the next pass looks for it before writing again"
            ) from exc

    def _loop_deadline(self) -> float:
        """The deadline on the event loop's clock (`clock` may be a test's)."""
        return asyncio.get_running_loop().time() + max(self.deadline - self.clock(), 0.0)

    def _reschedule(self) -> None:
        if self._timeouts:
            when = self._loop_deadline()
            for timeout in self._timeouts:
                if not timeout.expired():  # one already firing is not brought back
                    timeout.reschedule(when)
