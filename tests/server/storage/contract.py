"""The event store contract, run against every implementation (see test_*.py here)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from crypto import leaf_hash, merkle_root, range_root, subtree_nodes
from recordings.audit import GENESIS, AuditRecord
from server.errors import ConflictError, FencedOut, StorageError
from server.storage.base import EventStore, StreamHead
from tests.recordings.test_audit import chain

if TYPE_CHECKING:
    from collections.abc import Sequence


class EventStoreContract:
    """Subclasses define the fixtures `store`, a started, empty EventStore, and `rival`: another
    started store on the same database (as a second node sees it), or `store` itself where
    there is no such thing (memory)."""

    async def test_an_empty_stream_has_the_genesis_head(self, store: EventStore) -> None:
        assert await store.head("t-1") == StreamHead(0, GENESIS)
        assert await store.read("t-1") == []
        assert await store.streams() == []

    async def test_append_then_read_back(self, store: EventStore) -> None:
        records = chain(5)
        await store.append("t-1", records[:2])
        await store.append("t-1", records[2:])
        assert await store.read("t-1") == records
        assert await store.read("t-1", after_seq=3) == records[3:]
        assert await store.read("t-1", after_seq=1, limit=2) == records[1:3]
        assert await store.head("t-1") == StreamHead(5, records[-1].hash)
        assert await store.streams() == ["t-1"]

    async def test_streams_are_independent(self, store: EventStore) -> None:
        await store.append("t-a", chain(2, "t-a"))
        await store.append("t-b", chain(3, "t-b"))
        assert [r.seq for r in await store.read("t-a")] == [1, 2]
        assert (await store.head("t-b")).seq == 3
        assert await store.streams() == ["t-a", "t-b"]

    async def test_an_append_that_does_not_follow_the_head_conflicts(
        self, store: EventStore
    ) -> None:
        records = chain(3)
        await store.append("t-1", records[:1])
        with pytest.raises(ConflictError, match="does not follow"):
            await store.append("t-1", records[2:])
        with pytest.raises(ConflictError):
            await store.append("t-1", records[:1])  # the same event again
        assert await store.read("t-1") == records[:1]

    async def test_a_wrong_prev_hash_conflicts(self, store: EventStore) -> None:
        await store.append("t-1", chain(1))
        stranger = chain(2, "t-1")[1]
        forged = AuditRecord.create(
            stream="t-1", seq=2, prev="ab" * 32, type=stranger.type, actor_id="p",
            actor_role="host", address="local", time=stranger.time, payload={},
            visibility=frozenset({"host"}),
        )  # fmt: skip
        with pytest.raises(ConflictError):
            await store.append("t-1", [forged])

    async def test_bad_batches_are_refused_before_queueing(self, store: EventStore) -> None:
        records = chain(3)
        with pytest.raises(ValueError, match="at least one"):
            _ = store.append("t-1", [])
        with pytest.raises(ValueError, match="follow each other"):
            _ = store.append("t-1", [records[0], records[2]])
        with pytest.raises(ValueError, match="belong to its stream"):
            _ = store.append("t-2", records[:1])

    async def test_pipelined_appends_commit_in_order(self, store: EventStore) -> None:
        records = chain(50)
        futures = [store.append("t-1", [record]) for record in records]
        await asyncio.gather(*futures)
        assert await store.read("t-1", limit=100) == records

    async def test_a_failed_append_fails_the_ones_queued_behind_it(self, store: EventStore) -> None:
        records = chain(3)
        await store.append("t-1", records[:1])
        first = store.append("t-1", records[2:])  # skips seq 2: conflict
        second = store.append("t-1", records[1:2])  # fine on its own
        results = await asyncio.gather(first, second, return_exceptions=True)
        assert isinstance(results[0], ConflictError)
        assert results[1] is None
        assert [r.seq for r in await store.read("t-1")] == [1, 2]

    async def test_listeners_hear_commits_in_order_before_the_ack(self, store: EventStore) -> None:
        heard: list[tuple[str, list[int]]] = []
        acked_when_heard: list[bool] = []
        futures: list[asyncio.Future[None]] = []

        def listener(stream: str, records: Sequence[AuditRecord]) -> None:
            heard.append((stream, [r.seq for r in records]))
            acked_when_heard.append(futures[len(heard) - 1].done())

        store.add_listener(listener)
        records = chain(4)
        futures.extend(store.append("t-1", records[i : i + 2]) for i in (0, 2))
        await asyncio.gather(*futures)
        assert heard == [("t-1", [1, 2]), ("t-1", [3, 4])]
        assert acked_when_heard == [False, False]  # heard first, acknowledged after

    async def test_a_failing_listener_does_not_stop_the_others(self, store: EventStore) -> None:
        heard: list[int] = []

        def broken(stream: str, records: Sequence[AuditRecord]) -> None:
            raise RuntimeError("listener bug")

        store.add_listener(broken)
        store.add_listener(lambda stream, records: heard.extend(r.seq for r in records))
        await store.append("t-1", chain(1))
        assert heard == [1]

    async def test_a_rejected_append_is_not_heard(self, store: EventStore) -> None:
        heard: list[int] = []
        store.add_listener(lambda stream, records: heard.extend(r.seq for r in records))
        with pytest.raises(ConflictError):
            await store.append("t-1", chain(2)[1:])
        assert heard == []

    async def test_a_closed_store_refuses_appends(self, store: EventStore) -> None:
        await store.close()
        with pytest.raises(StorageError, match="closed"):
            await store.append("t-1", chain(1))

    async def test_a_running_store_is_writable_and_a_closed_one_is_not(
        self, store: EventStore
    ) -> None:
        await store.check_writable()
        assert await store.streams() == []  # the check wrote nothing
        await store.close()
        with pytest.raises(StorageError):
            await store.check_writable()

    async def test_each_stream_is_a_merkle_tree_of_its_bodies(self, store: EventStore) -> None:
        records = chain(11)
        for start in (0, 3, 4, 9):  # appends of several sizes grow one tree
            end = {0: 3, 3: 4, 4: 9, 9: 11}[start]
            await store.append("t-1", records[start:end])
        bodies = [r.body.encode() for r in records]
        for size in (1, 4, 6, 11):
            edge = await store.tree_nodes("t-1", subtree_nodes(0, size))
            assert range_root(edge) == merkle_root(bodies[:size])
        leaf = (await store.tree_nodes("t-1", [(0, 7)]))[0]
        assert leaf == leaf_hash(bodies[7])
        with pytest.raises(StorageError, match="no tree node"):
            await store.tree_nodes("t-1", [(4, 0)])  # 16 leaves: not there yet
        with pytest.raises(StorageError, match="no tree node"):
            await store.tree_nodes("t-none", [(0, 0)])

    async def test_the_latest_record_of_a_type(self, store: EventStore) -> None:
        records = chain(4)
        await store.append("t-1", records)
        assert await store.latest("t-1", records[0].type) == records[-1]
        assert await store.latest("t-1", "no.such") is None
        assert await store.latest("t-none", records[0].type) is None

    async def test_a_home_fenced_by_a_newer_one_can_no_longer_append(
        self, store: EventStore, rival: EventStore
    ) -> None:
        records = chain(4)
        store.fence(1)
        await store.append("t-1", records[:1])
        rival.fence(2)  # a newer home took the lease
        await rival.append("t-1", records[1:2])
        store.fence(1)  # the old home, paused past its lease, resumes (same store: re-fenced)
        with pytest.raises(FencedOut, match="older than 2"):
            await store.append("t-1", records[2:3])
        rival.fence(2)  # (the same token: for `store` itself, as it was before the stale home's)
        await rival.append("t-1", records[2:3])  # the newer home goes on, at the same seq
        rival.fence(3)
        await rival.append("t-1", records[3:])
        assert await rival.read("t-1") == records

    async def test_a_fenced_out_append_writes_nothing(
        self, store: EventStore, rival: EventStore
    ) -> None:
        heard: list[int] = []
        store.add_listener(lambda stream, records: heard.extend(r.seq for r in records))
        records = chain(300)  # past the first stored tree node (256 leaves)
        store.fence(7)
        await store.append("t-1", records[:200])
        rival.fence(8)
        await rival.append("t-2", chain(1, "t-2"))
        heard.clear()
        store.fence(7)
        with pytest.raises(FencedOut):
            await store.append("t-1", records[200:])
        assert heard == []
        assert await rival.head("t-1") == StreamHead(200, records[199].hash)
        assert await rival.read("t-1", after_seq=199) == records[199:200]
        with pytest.raises(StorageError, match="no tree node"):
            await rival.tree_nodes("t-1", [(8, 0)])
        assert await rival.streams() == ["t-1", "t-2"]

    async def test_pipelined_appends_are_fenced_one_by_one(self, store: EventStore) -> None:
        records = chain(3)
        store.fence(5)
        first = store.append("t-1", records[:1])
        store.fence(4)  # older than what the first one carries
        stale = store.append("t-1", records[1:2])
        store.fence(5)  # as great as the greatest: still this home's
        second = store.append("t-1", records[1:2])
        store.fence(9)
        third = store.append("t-1", records[2:])
        results = await asyncio.gather(first, stale, second, third, return_exceptions=True)
        assert results[0] is None
        assert isinstance(results[1], FencedOut)
        assert results[2] is None
        assert results[3] is None
        assert await store.read("t-1") == records
