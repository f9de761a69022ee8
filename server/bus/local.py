"""The in-process bus: synchronous delivery to the handlers of one node."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from recordings.audit import AuditRecord
    from server.bus.base import Handler

logger = logging.getLogger(__name__)


class _LocalSubscription:
    __slots__ = ("_bus", "_handler", "_stream")

    def __init__(self, bus: LocalBus, stream: str, handler: Handler) -> None:
        self._bus, self._stream, self._handler = bus, stream, handler

    def close(self) -> None:
        handlers = self._bus._handlers.get(self._stream)
        if handlers is not None and self._handler in handlers:
            handlers.remove(self._handler)
            if not handlers:
                del self._bus._handlers[self._stream]


class LocalBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._handlers.clear()

    def publish(self, stream: str, records: Sequence[AuditRecord]) -> None:
        for handler in list(self._handlers.get(stream, ())):
            try:
                handler(stream, records)
            except Exception:
                logger.exception("A bus handler failed on stream %s", stream)

    def subscribe(self, stream: str, handler: Handler) -> _LocalSubscription:
        self._handlers.setdefault(stream, []).append(handler)
        return _LocalSubscription(self, stream, handler)
