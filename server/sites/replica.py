"""An edge node's replica of the home's streams (docs/sites.md section 6).

Entries arrive from Redis (server/bus/feed.py) with their sequence numbers and epochs; what
Redis lost, trimmed or never got is read from the home over the node-to-node fetch
(server/sites/peers.py). Every record goes through the store's own append, which checks the
sequence number and the hash chain, so the replica holds exactly the home's log, a prefix at
a time; the store's commit listeners then feed the edge's live hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import TYPE_CHECKING, Final, Protocol

from server.errors import HomeUnavailable, LinkDown, Unauthorized
from server.storage.base import StreamHead

if TYPE_CHECKING:
    from collections.abc import Sequence

    from recordings.audit import AuditRecord
    from server.bus.feed import Entry
    from server.storage.base import EventStore

logger = logging.getLogger(__name__)

FETCH_PAGE: Final = 1000
RETRY_BASE_SECONDS: Final = 0.1
RETRY_CAP_SECONDS: Final = 5.0


class Feed(Protocol):
    """The Redis side (server/bus/feed.py LogFeed)."""

    def watch(self, stream: str, after_seq: int) -> None: ...

    async def read(self) -> list[Entry]: ...


class Source(Protocol):
    """The home side (server/sites/peers.py PeerClient)."""

    async def streams(self) -> list[str]: ...

    async def fetch(self, stream: str, after_seq: int, limit: int) -> list[AuditRecord]: ...


class Replicator:
    def __init__(self, store: EventStore, feed: Feed, source: Source) -> None:
        self._store = store
        self._feed = feed
        self._source = source
        self._heads: dict[str, StreamHead] = {}
        self._epochs: dict[str, str] = {}
        self._moved = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.link_up = asyncio.Event()  # set while Redis answers
        self.filled = 0  # records read from the home rather than from Redis
        self.relayed = 0  # records applied from Redis

    async def start(self) -> None:
        """Catch up with the home, then follow Redis in the background."""
        for stream in await self._store.streams():
            self._heads[stream] = await self._store.head(stream)
        await self.catch_up()
        self._task = asyncio.create_task(self._run(), name="replicator")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def head(self, stream: str) -> int:
        return self._heads.get(stream, StreamHead()).seq

    async def reached(self, stream: str, seq: int) -> None:
        """Return once the replica holds `stream` up to `seq` (the caller bounds the wait)."""
        async with self._moved:
            await self._moved.wait_for(lambda: self.head(stream) >= seq)

    async def catch_up(self) -> None:
        """Read from the home everything the replica lacks, for every stream it has."""
        for stream in await self._source.streams():
            await self._fill(stream)
            self._feed.watch(stream, self.head(stream))

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                entries = await self._feed.read()
                if not self.link_up.is_set():
                    await self.catch_up()  # what Redis may have lost while we were away
                    self.link_up.set()
                    logger.info("The link between sites is up")
                failures = 0
                await self._apply_all(entries)
            except (LinkDown, HomeUnavailable, Unauthorized) as exc:
                if self.link_up.is_set():
                    logger.warning("The link between sites is down: %s", exc)
                self.link_up.clear()
                failures += 1
                # Backoff with full jitter, so that the edges of a cluster do not come back
                # in step; the next read reconnects.
                await asyncio.sleep(
                    jitter(min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**failures))
                )

    async def _apply_all(self, entries: Sequence[Entry]) -> None:
        run: list[AuditRecord] = []
        for entry in entries:
            if run and (entry.stream != run[-1].stream or entry.seq != run[-1].seq + 1):
                await self._apply(run)
                run = []
            if self._epochs.get(entry.stream, entry.epoch) != entry.epoch:
                await self._apply(run)
                run = []
                logger.info("Stream %s has a new epoch: reading from the home", entry.stream)
                await self._fill(entry.stream)
            self._epochs[entry.stream] = entry.epoch
            run.append(entry.record)
        await self._apply(run)

    async def _apply(self, run: list[AuditRecord]) -> None:
        """Append a run of consecutive records of one stream, filling a gap before it."""
        if not run:
            return
        stream = run[0].stream
        head = self._heads.get(stream, StreamHead())
        if run[0].seq > head.seq + 1:
            await self._fill(stream, until=run[0].seq - 1)
            head = self._heads.get(stream, StreamHead())
        fresh = [record for record in run if record.seq > head.seq]
        if not fresh:
            return
        if fresh[0].seq != head.seq + 1 or fresh[0].prev != head.hash:
            # Not what the home has after our head (an entry of a lost epoch): the home says.
            await self._fill(stream)
            return
        await self._append(stream, fresh)
        self.relayed += len(fresh)

    async def _fill(self, stream: str, until: int | None = None) -> None:
        """Read `stream` from the home after the replica's head (up to `until`, if given)."""
        while until is None or self.head(stream) < until:
            page = await self._source.fetch(stream, self.head(stream), FETCH_PAGE)
            if not page:
                return
            await self._append(stream, page)
            self.filled += len(page)
            if len(page) < FETCH_PAGE:
                return

    async def _append(self, stream: str, records: list[AuditRecord]) -> None:
        await self._store.append(stream, records)
        self._heads[stream] = StreamHead(records[-1].seq, records[-1].hash)
        async with self._moved:
            self._moved.notify_all()


def jitter(most: float) -> float:
    """A delay drawn evenly from [0, min(most, the cap)) ("full jitter")."""
    return min(most, RETRY_CAP_SECONDS) * secrets.randbelow(1 << 16) / (1 << 16)
