"""The event store port: append-only streams of audit records, and commit notifications."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from recordings.audit import GENESIS, AuditRecord
from server.errors import ConflictError

if TYPE_CHECKING:
    import asyncio

logger = logging.getLogger(__name__)

CommitListener = Callable[[str, Sequence[AuditRecord]], None]


@dataclass(frozen=True, slots=True)
class StreamHead:
    """The last committed record of a stream (seq 0 and the genesis hash when empty)."""

    seq: int = 0
    hash: str = GENESIS


class EventStore(Protocol):
    """Append-only, hash-chained streams. Implementations: sqlite.py (default), memory.py."""

    def append(self, stream: str, records: Sequence[AuditRecord]) -> asyncio.Future[None]:
        """Queue `records` now, in call order; the future resolves once they are durable.

        The first record must follow the stream's head (seq and prev hash), as seen after all
        earlier appends: otherwise the future fails with ConflictError and nothing is written.
        Commit listeners run, in commit order, before the future resolves.
        """
        ...

    async def read(self, stream: str, after_seq: int = 0, limit: int = 1000) -> list[AuditRecord]:
        """Committed records with seq > after_seq, in order, at most `limit`."""
        ...

    async def head(self, stream: str) -> StreamHead: ...

    async def streams(self) -> list[str]: ...

    def add_listener(self, listener: CommitListener) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def check_links(stream: str, records: Sequence[AuditRecord]) -> None:
    """Refuse a batch that is empty, mixes streams, or does not chain internally."""
    if not records:
        raise ValueError("An append needs at least one record.")
    for before, after in itertools.pairwise(records):
        if after.seq != before.seq + 1 or after.prev != before.hash:
            raise ValueError("The records of one append must follow each other.")
    if any(record.stream != stream for record in records):
        raise ValueError("Every record of an append must belong to its stream.")


def conflict(stream: str, head: StreamHead, first: AuditRecord) -> ConflictError:
    return ConflictError(
        f"Stream {stream} is at event {head.seq}; an append starting at {first.seq} "
        "does not follow it. Reload and retry."
    )


def notify(
    listeners: Sequence[CommitListener], stream: str, records: Sequence[AuditRecord]
) -> None:
    """Tell every listener about a commit; one failing listener can't silence the others."""
    for listener in listeners:
        try:
            listener(stream, records)
        except Exception:
            logger.exception("A commit listener failed on stream %s", stream)
