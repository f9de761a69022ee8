"""The embedded event store: SQLite in WAL mode, synchronous=FULL, group commit.

One writer thread owns the write connection. Appends queue up while a commit is in flight
and go into the next transaction together, so many acknowledgements share one fsync; no
append is acknowledged before its transaction has committed. Readers use their own
read-only connections in a small thread pool, so the event loop never blocks on disk.
Records are sealed on the way in and opened on the way out (sealed_rows.py, docs/spec/at-rest.md).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TypeVar

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
from server.storage.sealed_rows import open_body, open_record, seal_row
from server.storage.sqlite_schema import INSERT_NODE, SET_FENCE, connect, initialize

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from recordings.audit import AuditRecord
    from server.storage.base import Sealer

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Enough to amortise one fsync over many appends, small enough to keep a commit short and
# to bound what one commit makes the live hub write to every client at once.
MAX_BATCH: Final = 256
READER_THREADS: Final = 2

_INSERT: Final = (
    "INSERT INTO events (stream, seq, type, time, body, hash) VALUES (?, ?, ?, ?, ?, ?)"
)
# latest() opens records backwards this many at a time: the types asked for (tree heads) come
# at least every few hundred records, and a sealed row's type can only be read by opening it.
LATEST_PAGE: Final = 64


@dataclass(slots=True)
class _Append:
    stream: str
    records: list[AuditRecord]
    future: asyncio.Future[None]
    token: int | None
    error: Exception | None = field(default=None)
    # Records another process committed since this one last notified: heard first.
    foreign: list[AuditRecord] = field(default_factory=list)


_STOP: Final = object()


def load_frontier(conn: sqlite3.Connection, stream: str, size: int, sealer: Sealer) -> Frontier:
    """The right edge of a stream's tree of `size` leaves, from its stored nodes."""
    if size == 0:
        return Frontier()
    hashes = _nodes(conn, stream, subtree_nodes(0, size), sealer)
    return Frontier.of(size, hashes)


def _nodes(
    conn: sqlite3.Connection, stream: str, nodes: Sequence[tuple[int, int]], sealer: Sealer
) -> list[bytes]:
    """Stored nodes are read; those below STORED_LEVEL are hashed from their events' bodies."""
    found = []
    for level, index in nodes:
        if level < STORED_LEVEL:
            first, count = index << level, 1 << level
            rows = conn.execute(
                "SELECT seq, body FROM events WHERE stream = ? AND seq > ? AND seq <= ?"
                " ORDER BY seq",
                (stream, first, first + count),
            ).fetchall()
            if len(rows) != count:
                raise StorageError(f"Stream {stream} has no tree node ({level}, {index}).")
            bodies = [open_body(sealer, stream, seq, body) for seq, body in rows]
            found.append(node_from_bodies(level, bodies))
            continue
        row = conn.execute(
            "SELECT hash FROM tree WHERE stream = ? AND level = ? AND idx = ?",
            (stream, level, index),
        ).fetchone()
        if row is None:
            raise StorageError(f"Stream {stream} has no tree node ({level}, {index}).")
        found.append(bytes(row[0]))
    return found


def _stored_token(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT token FROM fence").fetchone()
    return int(row[0]) if row else 0


class SQLiteEventStore:
    """Every record is sealed under `sealer` on its way in and opened on its way out."""

    def __init__(self, path: Path, sealer: Sealer) -> None:
        self.path = path
        self._sealer = sealer
        self._queue: queue.SimpleQueue[_Append | object] = queue.SimpleQueue()
        self._listeners: list[CommitListener] = []
        self._writer: threading.Thread | None = None
        self._heard: dict[str, int] = {}
        self._frontiers: dict[str, Frontier] = {}  # writer thread only: each tree's right edge
        self._heads: dict[str, StreamHead] = {}  # writer thread only: heads it last wrote
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: int | None = None
        # Transactions committed: with group commit this grows slower than the appends.
        self.commits = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(initialize, self.path, self._sealer)
        self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="sqlite-read")
        self._writer = threading.Thread(target=self._write_loop, name="sqlite-write", daemon=True)
        self._writer.start()

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(writer.join)
        readers, self._readers = self._readers, None
        if readers is not None:
            await asyncio.to_thread(self._close_readers, readers)

    def _close_readers(self, readers: ThreadPoolExecutor) -> None:
        readers.shutdown(wait=True)
        with self._lock:
            for conn in self._reader_connections:
                conn.close()
            self._reader_connections.clear()

    async def check_writable(self) -> None:
        """The writer runs and the database takes its write lock (taken and released at once)."""
        if self._writer is None or not self._writer.is_alive():
            raise StorageError("The event store's writer is not running.")
        try:
            await asyncio.to_thread(_take_write_lock, self.path)
        except sqlite3.Error as exc:
            raise StorageError(f"The event store can't be written: {exc}.") from None

    def add_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def fence(self, token: int) -> None:
        self._token = token

    def append(self, stream: str, records: Sequence[AuditRecord]) -> asyncio.Future[None]:
        check_links(stream, records)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if self._writer is None:
            future.set_exception(StorageError("The event store is closed."))
        else:
            self._queue.put(_Append(stream, list(records), future, self._token))
        return future

    # The writer thread.

    def _write_loop(self) -> None:
        conn = connect(self.path)
        # The last seq per stream that this process's listeners have heard (writer thread only).
        self._heard = dict(conn.execute("SELECT stream, max(seq) FROM events GROUP BY stream"))
        try:
            while True:
                first = self._queue.get()
                batch, stop = self._gather(first)
                if batch:
                    self._commit(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

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
            except queue.Empty:
                return batch, False

    def _commit(self, conn: sqlite3.Connection, batch: list[_Append]) -> None:
        heard: dict[str, int] = {}
        try:
            conn.execute("BEGIN IMMEDIATE")
            fenced = any(item.token is not None for item in batch)
            stored = _stored_token(conn) if fenced else 0
            greatest = stored
            for item in batch:
                if item.token is not None and item.token < greatest:
                    item.error = fenced_out(item.token, greatest)
                    continue
                self._insert(conn, item, heard)
                if item.error is None and item.token is not None:
                    greatest = max(greatest, item.token)
            if greatest > stored:
                conn.execute(SET_FENCE, (greatest,))
            conn.execute("COMMIT")
            self.commits += 1
            self._heard.update(heard)
        except (sqlite3.Error, StorageError) as exc:
            logger.exception("Commit of %d appends failed", len(batch))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._frontiers.clear()  # they may hold what was rolled back: reload from disk
            self._heads.clear()
            for item in batch:
                item.error = StorageError(f"The event store could not commit: {exc}.")
        assert self._loop is not None  # noqa: S101 - set in start()
        self._loop.call_soon_threadsafe(self._complete, batch)

    def _insert(self, conn: sqlite3.Connection, item: _Append, heard: dict[str, int]) -> None:
        conn.execute("SAVEPOINT item")
        try:
            head = self._written_head(conn, item.stream)
            first = item.records[0]
            if first.seq != head.seq + 1 or first.prev != head.hash:
                raise conflict(item.stream, head, first)
            last_heard = heard.get(item.stream, self._heard.get(item.stream, 0))
            if head.seq > last_heard:
                item.foreign = [
                    open_record(self._sealer, item.stream, seq, body)
                    for seq, body in conn.execute(
                        "SELECT seq, body FROM events WHERE stream = ? AND seq > ? ORDER BY seq",
                        (item.stream, last_heard),
                    )
                ]
            heard[item.stream] = item.records[-1].seq
            if head.seq == 0:
                conn.execute("INSERT OR IGNORE INTO streams (stream) VALUES (?)", (item.stream,))
            conn.executemany(_INSERT, [seal_row(self._sealer, r) for r in item.records])
            frontier = self._frontiers.get(item.stream)
            if frontier is None or frontier.size != head.seq:  # first use, or another writer
                frontier = load_frontier(conn, item.stream, head.seq, self._sealer)
            grown = frontier.copy()
            nodes = tree_rows(grown, item.records)
            conn.executemany(INSERT_NODE, [(item.stream, *node) for node in nodes])
            self._frontiers[item.stream] = grown
            self._heads[item.stream] = StreamHead(item.records[-1].seq, item.records[-1].hash)
        except (ConflictError, sqlite3.IntegrityError) as exc:
            conn.execute("ROLLBACK TO item")
            item.error = exc if isinstance(exc, ConflictError) else ConflictError(str(exc))
        finally:
            conn.execute("RELEASE item")

    def _written_head(self, conn: sqlite3.Connection, stream: str) -> StreamHead:
        """The head as this writer left it, unless another process has written since."""
        (seq,) = conn.execute("SELECT max(seq) FROM events WHERE stream = ?", (stream,)).fetchone()
        cached = self._heads.get(stream)
        if cached is not None and cached.seq == seq:
            return cached
        return self._stream_head(conn, stream)

    def _complete(self, batch: list[_Append]) -> None:
        """On the event loop, in commit order: listeners first, then the waiting commands."""
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

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, read_only=True)
            self._local.conn = conn
            with self._lock:
                self._reader_connections.append(conn)
        return conn

    async def _in_reader(self, job: Callable[[], T]) -> T:
        if self._readers is None:
            raise StorageError("The event store is closed.")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._readers, job)
        except sqlite3.Error as exc:
            raise StorageError(f"The event store could not be read: {exc}.") from exc

    async def read(self, stream: str, after_seq: int = 0, limit: int = 1000) -> list[AuditRecord]:
        return await self._in_reader(lambda: self._read(stream, after_seq, limit))

    def _read(self, stream: str, after_seq: int, limit: int) -> list[AuditRecord]:
        rows = self._reader().execute(
            "SELECT seq, body FROM events WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?",
            (stream, after_seq, limit),
        )
        return [open_record(self._sealer, stream, seq, body) for seq, body in rows]

    async def head(self, stream: str) -> StreamHead:
        return await self._in_reader(lambda: self._stream_head(self._reader(), stream))

    def _stream_head(self, conn: sqlite3.Connection, stream: str) -> StreamHead:
        """The last record's seq and hash: its hash is not stored, so it is opened."""
        row = conn.execute(
            "SELECT seq, body FROM events WHERE stream = ? ORDER BY seq DESC LIMIT 1", (stream,)
        ).fetchone()
        if row is None:
            return StreamHead()
        body = open_body(self._sealer, stream, *row)
        return StreamHead(row[0], record_hash(body.encode("utf-8")))

    async def latest(self, stream: str, event_type: str) -> AuditRecord | None:
        return await self._in_reader(lambda: self._latest(stream, event_type))

    def _latest(self, stream: str, event_type: str) -> AuditRecord | None:
        # Backwards along the (stream, seq) index, a page at a time: types are sealed too.
        before = 1 << 62  # past any sequence number
        while True:
            rows = (
                self._reader()
                .execute(
                    "SELECT seq, body FROM events WHERE stream = ? AND seq < ?"
                    " ORDER BY seq DESC LIMIT ?",
                    (stream, before, LATEST_PAGE),
                )
                .fetchall()
            )
            for seq, body in rows:
                record = open_record(self._sealer, stream, seq, body)
                if record.type == event_type:
                    return record
            if len(rows) < LATEST_PAGE:
                return None
            before = rows[-1][0]

    async def tree_nodes(self, stream: str, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        wanted = list(nodes)
        return await self._in_reader(lambda: _nodes(self._reader(), stream, wanted, self._sealer))

    async def streams(self) -> list[str]:
        return await self._in_reader(self._streams)

    def _streams(self) -> list[str]:
        return [row[0] for row in self._reader().execute("SELECT stream FROM streams ORDER BY 1")]


def _take_write_lock(path: Path) -> None:
    """Begin a write transaction and roll it back: it fails on a read-only file or a full lock."""
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, timeout=3.0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    finally:
        conn.close()
