"""The home node's bus: local delivery now, and every commit published to Redis for the edges.

`publish` hands records to this node's own live hubs synchronously, exactly as the in-process
bus does, and queues them for Redis without waiting. One writer task sends what is queued in
commit order, a batch per round trip, to `{c}:log:{stream}` with the id `{seq}-0`
(docs/sites.md sections 2 and 3). While Redis is unreachable the queue keeps its order and
the writer retries with backoff and jitter; past `QUEUE_LIMIT` waiting records the oldest are
dropped, which is safe: an edge sees the gap and reads it from the home.

The writing of one stream's batch is a Lua script, so that its epoch and its entries can't
disagree: the script sets the epoch (`SET NX`) and announces the stream in `{c}:streams` if
the epoch key is missing, then adds the entries under the epoch the key holds. A Redis that
restarted empty between two batches therefore gets a new epoch with its first entry, which a
cached epoch would miss. An entry whose id is not past the stream's last one (a duplicate
sent again after a lost reply, or an older home's late write) is skipped inside the script
rather than failing the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from server.bus import connection
from server.bus.local import LocalBus

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from redis.asyncio import Redis

    from recordings.audit import AuditRecord
    from server.bus.base import Handler
    from server.bus.local import _LocalSubscription
    from server.config import Settings

logger = logging.getLogger(__name__)

# Records waiting for Redis: about what an edge may lag before it reads from the home anyway.
QUEUE_LIMIT: Final = 10_000
# Records sent in one round trip: big enough to catch up fast, small enough to stay responsive.
BATCH_LIMIT: Final = 500
# Entries kept per stream (approximately); an edge further behind reads from the home.
STREAM_MAXLEN: Final = 10_000
EPOCH_BYTES: Final = 16
# Between two failed attempts: full jitter, so the nodes of a site don't retry in step.
RETRY_CAP_SECONDS: Final = 2.0

# KEYS: the log, the epoch, the streams announcements. ARGV: a fresh epoch, the stream's
# name, MAXLEN, then (seq, body, hash) per record. Returns the epoch used, 1 if the stream
# was announced, the entries added and skipped, and the last unexpected refusal ("" if none).
PUBLISH_SCRIPT: Final = """
local announced = 0
if redis.call('SET', KEYS[2], ARGV[1], 'NX') then
  redis.call('XADD', KEYS[3], '*', 's', ARGV[2])
  announced = 1
end
local epoch = redis.call('GET', KEYS[2])
local added, skipped, problem = 0, 0, ''
for i = 4, #ARGV, 3 do
  local reply = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], ARGV[i] .. '-0',
                            'e', epoch, 'b', ARGV[i + 1], 'h', ARGV[i + 2])
  if type(reply) == 'table' and reply.err then
    skipped = skipped + 1
    if not string.find(reply.err, 'equal or smaller', 1, true) then problem = reply.err end
  else
    added = added + 1
  end
end
return {epoch, announced, added, skipped, problem}
"""


@dataclass(frozen=True, slots=True)
class BusState:
    """What the writer has done so far, for health checks and tests."""

    connected: bool  # the last round trip to Redis succeeded
    published: int  # entries Redis accepted
    skipped: int  # entries Redis refused as not past the stream's last id
    dropped: int  # records dropped from a full queue
    waiting: int  # records not yet accepted (queued or in flight)
    failures: int  # failed attempts since the last round trip that succeeded


class RedisBus:
    def __init__(self, settings: Settings, *, queue_limit: int = QUEUE_LIMIT) -> None:
        self._settings = settings
        self._limit = queue_limit
        self._local = LocalBus()
        self._queue: deque[tuple[str, AuditRecord]] = deque()
        self._in_flight = 0
        self._wakeup = asyncio.Event()
        self._changed = asyncio.Event()
        self._backoff = ExponentialWithJitterBackoff(
            cap=RETRY_CAP_SECONDS, base=connection.BACKOFF_BASE_SECONDS
        )
        self._client: Redis | None = None
        self._writer: asyncio.Task[None] | None = None
        self._connected = False
        self._published = self._skipped = self._dropped = 0
        self._failures = 0
        self._dropping = False
        self.epochs: dict[str, str] = {}  # each stream's epoch, as Redis last reported it

    @property
    def state(self) -> BusState:
        waiting = len(self._queue) + self._in_flight
        return BusState(
            self._connected, self._published, self._skipped, self._dropped, waiting, self._failures
        )

    @property
    def connected(self) -> bool:
        return self._connected

    async def wait_until(self, condition: Callable[[BusState], bool]) -> None:
        """Return once `condition` holds of the state (the caller bounds the wait)."""
        while not condition(self.state):
            await self._changed.wait()

    async def start(self) -> None:
        self._client = connection.connect(self._settings)
        self._writer = asyncio.create_task(self._run(), name="redis-bus-writer")

    async def close(self) -> None:
        """Give the writer a bounded moment to send what waits, then stop."""
        writer, self._writer = self._writer, None
        if writer is not None:
            if self._connected:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settings.redis_timeout_seconds):
                        await self.wait_until(lambda state: state.waiting == 0)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self.state.waiting:
            logger.warning("Closing with %d records not published to Redis", self.state.waiting)
        await self._local.close()

    def publish(self, stream: str, records: Sequence[AuditRecord]) -> None:
        self._local.publish(stream, records)
        self._queue.extend((stream, record) for record in records)
        self._trim()
        self._wakeup.set()
        self._signal()

    def subscribe(self, stream: str, handler: Handler) -> _LocalSubscription:
        return self._local.subscribe(stream, handler)

    # The writer.

    async def _run(self) -> None:
        while True:
            batch = self._take()
            try:
                await self._send(batch)  # an empty batch is a PING: is Redis there?
            except Exception as exc:  # the writer must outlive any one failure
                self._give_back(batch)
                await self._failed(exc)
                continue
            self._sent(batch)
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()

    def _take(self) -> list[tuple[str, AuditRecord]]:
        size = min(BATCH_LIMIT, len(self._queue))
        batch = [self._queue.popleft() for _ in range(size)]
        self._in_flight = size
        return batch

    def _give_back(self, batch: list[tuple[str, AuditRecord]]) -> None:
        self._queue.extendleft(reversed(batch))
        self._in_flight = 0
        self._trim()

    def _trim(self) -> None:
        """Drop the oldest queued records past the limit (records in flight wait their turn)."""
        excess = len(self._queue) - self._limit
        if excess <= 0:
            return
        for _ in range(excess):
            self._queue.popleft()
        self._dropped += excess
        if not self._dropping:
            self._dropping = True
            logger.warning(
                "More than %d records wait for Redis: dropping the oldest (%d so far); "
                "the edges read them from the home",
                self._limit,
                self._dropped,
            )

    async def _send(self, batch: list[tuple[str, AuditRecord]]) -> None:
        client = self._client
        if client is None:  # pragma: no cover - the writer runs only between start and close
            raise RedisError("The bus is not started.")
        if not batch:
            await client.ping()
            return
        by_stream: dict[str, list[AuditRecord]] = {}
        for stream, record in batch:
            by_stream.setdefault(stream, []).append(record)
        async with client.pipeline(transaction=False) as pipe:
            for stream, records in by_stream.items():
                _ = pipe.eval(
                    PUBLISH_SCRIPT, 3, *self._keys(stream), *self._arguments(stream, records)
                )
            replies = await pipe.execute()
        for stream, reply in zip(by_stream, replies, strict=True):
            self._count(stream, reply)

    def _keys(self, stream: str) -> tuple[str, str, str]:
        settings = self._settings
        return (
            connection.key(settings, "log", stream),
            connection.key(settings, "epoch", stream),
            connection.key(settings, "streams"),
        )

    @staticmethod
    def _arguments(stream: str, records: list[AuditRecord]) -> list[str | int]:
        arguments: list[str | int] = [secrets.token_hex(EPOCH_BYTES), stream, STREAM_MAXLEN]
        for record in records:
            arguments += (record.seq, record.body, record.hash)
        return arguments

    def _count(self, stream: str, reply: list[Any]) -> None:
        epoch, announced, added, skipped, problem = reply
        self.epochs[stream] = epoch.decode()
        self._published += added
        self._skipped += skipped
        if announced:
            logger.info("Stream %s begins epoch %s in Redis", stream, self.epochs[stream])
        if problem:
            logger.warning("Redis refused %d entries of stream %s", skipped, stream)

    def _sent(self, batch: list[tuple[str, AuditRecord]]) -> None:
        self._in_flight = 0
        if self._failures:
            logger.info("Redis answers again: %d records wait", self.state.waiting)
        self._connected = True
        self._failures = 0
        if self._dropping and not self._queue:
            logger.warning("%d records were dropped while Redis was away", self._dropped)
            self._dropping = False
        self._signal()

    async def _failed(self, exc: Exception) -> None:
        if self._connected or self._failures == 0:
            logger.warning(
                "Redis does not answer (%s): %d records wait",
                type(exc).__name__,
                self.state.waiting,
                # Not a refusal of Redis nor a broken link: a fault of ours, to be seen whole.
                exc_info=not isinstance(exc, (RedisError, OSError)),
            )
        self._connected = False
        self._failures += 1
        self._signal()
        await asyncio.sleep(self._backoff.compute(self._failures))

    def _signal(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
