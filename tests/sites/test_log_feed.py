"""The edge's reading side of the published log, over a real redis-server."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from server.bus.feed import Entry, LogFeed
from server.bus.redis import RedisBus
from server.errors import LinkDown
from tests.recordings.test_audit import chain
from tests.sites.test_redis_bus import WAIT_SECONDS, site_settings, wait

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from redis.asyncio import Redis

    from server.config import Settings
    from tests.redis_server import RedisServer

# Short blocks keep the tests that wait for nothing short.
BLOCK_SECONDS = 0.2


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    return site_settings(tmp_path, redis_url)


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[RedisBus]:
    bus = RedisBus(settings)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


@pytest.fixture
async def feed(settings: Settings) -> AsyncIterator[LogFeed]:
    feed = LogFeed(settings, block_seconds=BLOCK_SECONDS)
    try:
        yield feed
    finally:
        await feed.close()


async def read_until(feed: LogFeed, count: int) -> list[Entry]:
    """Read until `count` entries came (bounded)."""
    entries: list[Entry] = []
    async with asyncio.timeout(WAIT_SECONDS):
        while len(entries) < count:
            entries += await feed.read()
    return entries


async def test_what_the_home_publishes_the_edge_reads_by_seq(bus: RedisBus, feed: LogFeed) -> None:
    records = chain(5, "t-1")
    bus.publish("t-1", records[:2])
    bus.publish("t-1", records[2:])
    entries = await read_until(feed, 5)
    epoch = await feed.epoch("t-1")
    assert epoch is not None
    assert entries == [Entry("t-1", r.seq, epoch, r) for r in records]
    assert feed.position("t-1") == 5


async def test_entries_come_in_order_within_each_stream(bus: RedisBus, feed: LogFeed) -> None:
    streams = {f"t-{i}": chain(40, f"t-{i}") for i in range(4)}
    for start in range(0, 40, 5):
        for stream, records in streams.items():
            bus.publish(stream, records[start : start + 5])
    entries = await read_until(feed, 160)
    for stream, records in streams.items():
        assert [e.record for e in entries if e.stream == stream] == records


async def test_a_stream_announced_later_is_read_from_its_start(
    bus: RedisBus, feed: LogFeed
) -> None:
    bus.publish("t-1", chain(1, "t-1"))
    assert [e.seq for e in await read_until(feed, 1)] == [1]
    assert await feed.read() == []  # nothing new
    bus.publish("t-2", chain(3, "t-2"))
    entries = await read_until(feed, 3)
    assert [(e.stream, e.seq) for e in entries] == [("t-2", 1), ("t-2", 2), ("t-2", 3)]


async def test_the_caller_sets_where_a_stream_is_read_from(bus: RedisBus, feed: LogFeed) -> None:
    records = chain(6, "t-1")
    bus.publish("t-1", records)
    await wait(bus, lambda s: s.published == 6)
    feed.watch("t-1", 4)
    assert [e.seq for e in await read_until(feed, 2)] == [5, 6]
    feed.watch("t-1", 2)  # back: read again from 3
    assert [e.seq for e in await read_until(feed, 4)] == [3, 4, 5, 6]
    assert feed.position("t-2") is None


async def test_a_position_moved_during_a_read_is_kept(
    bus: RedisBus, settings: Settings, redis: Redis
) -> None:
    feed = LogFeed(settings, block_seconds=WAIT_SECONDS)
    try:
        records = chain(3, "t-1")
        bus.publish("t-1", records[:1])
        assert [e.seq for e in await read_until(feed, 1)] == [1]
        reading = asyncio.create_task(feed.read())
        await blocked_readers(redis, 1)
        feed.watch("t-1", 0)  # the caller moves back while the read waits
        bus.publish("t-1", records[1:])
        # What came from the old position is not taken: the read goes on from the new one.
        assert [e.seq for e in await reading] == [1, 2, 3]
    finally:
        await feed.close()


async def blocked_readers(redis: Redis, count: int) -> None:
    # Another process: whether a client blocks in it is observable only by asking it.
    async with asyncio.timeout(WAIT_SECONDS):
        while (await redis.info("clients"))["blocked_clients"] != count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_read_with_nothing_to_read_returns_empty_in_bounded_time(
    feed: LogFeed,
) -> None:
    feed.watch("t-1", 0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(WAIT_SECONDS):
        assert await feed.read() == []
    assert loop.time() - started >= BLOCK_SECONDS * 0.9


async def test_the_feed_says_the_link_is_down_and_recovers(
    bus: RedisBus, feed: LogFeed, redis_server: RedisServer
) -> None:
    records = chain(4, "t-1")
    bus.publish("t-1", records[:2])
    first = await read_until(feed, 2)
    redis_server.stop()
    with pytest.raises(LinkDown):
        await feed.read()
    with pytest.raises(LinkDown):
        await feed.epoch("t-1")
    redis_server.start()  # empty: the stream starts over under a new epoch
    bus.publish("t-1", records[2:])
    entries = await read_until(feed, 2)
    assert [e.seq for e in entries] == [3, 4]
    assert entries[0].epoch != first[0].epoch
    assert entries[0].epoch == await feed.epoch("t-1")


async def test_a_stream_without_an_epoch_has_none(feed: LogFeed) -> None:
    assert await feed.epoch("t-9") is None


async def test_a_malformed_entry_is_skipped_and_passed_over(
    feed: LogFeed, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    records = chain(4, "t-1")
    feed.watch("t-1", 0)

    async def put(seq: int, fields: dict[Any, Any]) -> None:
        await redis.xadd("bidroom:log:t-1", fields, id=f"{seq}-0")

    good = records[0]
    await put(1, {"e": "x", "b": good.body, "h": good.hash})
    await put(2, {"e": "x", "b": "not a record", "h": records[1].hash})
    await put(3, {"e": "x", "h": records[2].hash})  # no body
    await put(4, {"e": "x", "b": good.body, "h": good.hash})  # record 1 under seq 4
    await put(5, {"e": "x", "b": records[3].body, "h": records[3].hash})  # seq 4 under 5
    entries = await read_until(feed, 1)
    assert [e.seq for e in entries] == [1]
    assert feed.position("t-1") == 5
    assert "Skipped a malformed entry 2 of stream t-1" in caplog.text
    assert "not a record" not in caplog.text


async def test_an_announcement_that_names_no_stream_is_ignored(feed: LogFeed, redis: Redis) -> None:
    await redis.xadd("bidroom:streams", {"s": "Not A Stream!"})
    await redis.xadd("bidroom:streams", {"x": "t-1"})
    assert await feed.read() == []
    assert feed.position("Not A Stream!") is None


def test_a_feed_needs_a_redis(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no redis_url"):
        LogFeed(replace(site_settings(tmp_path, "redis://x"), redis_url=None))


async def test_the_feed_reads_the_same_over_resp3(
    bus: RedisBus, tmp_path: Path, redis_url: str
) -> None:
    feed = LogFeed(site_settings(tmp_path, redis_url + "?protocol=3"), block_seconds=BLOCK_SECONDS)
    try:
        records = chain(3, "t-1")
        bus.publish("t-1", records)
        entries = await read_until(feed, 3)
        assert [e.record for e in entries] == records
        assert entries[0].epoch == await feed.epoch("t-1")
    finally:
        await feed.close()
