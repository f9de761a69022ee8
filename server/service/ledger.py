"""The write side: cached aggregates, their chain heads, and recording events in order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Protocol

from crypto import Frontier, leaf_hash
from recordings.audit import AuditRecord
from server.domain.catalogue import decode_event
from server.domain.events import DomainEvent, TreeHeadSigned
from server.errors import ConflictError
from server.protocol.times import format_time
from server.service.observer import NO_OBSERVER, Observer
from server.storage.base import EventStore, StreamHead

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from server.clock import Clock
    from server.domain.access import Actor

READ_PAGE = 1000
TREE_HEAD_TYPE = TreeHeadSigned.TYPE
# A command that lost a race with another writer is decided again on the fresh state.
CONFLICT_RETRIES = 2


class Aggregate(Protocol):
    def apply(self, event: DomainEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class Origin:
    """Who caused an event and from where: a participant, or the node itself."""

    id: str
    role: str
    address: str

    @classmethod
    def of(cls, actor: Actor) -> Origin:
        return cls(actor.id, actor.role.value, actor.address)


class TreeHeadSigner(Protocol):
    """Says when a stream is due a signed tree head, and signs one (service/treeheads.py)."""

    @property
    def origin(self) -> Origin: ...

    def due(self, types: Sequence[str], since: int) -> bool: ...

    def signed(self, stream: str, size: int, root: bytes) -> DomainEvent: ...


@dataclass(slots=True)
class _Entry:
    aggregate: Aggregate
    head: StreamHead
    tree: Frontier  # the stream's Merkle tree, as far as `head`
    since: int = 0  # records since the stream's last tree head


class Ledger:
    """Keeps each loaded stream's aggregate and head, and appends events to the store.

    `emit` is synchronous up to the point where the records are queued, so a command that
    loads its aggregate, decides and emits without awaiting in between can't interleave with
    another command on the same stream. The aggregate is updated at once; if the commit
    fails, the cached stream is dropped and reloaded from the store on next use.
    """

    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        factory: Callable[[str], Aggregate],
        tree_heads: TreeHeadSigner | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._factory = factory
        self._tree_heads = tree_heads
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Future[_Entry]] = {}
        self._pending: dict[str, set[asyncio.Future[list[AuditRecord]]]] = {}
        self.observer: Observer = NO_OBSERVER  # commit latency, for the node's metrics

    async def load(self, stream: str) -> Aggregate:
        """The stream's aggregate, folded from the store on first use and cached after."""
        entry = self._entries.get(stream)
        if entry is None:
            entry = await self._load_once(stream)
        return entry.aggregate

    def cached(self, stream: str) -> Aggregate | None:
        """The stream's aggregate if it is loaded, without awaiting (None if it is not)."""
        entry = self._entries.get(stream)
        return None if entry is None else entry.aggregate

    async def refresh(self, stream: str) -> Aggregate:
        """Fold in what another process committed since this node last looked."""
        entry = self._entries.get(stream)
        while entry is not None:
            page = await self._store.read(stream, entry.head.seq, READ_PAGE)
            if self._entries.get(stream) is not entry or not self._catch_up(stream, entry, page):
                break  # dropped meanwhile, or the cache disagrees with the store: reload
            if len(page) < READ_PAGE:
                return entry.aggregate
        return await self.load(stream)

    def _catch_up(self, stream: str, entry: _Entry, page: list[AuditRecord]) -> bool:
        for record in page:
            if record.seq <= entry.head.seq:
                continue  # a local emit moved the head while we awaited the read
            if record.seq != entry.head.seq + 1 or record.prev != entry.head.hash:
                self._entries.pop(stream, None)
                return False
            self._take(entry, record)
        return True

    async def _load_once(self, stream: str) -> _Entry:
        pending = self._loading.get(stream)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._loading[stream] = future
        try:
            entry = await self._fold(
                stream, _Entry(self._factory(stream), StreamHead(), Frontier())
            )
            self._entries.setdefault(stream, entry)
            future.set_result(self._entries[stream])
            return self._entries[stream]
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._loading[stream]

    async def _fold(self, stream: str, entry: _Entry) -> _Entry:
        while True:
            page = await self._store.read(stream, entry.head.seq, READ_PAGE)
            for record in page:
                self._take(entry, record)
            if len(page) < READ_PAGE:
                return entry

    def _take(self, entry: _Entry, record: AuditRecord) -> None:
        """Fold a committed record into the cached stream: aggregate, head, tree."""
        self._apply(entry.aggregate, record)
        entry.head = StreamHead(record.seq, record.hash)
        entry.tree.append(leaf_hash(record.body.encode()))
        entry.since = 0 if record.type == TREE_HEAD_TYPE else entry.since + 1

    def follow(self, stream: str, records: Sequence[AuditRecord]) -> None:
        """A commit listener of a replica (an edge node, docs/sites.md section 6): fold into
        the cached stream what another node committed. A record that does not follow the
        cached head drops the cache, and the next use reloads it from the store."""
        entry = self._entries.get(stream)
        if entry is None:
            return
        for record in records:
            if record.seq <= entry.head.seq:
                continue
            if record.seq != entry.head.seq + 1 or record.prev != entry.head.hash:
                self._entries.pop(stream, None)
                return
            self._take(entry, record)

    def next_seq(self, stream: str) -> int:
        """The sequence number the next event of a loaded stream gets (inside a decision)."""
        return self._entries[stream].head.seq + 1

    @staticmethod
    def _apply(aggregate: Aggregate, record: AuditRecord) -> None:
        aggregate.apply(decode_event(record.type, record.payload))

    async def settled(self, stream: str) -> Aggregate:
        """The aggregate once every commit in flight on `stream` has settled.

        Commands decide on the speculative state (so they pipeline); views wait for this,
        so that nobody is ever shown state that a failed commit then takes back.
        """
        while pending := self._pending.get(stream):
            await asyncio.wait(list(pending))
        return await self.load(stream)

    async def settled_at(self, stream: str) -> tuple[Aggregate, int]:
        """The settled aggregate and the sequence number of the last event folded into it.

        Both are read in one step, with no commit in flight: a view built from the aggregate
        before the caller next awaits shows exactly the log up to that number.
        """
        while True:
            aggregate = await self.settled(stream)
            entry = self._entries.get(stream)
            if entry is not None and entry.aggregate is aggregate and not self._pending.get(stream):
                return aggregate, entry.head.seq

    def emit(
        self, stream: str, origin: Origin, events: Sequence[DomainEvent], *, pin: bool = False
    ) -> asyncio.Future[list[AuditRecord]]:
        """Record `events` on a loaded stream; the future resolves once they are durable.

        When they make a signed tree head due (or `pin` asks for one), it is recorded right
        after them, in the same commit, by the node: so tree heads sit at reproducible places.
        """
        entry = self._entries[stream]
        time = format_time(self._clock.now())
        tree, since = entry.tree.copy(), entry.since
        records: list[AuditRecord] = []
        for event in events:
            records.append(self._record(stream, origin, event, time, records, entry.head))
            tree.append(leaf_hash(records[-1].body.encode()))
            since += 1
        signer = self._tree_heads
        if signer is not None and (pin or signer.due([e.TYPE for e in events], since)):
            tree_head = signer.signed(stream, tree.size, tree.root())
            records.append(
                self._record(stream, signer.origin, tree_head, time, records, entry.head)
            )
            tree.append(leaf_hash(records[-1].body.encode()))
            events, since = [*events, tree_head], 0
        try:
            for event in events:
                entry.aggregate.apply(event)
        except Exception:
            self._entries.pop(stream, None)  # half-applied: rebuild from the store
            raise
        entry.head = StreamHead(records[-1].seq, records[-1].hash)
        entry.tree, entry.since = tree, since
        started = perf_counter()
        return self._await_commit(stream, records, self._store.append(stream, records), started)

    @staticmethod
    def _record(
        stream: str, origin: Origin, event: DomainEvent, time: str,
        before: Sequence[AuditRecord], head: StreamHead,
    ) -> AuditRecord:  # fmt: skip
        previous = before[-1] if before else None
        return AuditRecord.create(
            stream=stream,
            seq=previous.seq + 1 if previous else head.seq + 1,
            prev=previous.hash if previous else head.hash,
            type=event.TYPE,
            actor_id=origin.id,
            actor_role=origin.role,
            address=origin.address,
            time=time,
            payload=event.payload(),
            visibility=event.visibility(),
        )

    async def pin(self, stream: str) -> bool:
        """Close the stream's tail with a signed tree head, unless one is already last.

        An export does this, so that every record it carries is under a signed root.
        """
        for attempt in range(CONFLICT_RETRIES + 1):
            await self.load(stream)
            entry = self._entries[stream]
            if self._tree_heads is None or entry.head.seq == 0 or entry.since == 0:
                return False
            try:
                await self.emit(stream, self._tree_heads.origin, [], pin=True)
                return True
            except ConflictError:
                if attempt == CONFLICT_RETRIES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def execute(
        self, stream: str, origin: Origin, decide: Callable[[Aggregate], Sequence[DomainEvent]]
    ) -> list[AuditRecord]:
        """Load, decide, record and await the commit; a lost race is decided again.

        `decide` runs synchronously on the current aggregate and returns the events (or
        raises a refusal, which propagates). If another writer appended first, the commit
        fails with ConflictError, the cache is dropped, and `decide` runs again on the
        state reloaded from the store.
        """
        for attempt in range(CONFLICT_RETRIES + 1):
            aggregate = await self.load(stream)
            # From here to emit() nothing awaits, so no other command interleaves.
            events = decide(aggregate)
            if not events:
                return []  # nothing to record (an idempotent command repeated)
            try:
                return await self.emit(stream, origin, events)
            except ConflictError:
                if attempt == CONFLICT_RETRIES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _await_commit(
        self, stream: str, records: list[AuditRecord], committed: asyncio.Future[None],
        started: float,
    ) -> asyncio.Future[list[AuditRecord]]:  # fmt: skip
        result: asyncio.Future[list[AuditRecord]] = asyncio.get_running_loop().create_future()
        pending = self._pending.setdefault(stream, set())
        pending.add(result)

        def settle(done: asyncio.Future[None]) -> None:
            pending.discard(result)
            if not pending and self._pending.get(stream) is pending:
                del self._pending[stream]
            error = done.exception()
            if error is not None:
                # The cached state assumed this commit; only the store knows the truth now.
                self._entries.pop(stream, None)
                if not result.done():
                    result.set_exception(error)
            else:
                self.observer.committed(perf_counter() - started, len(records))
                if not result.done():
                    result.set_result(records)

        committed.add_done_callback(settle)
        return result

    def forget(self, stream: str) -> None:
        self._entries.pop(stream, None)

    async def head(self, stream: str) -> StreamHead:
        entry = self._entries.get(stream)
        return entry.head if entry is not None else await self._store.head(stream)
