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
            except Exception:
                logger.exception("The scheduler failed to record due events; retrying")
            await self._wait()

    async def _wait(self) -> None:
        due = await self._tenders.next_due()
        delay = MAX_WAIT_SECONDS
        if due is not None:
            delay = min(delay, max(0.0, (due - self._clock.now()).total_seconds()))
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            pass
