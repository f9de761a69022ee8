"""How many records a caller may cause per window: the one throttle refusals and logins share."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from server.errors import TooManyRequests

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable
    from datetime import datetime

    from server.clock import Clock
    from server.domain.events import DomainEvent

WINDOW: Final = timedelta(minutes=1)
_OVERALL: Final = "*"  # no caller's key: those are participant ids or "kind:value"


class Verdict(enum.Enum):
    RECORD = "record"  # within the limit: record the event
    THROTTLED = "throttled"  # the first attempt past the limit: record that, once
    DROPPED = "dropped"  # past the limit again: record nothing


_SEVERITY: Final = (Verdict.RECORD, Verdict.THROTTLED, Verdict.DROPPED)


@dataclass(slots=True)
class _Window:
    start: datetime
    count: int = 0


class Throttle:
    """At most `limit` records per key and window, then one throttled record, then none.

    A key's window opens at its first attempt. A key that keeps trying past the limit stays
    throttled: each dropped attempt restarts its window, so it earns a new allowance only
    after a whole quiet window. At most `max_keys` keys are tracked, the least recently seen
    forgotten first: forgetting a key only loosens its limit, it never refuses anyone.

    With `overall`, every attempt also counts against one key shared by all callers, so that
    a flood spread over many keys (ids sprayed from many addresses) still writes at most
    `overall` records per window.
    """

    def __init__(
        self,
        clock: Clock,
        limit: int,
        max_keys: int,
        window: timedelta = WINDOW,
        *,
        overall: int | None = None,
    ) -> None:
        self._clock = clock
        self.limit = limit
        self._overall = overall
        self._max_keys = max_keys
        self.window = window
        self._windows: dict[str, _Window] = {}  # in order of last attempt

    def admit(self, keys: Iterable[str]) -> Verdict:
        """Count one attempt against every key; RECORD only if all keys are within the limit."""
        now = self._clock.now()
        verdicts = {self._count(key, now, self.limit) for key in keys}
        if verdicts <= {Verdict.RECORD}:
            verdict = Verdict.RECORD
        else:
            verdict = Verdict.THROTTLED if Verdict.THROTTLED in verdicts else Verdict.DROPPED
        if self._overall is None or verdict is Verdict.DROPPED:
            return verdict  # what a caller's own limit drops does not count overall
        overall = self._count(_OVERALL, now, self._overall)
        return max(verdict, overall, key=_SEVERITY.index)

    async def record(
        self,
        keys: Iterable[str],
        write: Callable[[DomainEvent], Awaitable[object]],
        event: DomainEvent,
        throttled: DomainEvent,
        *,
        what: str = "refused requests",
    ) -> None:
        """Write `event`; past the limit write `throttled` once and raise TooManyRequests."""
        verdict = self.admit(keys)
        if verdict is Verdict.RECORD:
            await write(event)
            return
        if verdict is Verdict.THROTTLED:
            await write(throttled)
        seconds = int(self.window.total_seconds())
        raise TooManyRequests(
            f"More than {self.limit} {what} in {seconds} s; wait before retrying.",
            retry_after=seconds,
        )

    def _count(self, key: str, now: datetime, limit: int) -> Verdict:
        window = self._windows.pop(key, None)
        if window is None or now - window.start >= self.window:
            window = _Window(now)
        self._windows[key] = window
        if len(self._windows) > self._max_keys:
            del self._windows[next(iter(self._windows))]
        window.count += 1
        if window.count <= limit:
            return Verdict.RECORD
        window.start = now  # a caller that keeps trying stays throttled
        return Verdict.THROTTLED if window.count == limit + 1 else Verdict.DROPPED
