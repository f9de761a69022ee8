"""Makes scheduled moments happen: bidding opens, the deadline passes."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.clock import Clock
    from server.service.tenders import Tenders

logger = logging.getLogger(__name__)

# Re-check at least this often, so that a wall-clock jump can't leave the schedule stuck.
MAX_WAIT_SECONDS = 60.0
# After a failure (the store unreadable, say), try again this soon.
RETRY_SECONDS = 1.0


class Scheduler:
    def __init__(self, tenders: Tenders, clock: Clock) -> None:
        self._tenders = tenders
        self._clock = clock
        self._wake = asyncio.Event()
        tenders.on_schedule_change = self.wake

    def wake(self) -> None:
        self._wake.set()

    async def tick(self) -> int:
        """Record everything that is due now; returns the number of events recorded."""
        return await self._tenders.run_due(self._clock.now())

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
                delay = await self._delay()
            except Exception:
                logger.exception("The scheduler failed; retrying in %s s", RETRY_SECONDS)
                delay = RETRY_SECONDS
            await self._wait(delay)

    async def _delay(self) -> float:
        due = await self._tenders.next_due()
        if due is None:
            return MAX_WAIT_SECONDS
        return min(MAX_WAIT_SECONDS, max(0.0, (due - self._clock.now()).total_seconds()))

    async def _wait(self, delay: float) -> None:
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            pass
