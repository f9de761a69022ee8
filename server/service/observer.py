"""What the service layer reports as it works, for the node's metrics (server/metrics.py).

The services call an `Observer`; they never import the metrics library. `NO_OBSERVER` is the
default: a node built without metrics (offline commands, unit tests) reports to nothing.
"""

from __future__ import annotations

from typing import Final, Protocol


class Observer(Protocol):
    def command(self, action: str) -> None:
        """A command or query arrived at the node's one entry."""

    def refused(self, action: str, reason: str) -> None:
        """It was refused: `reason` is the rule (domain) or the error code (node)."""

    def committed(self, seconds: float, records: int) -> None:
        """Records queued for the event store became durable after `seconds`."""

    def decrypted(self, outcome: str, size: int, seconds: float) -> None:
        """A stored sealed bid of `size` bytes was opened (outcome "opened") or not (its fault)."""

    def uploaded(self, size: int) -> None:
        """`size` bytes of a sealed file were written to the blob store."""


class _Nothing:
    def command(self, action: str) -> None:
        pass

    def refused(self, action: str, reason: str) -> None:
        pass

    def committed(self, seconds: float, records: int) -> None:
        pass

    def decrypted(self, outcome: str, size: int, seconds: float) -> None:
        pass

    def uploaded(self, size: int) -> None:
        pass


NO_OBSERVER: Final[Observer] = _Nothing()
