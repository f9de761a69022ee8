"""The event store on PostgreSQL (asyncpg): the store every home-capable node of a cluster shares.

Group commit as in sqlite.py: appends queue up while a transaction is in flight and go into the
next one together; one writer task owns one connection and runs one transaction per batch, with
one statement for all the batch's events and one for its tree nodes, so a batch costs a few
round trips whatever its size. No append is acknowledged before its transaction has committed;
listeners hear commits in commit order, before the acknowledgements. Reads use a small pool.
Rows are sealed as SQLite's are (sealed_rows.py, docs/spec/at-rest.md); the schema is in
postgres_schema.py.

Several nodes may hold this store open; only the home appends (docs/sites.md section 4). What
keeps two writers from forking a stream: the fence row, locked (`FOR UPDATE`) by every fenced
batch, so that fenced writers take turns and a stale token is seen; and the primary key
(stream, seq), which turns a race between writers that carry no token into a retry of the batch,
where the loser finds its append no longer follows the head: ConflictError, never a fork.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TypeVar

import asyncpg

from crypto import Frontier, subtree_nodes
from recordings.audit import record_hash
from server.errors import ConflictError, StorageError
from server.storage.base import (
    STORED_LEVEL,
    CommitListener,
    StreamHead,
    check_links,
    conflict,
    fenced_out,
    node_from_bodies,
    notify,
    tree_rows,
)
from server.storage.postgres_schema import initialize
from server.storage.sealed_rows import open_body, open_record, sealed_body

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from asyncpg.pool import PoolConnectionProxy

    from recordings.audit import AuditRecord
    from server.storage.base import Sealer

    # The writer's own connection, or one of the readers' pool.
    Conn = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BATCH: Final = 256  # as sqlite.py
READERS: Final = 4
# A statement that takes longer has met a lock or a server that is gone: the append fails.
STATEMENT_SECONDS: Final = 30.0
# How often a batch is redone after another writer took a seq it wanted (then it conflicts).
RETRIES: Final = 3
LATEST_PAGE: Final = 64  # as sqlite.py

_EVENTS: Final = (
    "INSERT INTO bidroom.events (stream, seq, body)"
    " SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])"
)
_TREE: Final = (
    "INSERT INTO bidroom.tree (stream, level, idx, hash)"
    " SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::bytea[])"
)
_STREAMS: Final = (
    "INSERT INTO bidroom.streams (stream) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING"
)
_MAX_SEQS: Final = (
    "SELECT stream, max(seq) FROM bidroom.events WHERE stream = ANY($1::text[]) GROUP BY stream"
)
_ROWS: Final = (
    "SELECT seq, body FROM bidroom.events WHERE stream = $1 AND seq > $2 ORDER BY seq LIMIT $3"
)
_LAST_ROWS: Final = (
    "SELECT seq, body FROM bidroom.events WHERE stream = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
)
_BODIES: Final = (
    "SELECT seq, body FROM bidroom.events WHERE stream = $1 AND seq > $2 AND seq <= $3 ORDER BY seq"
)
_NODES: Final = (
    "SELECT level, idx, hash FROM bidroom.tree WHERE stream = $1"
    " AND (level, idx) IN (SELECT * FROM unnest($2::integer[], $3::bigint[]))"
)
_ERRORS: Final = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


@dataclass(slots=True)
class _Append:
    stream: str
    records: list[AuditRecord]
    future: asyncio.Future[None]
    token: int | None
    error: Exception | None = field(default=None)
    # Records another node committed since this one last notified: heard first.
    foreign: list[AuditRecord] = field(default_factory=list)


@dataclass(slots=True)
class _Batch:
    """What one transaction writes, gathered before any of it is sent."""

    events: list[tuple[str, int, bytes]] = field(default_factory=list)
    nodes: list[tuple[str, int, int, bytes]] = field(default_factory=list)
    new_streams: list[str] = field(default_factory=list)
    heads: dict[str, StreamHead] = field(default_factory=dict)
    frontiers: dict[str, Frontier] = field(default_factory=dict)
    heard: dict[str, int] = field(default_factory=dict)


_STOP: Final = object()


async def _nodes(
    conn: Conn, stream: str, nodes: Sequence[tuple[int, int]], sealer: Sealer
) -> list[bytes]:
    """Stored nodes are read; those below STORED_LEVEL are hashed from their events' bodies."""
    stored = [(level, index) for level, index in nodes if level >= STORED_LEVEL]
    found: dict[tuple[int, int], bytes] = {}
    if stored:
        rows = await conn.fetch(
            _NODES, stream, [level for level, _ in stored], [index for _, index in stored]
        )
        found = {(level, index): bytes(value) for level, index, value in rows}
    hashes = []
    for level, index in nodes:
        if level >= STORED_LEVEL:
            if (level, index) not in found:
                raise StorageError(f"Stream {stream} has no tree node ({level}, {index}).")
            hashes.append(found[(level, index)])
            continue
        first, count = index << level, 1 << level
        rows = await conn.fetch(_BODIES, stream, first, first + count)
        if len(rows) != count:
            raise StorageError(f"Stream {stream} has no tree node ({level}, {index}).")
        bodies = [open_body(sealer, stream, seq, body) for seq, body in rows]
        hashes.append(node_from_bodies(level, bodies))
    return hashes


async def _frontier(conn: Conn, stream: str, size: int, sealer: Sealer) -> Frontier:
    """The right edge of a stream's tree of `size` leaves, from its stored nodes."""
    if size == 0:
        return Frontier()
    return Frontier.of(size, await _nodes(conn, stream, subtree_nodes(0, size), sealer))


async def _last_head(conn: Conn, stream: str, sealer: Sealer) -> StreamHead:
    """The last record's seq and hash: its hash is not stored, so it is opened."""
    row = await conn.fetchrow(_LAST_ROWS, stream, 1 << 62, 1)
    if row is None:
        return StreamHead()
    body = open_body(sealer, stream, row[0], row[1])
    return StreamHead(row[0], record_hash(body.encode("utf-8")))


def _page(stream: str, before: int) -> Callable[[Conn], Awaitable[list[asyncpg.Record]]]:
    """The job that reads the page of `stream` that ends before `before`, newest first."""
    return lambda conn: conn.fetch(_LAST_ROWS, stream, before, LATEST_PAGE)


class PostgresEventStore:
    """Every record is sealed under `sealer` on its way in and opened on its way out."""

    def __init__(self, url: str, sealer: Sealer) -> None:
        self._url = url
        self._sealer = sealer
        self._queue: asyncio.Queue[_Append | object] = asyncio.Queue()
        self._listeners: list[CommitListener] = []
        self._writer: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        self._token: int | None = None
        self._heard: dict[str, int] = {}  # the last seq per stream this node's listeners heard
        self._frontiers: dict[str, Frontier] = {}  # each tree's right edge, as last written
        self._heads: dict[str, StreamHead] = {}  # the heads this writer last wrote
        # Transactions committed: with group commit this grows slower than the appends.
        self.commits = 0

    async def start(self) -> None:
        try:
            self._conn = await self._connect()
            await initialize(self._conn)
            rows = await self._conn.fetch(
                "SELECT stream, max(seq) FROM bidroom.events GROUP BY stream"
            )
            self._heard = {row[0]: row[1] for row in rows}
            self._pool = await asyncpg.create_pool(
                self._url, min_size=1, max_size=READERS, command_timeout=STATEMENT_SECONDS
            )
        except (*_ERRORS, StorageError) as exc:
            await self.close()
            if isinstance(exc, StorageError):
                raise
            raise StorageError(f"The event store can't start on PostgreSQL: {exc}.") from None
        self._writer = asyncio.create_task(self._write_loop(), name="postgres-write")

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self._url, command_timeout=STATEMENT_SECONDS)

    async def check_writable(self) -> None:
        """The writer runs and the database is not a read-only standby."""
        if self._writer is None or self._writer.done():
            raise StorageError("The event store's writer is not running.")
        read_only = await self._in_reader(
            lambda conn: conn.fetchval("SELECT current_setting('transaction_read_only')")
        )
        if read_only != "off":
            raise StorageError("The database takes no writes (a read-only standby).")

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put_nowait(_STOP)
            await writer
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def add_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def fence(self, token: int) -> None:
        self._token = token

    def append(self, stream: str, records: Sequence[AuditRecord]) -> asyncio.Future[None]:
        check_links(stream, records)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._writer is None:
            future.set_exception(StorageError("The event store is closed."))
        else:
            self._queue.put_nowait(_Append(stream, list(records), future, self._token))
        return future

    # The writer task.

    async def _write_loop(self) -> None:
        while True:
            batch, stop = self._gather(await self._queue.get())
            if batch:
                await self._commit(batch)
            if stop:
                return

    def _gather(self, first: _Append | object) -> tuple[list[_Append], bool]:
        batch: list[_Append] = []
        item = first
        while True:
            if item is _STOP:
                return batch, True
            assert isinstance(item, _Append)  # noqa: S101 - the queue holds nothing else
            batch.append(item)
            if len(batch) >= MAX_BATCH:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return batch, False

    async def _commit(self, batch: list[_Append]) -> None:
        for attempt in range(RETRIES + 1):
            for item in batch:
                item.error, item.foreign = None, []
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await self._connect()
                async with self._conn.transaction():
                    written = await self._write(self._conn, batch)
                self.commits += 1
                self._heard.update(written.heard)
                self._heads.update(written.heads)
                self._frontiers.update(written.frontiers)
                break
            except asyncpg.UniqueViolationError as exc:
                # Another writer (one that carries no token) took a seq first: redo the batch,
                # which now sees that writer's head, so the append conflicts instead.
                self._forget()
                if attempt == RETRIES:
                    for item in batch:
                        item.error = ConflictError(f"Another writer appended first: {exc}.")
            except Exception as exc:  # the writer must outlive any failure
                logger.exception("Commit of %d appends failed", len(batch))
                self._forget()
                for item in batch:
                    item.error = StorageError(f"The event store could not commit: {exc}.")
                break
        self._complete(batch)

    def _forget(self) -> None:
        """Heads and frontiers may hold what was rolled back: reload them from the database."""
        self._heads.clear()
        self._frontiers.clear()

    async def _write(self, conn: Conn, batch: list[_Append]) -> _Batch:
        fenced = any(item.token is not None for item in batch)
        stored = await conn.fetchval(
            "SELECT token FROM bidroom.fence WHERE id = 1 FOR UPDATE"
        ) if fenced else 0  # fmt: skip
        greatest = stored
        streams = sorted({item.stream for item in batch})
        last_seqs: dict[str, int] = {r[0]: r[1] for r in await conn.fetch(_MAX_SEQS, streams)}
        out = _Batch()
        for item in batch:
            if item.token is not None and item.token < greatest:
                item.error = fenced_out(item.token, greatest)
                continue
            added = await self._add(conn, item, last_seqs.get(item.stream, 0), out)
            if added and item.token is not None:
                greatest = max(greatest, item.token)
        if out.new_streams:
            await conn.execute(_STREAMS, out.new_streams)
        if out.events:
            await conn.execute(_EVENTS, *map(list, zip(*out.events, strict=True)))
        if out.nodes:
            await conn.execute(_TREE, *map(list, zip(*out.nodes, strict=True)))
        if greatest > stored:
            await conn.execute("UPDATE bidroom.fence SET token = $1 WHERE id = 1", greatest)
        return out

    async def _add(self, conn: Conn, item: _Append, last: int, out: _Batch) -> bool:
        """Check `item` against its stream's head and add its rows to `out`; False if refused."""
        stream = item.stream
        head = out.heads.get(stream) or await self._written_head(conn, stream, last)
        out.heads[stream] = head
        first = item.records[0]
        if first.seq != head.seq + 1 or first.prev != head.hash:
            item.error = conflict(stream, head, first)
            return False
        last_heard = out.heard.get(stream, self._heard.get(stream, 0))
        if head.seq > last_heard:
            item.foreign = [
                open_record(self._sealer, stream, seq, body)
                for seq, body in await conn.fetch(_BODIES, stream, last_heard, head.seq)
            ]
        out.heard[stream] = item.records[-1].seq
        if head.seq == 0:
            out.new_streams.append(stream)
        out.events += [(stream, r.seq, sealed_body(self._sealer, r)) for r in item.records]
        frontier = out.frontiers.get(stream) or self._frontiers.get(stream)
        if frontier is None or frontier.size != head.seq:  # first use, or another writer
            frontier = await _frontier(conn, stream, head.seq, self._sealer)
        grown = frontier.copy()
        out.nodes += [(stream, *node) for node in tree_rows(grown, item.records)]
        out.frontiers[stream] = grown
        out.heads[stream] = StreamHead(item.records[-1].seq, item.records[-1].hash)
        return True

    async def _written_head(self, conn: Conn, stream: str, last: int) -> StreamHead:
        """The head as this writer left it, unless another node has written since."""
        cached = self._heads.get(stream)
        if cached is not None and cached.seq == last:
            return cached
        return await _last_head(conn, stream, self._sealer) if last else StreamHead()

    def _complete(self, batch: list[_Append]) -> None:
        """In commit order: listeners first, then the waiting commands."""
        for item in batch:
            if item.error is None:
                notify(self._listeners, item.stream, [*item.foreign, *item.records])
            if item.future.done():
                continue  # the caller gave up waiting; the outcome stands regardless
            if item.error is None:
                item.future.set_result(None)
            else:
                item.future.set_exception(item.error)

    # Readers.

    async def _in_reader(self, job: Callable[[Conn], Awaitable[T]]) -> T:
        if self._pool is None:
            raise StorageError("The event store is closed.")
        try:
            async with self._pool.acquire() as conn:
                return await job(conn)
        except _ERRORS as exc:
            raise StorageError(f"The event store could not be read: {exc}.") from exc

    async def read(self, stream: str, after_seq: int = 0, limit: int = 1000) -> list[AuditRecord]:
        rows = await self._in_reader(lambda conn: conn.fetch(_ROWS, stream, after_seq, limit))
        return [open_record(self._sealer, stream, seq, body) for seq, body in rows]

    async def head(self, stream: str) -> StreamHead:
        return await self._in_reader(lambda conn: _last_head(conn, stream, self._sealer))

    async def latest(self, stream: str, event_type: str) -> AuditRecord | None:
        # Backwards along the primary key, a page at a time: types are sealed too.
        before = 1 << 62  # past any sequence number
        while True:
            rows = await self._in_reader(_page(stream, before))
            for seq, body in rows:
                record = open_record(self._sealer, stream, seq, body)
                if record.type == event_type:
                    return record
            if len(rows) < LATEST_PAGE:
                return None
            before = rows[-1][0]

    async def tree_nodes(self, stream: str, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        wanted = list(nodes)
        return await self._in_reader(lambda conn: _nodes(conn, stream, wanted, self._sealer))

    async def streams(self) -> list[str]:
        rows = await self._in_reader(
            lambda conn: conn.fetch("SELECT stream FROM bidroom.streams ORDER BY 1")
        )
        return [row[0] for row in rows]
