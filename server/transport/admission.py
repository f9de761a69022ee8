"""Admission of live connections: a cap per address and in total, counted from the upgrade."""

from __future__ import annotations

import collections
import contextlib
from typing import TYPE_CHECKING

from server.errors import NodeFull, TooManyConnections

if TYPE_CHECKING:
    from collections.abc import Iterator


class Admission:
    """Counts open live connections, authenticated or not, per address and in total."""

    def __init__(self, total: int, per_address: int) -> None:
        self._total, self._per_address = total, per_address
        self._open: collections.Counter[str] = collections.Counter()
        self.count = 0

    @contextlib.contextmanager
    def admit(self, address: str) -> Iterator[None]:
        """Hold a place for the duration of the block, or refuse one past either cap."""
        if self.count >= self._total:
            raise NodeFull("The node has as many live connections as it takes; retry later.")
        if self._open[address] >= self._per_address:
            raise TooManyConnections(
                f"At most {self._per_address} live connections from one address; close one first."
            )
        self._open[address] += 1
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1
            self._open[address] -= 1
            if not self._open[address]:
                del self._open[address]
