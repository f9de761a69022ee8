"""Work in flight per tender, so that a deadline waits for what arrived before it.

A decryption or a submission that arrived in time may still be running when its window ends:
the node must not throw it away, nor let new work start once the end is being recorded. The
step that ends a window (or pauses it) holds the tender, waits for the work in flight, records,
and lets go.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from server.domain.errors import DomainError


class InFlight:
    def __init__(self, refusal: Callable[[], DomainError]) -> None:
        self._refusal = refusal  # what new work hears while the tender is held
        self._running: dict[str, int] = {}
        self._idle: dict[str, asyncio.Event] = {}
        self._held: dict[str, int] = {}  # how many steps hold the tender

    def start(self, tender_id: str) -> None:
        """Count one piece of work on the tender; refused while the tender is held."""
        if tender_id in self._held:
            raise self._refusal()
        self._running[tender_id] = self._running.get(tender_id, 0) + 1
        self._idle.setdefault(tender_id, asyncio.Event()).clear()

    def finish(self, tender_id: str) -> None:
        self._running[tender_id] -= 1
        if not self._running[tender_id]:
            del self._running[tender_id]
            self._idle.pop(tender_id).set()

    @contextmanager
    def running(self, tender_id: str) -> Iterator[None]:
        self.start(tender_id)
        try:
            yield
        finally:
            self.finish(tender_id)

    @asynccontextmanager
    async def quiet(self, tender_id: str) -> AsyncIterator[None]:
        """Hold new work off, wait for the work in flight, then run the block."""
        self._held[tender_id] = self._held.get(tender_id, 0) + 1
        try:
            while (idle := self._idle.get(tender_id)) is not None:
                await idle.wait()
            yield
        finally:
            self._held[tender_id] -= 1
            if not self._held[tender_id]:
                del self._held[tender_id]

    def busy(self, tender_id: str) -> int:
        return self._running.get(tender_id, 0)
