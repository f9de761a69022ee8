"""An in-memory event store: the same contract as SQLite, for unit tests. Not durable."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from crypto import Frontier
from server.errors import StorageError
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

if TYPE_CHECKING:
    from collections.abc import Sequence

    from recordings.audit import AuditRecord


class MemoryEventStore:
    def __init__(self) -> None:
        self._streams: dict[str, list[AuditRecord]] = {}
        self._trees: dict[str, tuple[Frontier, dict[tuple[int, int], bytes]]] = {}
        self._listeners: list[CommitListener] = []
        self._closed = False
        self._token: int | None = None  # what appends carry, once fenced
        self._greatest = 0  # the greatest token an append carried

    def fence(self, token: int) -> None:
        self._token = token

    async def start(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True

    async def check_writable(self) -> None:
        if self._closed:
            raise StorageError("The event store is closed.")

    def add_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def append(self, stream: str, records: Sequence[AuditRecord]) -> asyncio.Future[None]:
        check_links(stream, records)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closed:
            future.set_exception(StorageError("The event store is closed."))
            return future
        batch = list(records)
        token = self._token
        asyncio.get_running_loop().call_soon(self._commit, stream, batch, token, future)
        return future

    def _commit(
        self,
        stream: str,
        records: list[AuditRecord],
        token: int | None,
        future: asyncio.Future[None],
    ) -> None:
        if token is not None and token < self._greatest:
            if not future.done():
                future.set_exception(fenced_out(token, self._greatest))
            return
        log = self._streams.setdefault(stream, [])
        head = StreamHead(log[-1].seq, log[-1].hash) if log else StreamHead()
        first = records[0]
        if first.seq != head.seq + 1 or first.prev != head.hash:
            if not future.done():
                future.set_exception(conflict(stream, head, first))
            return
        log.extend(records)
        if token is not None:
            self._greatest = max(self._greatest, token)
        frontier, nodes = self._trees.setdefault(stream, (Frontier(), {}))
        nodes.update(
            ((level, index), value) for level, index, value in tree_rows(frontier, records)
        )
        notify(self._listeners, stream, records)
        if not future.done():
            future.set_result(None)

    async def read(self, stream: str, after_seq: int = 0, limit: int = 1000) -> list[AuditRecord]:
        log = self._streams.get(stream, [])
        return log[after_seq : after_seq + limit]

    async def head(self, stream: str) -> StreamHead:
        log = self._streams.get(stream)
        return StreamHead(log[-1].seq, log[-1].hash) if log else StreamHead()

    async def latest(self, stream: str, event_type: str) -> AuditRecord | None:
        return next(
            (r for r in reversed(self._streams.get(stream, [])) if r.type == event_type), None
        )

    async def tree_nodes(self, stream: str, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        stored = self._trees.get(stream, (None, {}))[1]
        log = self._streams.get(stream, [])
        found = []
        for level, index in nodes:
            if level >= STORED_LEVEL and (level, index) in stored:
                found.append(stored[(level, index)])
                continue
            first, count = index << level, 1 << level
            if level >= STORED_LEVEL or first + count > len(log):
                raise StorageError(f"Stream {stream} has no tree node ({level}, {index}).")
            found.append(node_from_bodies(level, [r.body for r in log[first : first + count]]))
        return found

    async def streams(self) -> list[str]:
        return sorted(self._streams)
