"""The bus port. The node publishes each commit; live hubs subscribe per stream."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from recordings.audit import AuditRecord

Handler = Callable[[str, Sequence[AuditRecord]], None]


class Subscription(Protocol):
    def close(self) -> None: ...


class Bus(Protocol):
    """Delivers committed records, per stream, in commit order.

    The bus is never the system of record: a subscriber that may have missed records reads
    them from the store by sequence number.
    """

    def publish(self, stream: str, records: Sequence[AuditRecord]) -> None:
        """Hand records over for delivery; never blocks."""
        ...

    def subscribe(self, stream: str, handler: Handler) -> Subscription: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...
