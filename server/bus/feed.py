"""The reading side of the published log: what an edge's replicator reads from Redis.

`LogFeed` follows `{c}:streams` and every `{c}:log:{stream}` it knows with `XREAD BLOCK` on a
client of its own (docs/sites.md sections 2, 3 and 6). The caller says where to read each
stream from (`watch`); a stream announced later is watched from its start. Each entry comes
with its sequence number (its id) and its epoch; the feed decides nothing about gaps or
epochs: the replicator compares them with its replica and reads from the home what is missing.

A read that can't reach Redis, after the connection's own retries (backoff with jitter,
reconnecting), raises LinkDown; the next read tries again on a fresh connection.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from redis.exceptions import RedisError

from recordings.audit import STREAM, AuditRecord
from recordings.errors import RecordingError
from server.bus import connection
from server.errors import LinkDown

if TYPE_CHECKING:
    from collections.abc import Mapping

    from redis.typing import KeyT, StreamIdT

    from server.config import Settings

logger = logging.getLogger(__name__)

# How long one read waits for entries before it returns [] so that its caller can look around.
BLOCK_SECONDS: Final = 1.0
# Entries read per stream in one round trip.
READ_COUNT: Final = 500
LINK_DOWN: Final = "The link between sites (Redis) does not answer."


@dataclass(frozen=True, slots=True)
class Entry:
    """One published record, where Redis had it: its stream, sequence number and epoch."""

    stream: str
    seq: int
    epoch: str
    record: AuditRecord


class LogFeed:
    """Reads the log entries the home publishes, from positions the caller sets.

    One reader at a time: `read` is not meant to run concurrently with itself.
    """

    def __init__(self, settings: Settings, *, block_seconds: float = BLOCK_SECONDS) -> None:
        self._settings = settings
        self._block = block_seconds
        self._client = connection.connect(settings, blocking_seconds=block_seconds)
        self._announcements = connection.key(settings, "streams")
        self._announced_after = b"0"  # the last entry of `{c}:streams` read
        self._positions: dict[str, int] = {}  # stream -> the last sequence number read
        self._streams: dict[bytes, str] = {}  # log key -> stream

    def watch(self, stream: str, after_seq: int) -> None:
        """Read `stream` from the entry after `after_seq` on (again, if it was read further)."""
        self._streams.setdefault(connection.key(self._settings, "log", stream).encode(), stream)
        self._positions[stream] = after_seq

    def position(self, stream: str) -> int | None:
        """The last sequence number read of `stream`, or None if it is not watched."""
        return self._positions.get(stream)

    async def read(self) -> list[Entry]:
        """The next entries, in order within each stream; [] if none came in `block_seconds`.

        LinkDown if Redis can't be reached.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._block
        while True:
            asked = dict(self._positions)
            replies = await self._xread(asked, deadline - loop.time())
            if not replies:
                return []
            entries = self._take(replies, asked)
            # With only announcements (or entries no longer wanted), read on while time is left.
            if entries or loop.time() >= deadline:
                return entries

    async def epoch(self, stream: str) -> str | None:
        """The stream's epoch in Redis now, or None if Redis holds none. LinkDown if down."""
        try:
            value = await self._client.get(connection.key(self._settings, "epoch", stream))
        except (RedisError, OSError):
            raise LinkDown(LINK_DOWN) from None
        return value.decode() if isinstance(value, bytes) else value

    async def close(self) -> None:
        await self._client.aclose()

    async def _xread(self, asked: Mapping[str, int], seconds: float) -> list[tuple[bytes, Any]]:
        keys: dict[KeyT, StreamIdT] = {self._announcements: self._announced_after}
        settings = self._settings
        for stream, seq in asked.items():
            keys[connection.key(settings, "log", stream)] = f"{seq}-0"
        seconds = max(seconds, 0.001)  # BLOCK 0 would wait for ever
        block_ms = max(1, round(seconds * 1000))
        try:
            # The connection's own timeouts and retries bound this too; this bounds the sum.
            async with asyncio.timeout(seconds + settings.redis_timeout_seconds):
                replies = await self._client.xread(keys, count=READ_COUNT, block=block_ms)
        except (RedisError, OSError):  # TimeoutError is an OSError
            raise LinkDown(LINK_DOWN) from None
        return _pairs(replies)

    def _take(self, replies: list[tuple[bytes, Any]], asked: Mapping[str, int]) -> list[Entry]:
        entries: list[Entry] = []
        for key, items in replies:
            if key == self._announcements.encode():
                self._announced(items)
                continue
            stream = self._streams[key]
            if self._positions.get(stream) != asked.get(stream):
                continue  # the caller moved this stream's position while we read
            for entry_id, fields in items:
                self._positions[stream] = _seq(entry_id)
                entry = _entry(stream, entry_id, fields)
                if entry is not None:
                    entries.append(entry)
        return entries

    def _announced(self, items: list[tuple[bytes, Mapping[bytes, bytes]]]) -> None:
        for entry_id, fields in items:
            self._announced_after = entry_id
            stream = fields.get(b"s", b"").decode(errors="replace")
            if STREAM.fullmatch(stream) and stream not in self._positions:
                self.watch(stream, 0)


def _pairs(replies: Any) -> list[tuple[bytes, Any]]:
    """(key, entries) pairs of an XREAD reply, in either of the shapes redis-py gives: a list
    of pairs, or with RESP3 asked for in the URL (`?protocol=3`), a map of lists of them."""
    if not isinstance(replies, dict):
        return [(key, items) for key, items in replies or []]
    return [(key, [i for part in parts for i in part]) for key, parts in replies.items()]


def _seq(entry_id: bytes) -> int:
    return int(entry_id.partition(b"-")[0])


def _entry(stream: str, entry_id: bytes, fields: Mapping[bytes, bytes]) -> Entry | None:
    """The entry as published by a home, or None (logged) if it is not one."""
    seq = _seq(entry_id)
    try:
        entry = Entry(
            stream,
            seq,
            fields[b"e"].decode(),
            AuditRecord.load(fields[b"b"].decode(), fields[b"h"].decode()),
        )
    except (KeyError, UnicodeDecodeError, RecordingError):
        entry = None
    if entry is None or entry.record.stream != stream or entry.record.seq != seq:
        # Not a home's publication: skipped, so the replicator sees a gap and asks the home.
        logger.warning("Skipped a malformed entry %d of stream %s in Redis", seq, stream)
        return None
    return entry
