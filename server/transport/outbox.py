"""Writing ready frames to one client, and deciding when that client is too slow."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class Outbox:
    """Frames go straight into the transport's buffer, which is the client's send queue.

    A backlog above `soft` bytes starts a timer; if the backlog is still above `soft` when it
    fires, the client is slow. A backlog above `hard` bytes makes it slow at once. Either
    way `on_slow` is called once and nothing more is written. Bursts that a healthy client
    drains within the grace period (one group commit can write a lot at once) are fine.
    """

    def __init__(
        self,
        transport: asyncio.WriteTransport,
        *,
        soft: int,
        hard: int,
        grace: float,
        on_slow: Callable[[str], None],
    ) -> None:
        self._transport = transport
        self._soft, self._hard, self._grace = soft, hard, grace
        self._on_slow = on_slow
        self._timer: asyncio.TimerHandle | None = None
        self.stopped = False

    def write(self, frame: bytes) -> None:
        if self.stopped:
            return
        if self._transport.is_closing():
            self.stop()
            return
        self._transport.write(frame)
        backlog = self._transport.get_write_buffer_size()
        if backlog > self._hard:
            self._slow(f"send buffer over {self._hard} bytes")
        elif backlog > self._soft and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._grace, self._check)

    def _check(self) -> None:
        self._timer = None
        if not self.stopped and self._transport.get_write_buffer_size() > self._soft:
            self._slow(f"over {self._soft} bytes behind for {self._grace:g} s")

    def _slow(self, why: str) -> None:
        self.stop()
        self._on_slow(why)

    def stop(self) -> None:
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
