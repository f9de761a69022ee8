"""The embedded event store: SQLite in WAL mode, synchronous=FULL, group commit.

One writer thread owns the write connection. Appends queue up while a commit is in flight
and go into the next transaction together, so many acknowledgements share one fsync; no
append is acknowledged before its transaction has committed. Readers use their own
read-only connections in a small thread pool, so the event loop never blocks on disk.
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
from recordings.audit import AuditRecord
from server.errors import ConflictError, StorageError
from server.storage.base import (
    STORED_LEVEL,
    CommitListener,
    StreamHead,
    check_links,
    conflict,
    node_from_bodies,
    notify,
    tree_rows,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION: Final = 2  # 2: the Merkle tree of each stream (table `tree`)
# Enough to amortise one fsync over many appends, small enough to keep a commit short and
# to bound what one commit makes the live hub write to every client at once.
MAX_BATCH: Final = 256
READER_THREADS: Final = 2

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS streams (
    stream TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    time TEXT NOT NULL,
    body TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_stream ON events (stream, seq);
CREATE TABLE IF NOT EXISTS tree (
    stream TEXT NOT NULL,
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (stream, level, idx)
) WITHOUT ROWID;
"""
_INSERT_NODE: Final = "INSERT INTO tree (stream, level, idx, hash) VALUES (?, ?, ?, ?)"


_INSERT: Final = (
    "INSERT INTO events (stream, seq, type, time, body, hash) VALUES (?, ?, ?, ?, ?, ?)"
)


@dataclass(slots=True)
class _Append:
    stream: str
    records: list[AuditRecord]
    future: asyncio.Future[None]
    error: Exception | None = field(default=None)
    # Records another process committed since this one last notified: heard first.
    foreign: list[AuditRecord] = field(default_factory=list)


_STOP: Final = object()


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open the database with the pragmas every connection of the node uses."""
    if read_only:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def initialize(path: Path) -> None:
    """Create the schema if needed; refuse a database written by a newer version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"The database {path.name} has schema {version}; this node knows {SCHEMA_VERSION}."
            )
        conn.executescript(_SCHEMA)
        if version == 1:
            _build_trees(conn)  # sets the version in the same transaction
        else:
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    finally:
        conn.close()


def _build_trees(conn: sqlite3.Connection) -> None:
    """Schema 1 to 2: the Merkle tree of every stream, from its events, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    streams = [row[0] for row in conn.execute("SELECT stream FROM streams")]
    for stream in streams:
        frontier = Frontier()
        rows = conn.execute(
            "SELECT body, hash FROM events WHERE stream = ? ORDER BY seq", (stream,)
        )
        records = [AuditRecord.load(body, digest) for body, digest in rows]
        nodes = tree_rows(frontier, records)
        conn.executemany(_INSERT_NODE, [(stream, *node) for node in nodes])
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")  # a crash before here leaves 1
    conn.execute("COMMIT")


def load_frontier(conn: sqlite3.Connection, stream: str, size: int) -> Frontier:
    """The right edge of a stream's tree of `size` leaves, from its stored nodes."""
    if size == 0:
        return Frontier()
    hashes = _nodes(conn, stream, subtree_nodes(0, size))
    return Frontier.of(size, hashes)


def _nodes(conn: sqlite3.Connection, stream: str, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
    """Stored nodes are read; those below STORED_LEVEL are hashed from their events' bodies."""
    found = []
    for level, index in nodes:
        if level < STORED_LEVEL:
            first, count = index << level, 1 << level
            rows = conn.execute(
                "SELECT body FROM events WHERE stream = ? AND seq > ? AND seq <= ? ORDER BY seq",
                (stream, first, first + count),
            ).fetchall()
            if len(rows) != count:
                raise StorageError(f"Stream {stream} has no tree node ({level}, {index}).")
            found.append(node_from_bodies(level, [body for (body,) in rows]))
            continue
        row = conn.execute(
            "SELECT hash FROM tree WHERE stream = ? AND level = ? AND idx = ?",
            (stream, level, index),
        ).fetchone()
        if row is None:
            raise StorageError(f"Stream {stream} has no tree node ({level}, {index}).")
        found.append(bytes(row[0]))
    return found


def stored_rows(path: Path, stream: str) -> Iterator[tuple[int, str, str]]:
    """(seq, body, hash) of one stream in seq order, read-only; for offline verification."""
    conn = connect(path, read_only=True)
    try:
        yield from conn.execute(
            "SELECT seq, body, hash FROM events WHERE stream = ? ORDER BY seq", (stream,)
        )
    finally:
        conn.close()


def stored_streams(path: Path) -> list[str]:
    conn = connect(path, read_only=True)
    try:
        return [row[0] for row in conn.execute("SELECT stream FROM streams ORDER BY stream")]
    finally:
        conn.close()


class SQLiteEventStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[_Append | object] = queue.SimpleQueue()
        self._listeners: list[CommitListener] = []
        self._writer: threading.Thread | None = None
        self._heard: dict[str, int] = {}
        self._frontiers: dict[str, Frontier] = {}  # writer thread only: each tree's right edge
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Transactions committed: with group commit this grows slower than the appends.
        self.commits = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(initialize, self.path)
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

    def add_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def append(self, stream: str, records: Sequence[AuditRecord]) -> asyncio.Future[None]:
        check_links(stream, records)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if self._writer is None:
            future.set_exception(StorageError("The event store is closed."))
        else:
            self._queue.put(_Append(stream, list(records), future))
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
            for item in batch:
                self._insert(conn, item, heard)
            conn.execute("COMMIT")
            self.commits += 1
            self._heard.update(heard)
        except (sqlite3.Error, StorageError) as exc:
            logger.exception("Commit of %d appends failed", len(batch))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._frontiers.clear()  # they may hold what was rolled back: reload from disk
            for item in batch:
                item.error = StorageError(f"The event store could not commit: {exc}.")
        assert self._loop is not None  # noqa: S101 - set in start()
        self._loop.call_soon_threadsafe(self._complete, batch)

    def _insert(self, conn: sqlite3.Connection, item: _Append, heard: dict[str, int]) -> None:
        conn.execute("SAVEPOINT item")
        try:
            row = conn.execute(
                "SELECT seq, hash FROM events WHERE stream = ? ORDER BY seq DESC LIMIT 1",
                (item.stream,),
            ).fetchone()
            head = StreamHead(*row) if row else StreamHead()
            first = item.records[0]
            if first.seq != head.seq + 1 or first.prev != head.hash:
                raise conflict(item.stream, head, first)
            last_heard = heard.get(item.stream, self._heard.get(item.stream, 0))
            if head.seq > last_heard:
                item.foreign = [
                    AuditRecord.load(body, digest)
                    for body, digest in conn.execute(
                        "SELECT body, hash FROM events WHERE stream = ? AND seq > ? ORDER BY seq",
                        (item.stream, last_heard),
                    )
                ]
            heard[item.stream] = item.records[-1].seq
            if head.seq == 0:
                conn.execute("INSERT OR IGNORE INTO streams (stream) VALUES (?)", (item.stream,))
            conn.executemany(
                _INSERT, [(r.stream, r.seq, r.type, r.time, r.body, r.hash) for r in item.records]
            )
            frontier = self._frontiers.get(item.stream)
            if frontier is None or frontier.size != head.seq:  # first use, or another writer
                frontier = load_frontier(conn, item.stream, head.seq)
            grown = frontier.copy()
            nodes = tree_rows(grown, item.records)
            conn.executemany(_INSERT_NODE, [(item.stream, *node) for node in nodes])
            self._frontiers[item.stream] = grown
        except (ConflictError, sqlite3.IntegrityError) as exc:
            conn.execute("ROLLBACK TO item")
            item.error = exc if isinstance(exc, ConflictError) else ConflictError(str(exc))
        finally:
            conn.execute("RELEASE item")

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
            "SELECT body, hash FROM events WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?",
            (stream, after_seq, limit),
        )
        return [AuditRecord.load(body, digest) for body, digest in rows]

    async def head(self, stream: str) -> StreamHead:
        return await self._in_reader(lambda: self._head(stream))

    def _head(self, stream: str) -> StreamHead:
        row = (
            self._reader()
            .execute(
                "SELECT seq, hash FROM events WHERE stream = ? ORDER BY seq DESC LIMIT 1", (stream,)
            )
            .fetchone()
        )
        return StreamHead(*row) if row else StreamHead()

    async def latest(self, stream: str, event_type: str) -> AuditRecord | None:
        return await self._in_reader(lambda: self._latest(stream, event_type))

    def _latest(self, stream: str, event_type: str) -> AuditRecord | None:
        # Backwards along the (stream, seq) index: the kinds asked for come every few hundred.
        row = (
            self._reader()
            .execute(
                "SELECT body, hash FROM events WHERE stream = ? AND type = ?"
                " ORDER BY seq DESC LIMIT 1",
                (stream, event_type),
            )
            .fetchone()
        )
        return AuditRecord.load(*row) if row else None

    async def tree_nodes(self, stream: str, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        wanted = list(nodes)
        return await self._in_reader(lambda: _nodes(self._reader(), stream, wanted))

    async def streams(self) -> list[str]:
        return await self._in_reader(self._streams)

    def _streams(self) -> list[str]:
        return [row[0] for row in self._reader().execute("SELECT stream FROM streams ORDER BY 1")]
