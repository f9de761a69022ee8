"""The ledger's recovery paths: another writer on the same file, failed commits, reloads."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

import pytest

from crypto import SigningKey
from server.backends import build_backends
from server.domain.access import Role
from server.domain.events import CommandRejected
from server.domain.participants import Registry
from server.domain.spec import TenderSpec
from server.domain.tender import Tender, TenderState
from server.errors import StorageError
from server.service.ledger import Ledger, Origin
from server.service.node import CONSOLE, Node, aggregate_for, load_node_key
from server.service.node_keys import NodeKeys
from server.storage.memory import MemoryEventStore
from server.storage.sqlite import SQLiteEventStore
from tests.conftest import Harness, ManualClock, Person, tender_spec
from tests.server.domain.journeys import key_events
from tests.server.transport.test_ws import open_live, receive, send, until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from pathlib import Path

    from recordings.audit import AuditRecord
    from server.config import Settings

CONSOLE_ORIGIN = Origin.of(CONSOLE)


@pytest.fixture
async def second_node(settings: Settings, clock: ManualClock) -> AsyncIterator[Node]:
    """Another process on the same data directory (and node key), such as the offline CLI."""
    key = await asyncio.to_thread(load_node_key, settings.node_key_path, None)
    node = Node(settings, build_backends(settings, NodeKeys(key)), clock, key)
    await node.start(schedule=False)
    yield node
    await node.close()


async def test_a_participant_enrolled_by_another_process_can_log_in(
    harness: Harness, second_node: Node
) -> None:
    await harness.enroll(Role.HOST)  # the running node has loaded the registry
    key = SigningKey.generate()
    document = {"role": "bidder", "name": "Late", "public_key": key.verify_key.to_text()}
    late = Person(await second_node.participants.enroll(CONSOLE, document), key)
    await harness.login(late)
    assert harness.node.auth.verify(late.token).participant == late.id


async def test_a_command_that_lost_a_race_is_decided_again(
    harness: Harness, second_node: Node
) -> None:
    host = await harness.person(Role.HOST)
    tender_id = await harness.tender(host)
    # The other writer appends to the same tender behind the running node's back.
    await second_node.ledger.load(tender_id)
    await second_node.ledger.emit(
        tender_id, second_node.origin, [CommandRejected("test", "Note", "from elsewhere")]
    )
    published = await harness.post_ok(f"/api/tenders/{tender_id}/publish", {}, host)
    assert published["state"] == "published"
    types = [r.type for r in await harness.node.store.read(tender_id)]
    assert types[:3] == ["tender.created", "command.rejected", "tender.published"]


class FailingStore(MemoryEventStore):
    """Commits fail while `failing` is set, as when the disk is full."""

    failing = False

    def append(self, stream: str, records: Sequence[AuditRecord]) -> asyncio.Future[None]:
        if not self.failing:
            return super().append(stream, records)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_exception(StorageError("disk full"))
        return future


async def test_a_failed_commit_drops_the_cache_and_the_store_stays_the_truth(
    clock: ManualClock,
) -> None:
    store = FailingStore()
    ledger = Ledger(store, clock, aggregate_for)
    tender = cast("Tender", await ledger.load("t-1"))
    spec = TenderSpec.parse(tender_spec(clock.now()))
    await ledger.emit("t-1", CONSOLE_ORIGIN, Tender.create(spec, "p-host"))
    store.failing = True
    key, shares = key_events(spec)
    with pytest.raises(StorageError, match="disk full"):
        await ledger.emit("t-1", CONSOLE_ORIGIN, tender.publish(clock.now(), key, shares))
    assert tender.state is TenderState.PUBLISHED  # the stale object saw the speculative event
    store.failing = False
    reloaded = cast("Tender", await ledger.load("t-1"))
    assert reloaded is not tender
    assert reloaded.state is TenderState.DRAFT  # what the store actually holds
    assert (await ledger.head("t-1")).seq == 1


async def test_concurrent_first_loads_fold_once(clock: ManualClock) -> None:
    store = MemoryEventStore()
    ledger = Ledger(store, clock, aggregate_for)
    first, second = await asyncio.gather(ledger.load("system"), ledger.load("system"))
    assert first is second
    assert isinstance(first, Registry)


async def test_a_failed_load_fails_every_waiter_and_can_be_retried(clock: ManualClock) -> None:
    class Broken(MemoryEventStore):
        broken = True

        async def read(
            self, stream: str, after_seq: int = 0, limit: int = 1000
        ) -> list[AuditRecord]:
            await asyncio.sleep(0)  # let the second load join the first
            if self.broken:
                raise StorageError("unreadable")
            return await super().read(stream, after_seq, limit)

    store = Broken()
    ledger = Ledger(store, clock, aggregate_for)
    results = await asyncio.gather(ledger.load("t-1"), ledger.load("t-1"), return_exceptions=True)
    assert all(isinstance(r, StorageError) for r in results)
    store.broken = False
    assert isinstance(await ledger.load("t-1"), Tender)


async def test_refresh_reloads_when_the_cache_disagrees_with_the_store(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "events.sqlite3"
    sealer = NodeKeys(SigningKey.generate()).records
    mine, theirs = SQLiteEventStore(path, sealer), SQLiteEventStore(path, sealer)
    await mine.start()
    await theirs.start()
    try:
        ledger = Ledger(mine, clock, aggregate_for)
        other = Ledger(theirs, clock, aggregate_for)
        await ledger.load("t-1")
        await other.load("t-1")
        note = [CommandRejected("test", "Note", "x")]
        await other.emit("t-1", CONSOLE_ORIGIN, note)
        # My cache now believes in a different event 1: emit speculatively, then refresh.
        with pytest.raises(StorageError):
            await ledger.emit("t-1", CONSOLE_ORIGIN, [CommandRejected("test", "Mine", "y")])
        await ledger.load("t-1")
        await other.emit("t-1", CONSOLE_ORIGIN, note)
        await ledger.refresh("t-1")
        assert (await ledger.head("t-1")).seq == 2
    finally:
        await mine.close()
        await theirs.close()


async def test_live_subscribers_get_what_another_process_wrote_without_a_gap(
    harness: Harness, second_node: Node
) -> None:
    supervisor = await harness.person(Role.SUPERVISOR)
    ws = await open_live(harness, supervisor)
    await send(ws, type="subscribe", tender="system")
    _, caught_up = await until(ws, "caught_up")
    key = SigningKey.generate()
    document = {"role": "bidder", "name": "Late", "public_key": key.verify_key.to_text()}
    late = Person(await second_node.participants.enroll(CONSOLE, document), key)
    await harness.login(late)  # this node's next write to the log
    seqs = [(await receive(ws))["event"]["seq"] for _ in range(2)]
    assert seqs == [caught_up["seq"] + 1, caught_up["seq"] + 2]
    await ws.close()
