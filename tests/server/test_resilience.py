"""The node keeps its promises when the store misbehaves: scheduling goes on, views wait."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, cast

from server.app import create_app
from server.domain.access import Role
from server.errors import StorageError
from server.protocol.times import format_time
from server.service import scheduler as scheduler_module
from server.storage.memory import MemoryEventStore
from tests.conftest import AiohttpClient, Harness, ManualClock, tender_spec

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pytest

    from recordings.audit import AuditRecord
    from server.config import Settings
    from server.domain.tender import Tender


class FlakyStreams(MemoryEventStore):
    """Listing the streams fails `failures` times, as an unreadable database would."""

    failures = 0

    async def streams(self) -> list[str]:
        if self.failures:
            self.failures -= 1
            raise StorageError("database is locked")
        return await super().streams()


class HeldCommits(MemoryEventStore):
    """Appends wait for the test to let them commit, or to fail them."""

    hold = False

    def __init__(self) -> None:
        super().__init__()
        self.waiting: list[tuple[str, list[AuditRecord], asyncio.Future[None]]] = []
        self.queued = asyncio.Event()

    def append(self, stream: str, records: Sequence[AuditRecord]) -> asyncio.Future[None]:
        if not self.hold:
            return super().append(stream, records)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append((stream, list(records), future))
        self.queued.set()
        return future

    def fail_all(self) -> None:
        for _, _, future in self.waiting:
            future.set_exception(StorageError("disk full"))
        self.waiting.clear()


async def harness_on(
    store: MemoryEventStore,
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: ManualClock,
    *,
    schedule: bool = False,
) -> Harness:
    app = create_app(settings, store=store, clock=clock, schedule=schedule)
    return Harness(await aiohttp_client(app), clock)


async def test_the_schedule_survives_a_failing_store(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scheduler_module, "RETRY_SECONDS", 0.01)
    store = FlakyStreams()
    harness = await harness_on(store, aiohttp_client, settings, clock, schedule=True)
    host = await harness.person(Role.HOST)
    schedule = tender_spec(clock.now())["schedule"]
    schedule["bidding_opens_at"] = format_time(clock.now() - timedelta(seconds=1))
    tender_id = await harness.tender(host, schedule=schedule)
    opened: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def listen(stream: str, records: Sequence[AuditRecord]) -> None:
        if not opened.done() and any(r.type == "tender.bidding_opened" for r in records):
            opened.set_result(stream)

    store.add_listener(listen)
    store.failures = 3
    await harness.post_ok(f"/api/tenders/{tender_id}/publish", {}, host)  # wakes the schedule
    async with asyncio.timeout(10):
        assert await opened == tender_id
    assert store.failures == 0


async def test_a_tender_dropped_from_the_cache_is_still_scheduled(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    tender_id = await harness.tender(host)
    await harness.post_ok(f"/api/tenders/{tender_id}/publish", {}, host)
    harness.node.ledger.forget(tender_id)  # as after a failed commit
    harness.clock.advance(3600)
    assert await harness.node.scheduler.tick() == 1


async def test_nobody_sees_a_publication_whose_commit_then_fails(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    store = HeldCommits()
    harness = await harness_on(store, aiohttp_client, settings, clock)
    host, bidder = await harness.person(Role.HOST), await harness.person(Role.BIDDER)
    tender_id = await harness.tender(host)
    store.hold = True
    publishing = asyncio.create_task(
        harness.call("POST", f"/api/tenders/{tender_id}/publish", host)
    )
    async with asyncio.timeout(10):
        await store.queued.wait()  # the publication is decided, queued, not committed
    tender = cast("Tender", await harness.node.ledger.load(tender_id))
    assert tender.published  # the command's speculative state...
    looking = asyncio.create_task(harness.call("GET", f"/api/tenders/{tender_id}", bidder))
    finished, _ = await asyncio.wait([looking], timeout=1.0)
    assert not finished  # ...which the view does not show: it waits for the commit
    store.hold = False
    store.fail_all()
    assert (await publishing)[0] == 500
    assert (await looking)[0] == 404  # the bidder never saw the draft
