"""The home's bus over a real redis-server: local delivery, and the log published in order."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import pytest
from redis.asyncio import Redis

from crypto import SigningKey
from server.backends import build_backends
from server.bus.redis import BATCH_LIMIT, BusState, RedisBus
from server.config import Settings
from server.service.node_keys import NodeKeys
from tests.recordings.test_audit import chain

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence
    from pathlib import Path

    from recordings.audit import AuditRecord
    from tests.redis_server import RedisServer

WAIT_SECONDS = 10.0


def site_settings(tmp_path: Path, redis_url: str) -> Settings:
    # A short Redis timeout, so that the tests that take Redis away don't wait long.
    return Settings(
        data_dir=tmp_path / "node", port=0, bus="redis", redis_url=redis_url,
        redis_timeout_seconds=0.5,
    )  # fmt: skip


@pytest.fixture
async def bus(tmp_path: Path, redis_url: str) -> AsyncIterator[RedisBus]:
    bus = RedisBus(site_settings(tmp_path, redis_url))
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


async def wait(bus: RedisBus, condition: Callable[[BusState], bool]) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        await bus.wait_until(condition)


async def log_of(redis: Redis, stream: str) -> list[tuple[str, dict[bytes, bytes]]]:
    entries: Any = await redis.xrange(f"bidroom:log:{stream}")
    return [(i.decode(), f) for i, f in entries]


async def announced(redis: Redis) -> list[bytes]:
    entries: Any = await redis.xrange("bidroom:streams")
    return [fields[b"s"] for _, fields in entries]


async def test_each_commit_becomes_an_entry_whose_id_is_its_seq(
    bus: RedisBus, redis: Redis
) -> None:
    records = chain(3, "t-1")
    bus.publish("t-1", records)
    await wait(bus, lambda s: s.published == 3 and s.waiting == 0)
    entries = await log_of(redis, "t-1")
    epoch = await redis.get("bidroom:epoch:t-1")
    assert isinstance(epoch, bytes)
    assert len(epoch) == 32
    assert bus.epochs == {"t-1": epoch.decode()}
    assert entries == [
        (f"{r.seq}-0", {b"e": epoch, b"b": r.body.encode(), b"h": r.hash.encode()}) for r in records
    ]
    assert await announced(redis) == [b"t-1"]
    assert bus.connected
    assert bus.state == BusState(
        connected=True, published=3, skipped=0, dropped=0, waiting=0, failures=0
    )


async def test_a_stream_is_announced_once_and_keeps_its_epoch(bus: RedisBus, redis: Redis) -> None:
    records = chain(4, "t-1")
    bus.publish("t-1", records[:2])
    await wait(bus, lambda s: s.published == 2)
    first = await redis.get("bidroom:epoch:t-1")
    bus.publish("t-1", records[2:])
    await wait(bus, lambda s: s.published == 4)
    assert await redis.get("bidroom:epoch:t-1") == first
    assert await announced(redis) == [b"t-1"]
    assert {f[b"e"] for _, f in await log_of(redis, "t-1")} == {first}


async def test_local_handlers_get_the_records_at_once(bus: RedisBus) -> None:
    heard: list[tuple[str, Sequence[AuditRecord]]] = []
    subscription = bus.subscribe("t-1", lambda stream, records: heard.append((stream, records)))
    records = chain(2, "t-1")
    bus.publish("t-1", records)
    assert heard == [("t-1", records)]  # synchronously, before the writer ran
    bus.publish("t-2", chain(1, "t-2"))
    subscription.close()
    bus.publish("t-1", chain(3, "t-1")[2:])
    assert heard == [("t-1", records)]


async def test_local_handlers_do_not_wait_for_redis(
    tmp_path: Path, redis_server: RedisServer, redis_url: str
) -> None:
    redis_server.stop()
    bus = RedisBus(site_settings(tmp_path, redis_url))
    await bus.start()
    try:
        heard: list[int] = []
        bus.subscribe("t-1", lambda _, records: heard.extend(r.seq for r in records))
        bus.publish("t-1", chain(2, "t-1"))
        assert heard == [1, 2]
        await wait(bus, lambda s: not s.connected and s.waiting == 2)
    finally:
        await bus.close()


async def test_order_holds_over_many_streams_and_batches(bus: RedisBus, redis: Redis) -> None:
    streams = {f"t-{i}": chain(BATCH_LIMIT // 2 + 7, f"t-{i}") for i in range(5)}
    total = sum(len(records) for records in streams.values())
    # Interleaved small commits, as a busy home makes them: several batches' worth.
    for start in range(0, BATCH_LIMIT, 3):
        for stream, records in streams.items():
            if part := records[start : start + 3]:
                bus.publish(stream, part)
    await wait(bus, lambda s: s.published == total and s.waiting == 0)
    for stream, records in streams.items():
        assert [i for i, _ in await log_of(redis, stream)] == [f"{r.seq}-0" for r in records]
    assert sorted(await announced(redis)) == sorted(s.encode() for s in streams)


async def test_an_entry_already_in_redis_is_skipped(bus: RedisBus, redis: Redis) -> None:
    records = chain(4, "t-1")
    bus.publish("t-1", records[:3])
    await wait(bus, lambda s: s.published == 3)
    bus.publish("t-1", records[1:])  # 2 and 3 again, as after a lost reply
    await wait(bus, lambda s: s.waiting == 0 and s.published == 4)
    assert bus.state.skipped == 2
    assert [i for i, _ in await log_of(redis, "t-1")] == ["1-0", "2-0", "3-0", "4-0"]


async def test_an_entry_redis_refuses_otherwise_is_skipped_and_logged(
    bus: RedisBus, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await redis.set("bidroom:log:t-1", "not a stream")
    bus.publish("t-1", chain(1, "t-1"))
    bus.publish("t-2", chain(1, "t-2"))
    await wait(bus, lambda s: s.waiting == 0 and s.published == 1)
    assert bus.state.skipped == 1
    assert "Redis refused 1 entries of stream t-1" in caplog.text


async def test_a_batch_redis_refuses_is_sent_again_until_it_takes_it(
    bus: RedisBus, redis: Redis
) -> None:
    # The announcements key holds a string: the script fails as a whole, every time.
    await redis.set("bidroom:streams", "in the way")
    bus.publish("t-1", chain(2, "t-1"))
    await wait(bus, lambda s: not s.connected)
    assert bus.state.waiting == 2
    await redis.delete("bidroom:streams", "bidroom:epoch:t-1")
    await wait(bus, lambda s: s.connected and s.published == 2)
    assert [i for i, _ in await log_of(redis, "t-1")] == ["1-0", "2-0"]


async def test_publications_wait_in_order_while_redis_is_down_under_a_new_epoch(
    bus: RedisBus, redis: Redis, redis_server: RedisServer
) -> None:
    records = chain(30, "t-1")
    bus.publish("t-1", records[:10])
    await wait(bus, lambda s: s.published == 10)
    old = await redis.get("bidroom:epoch:t-1")
    redis_server.stop()
    for start in range(10, 30, 4):
        bus.publish("t-1", records[start : start + 4])
    await wait(bus, lambda s: not s.connected and s.waiting == 20)
    redis_server.start()  # empty: what it held is gone
    await wait(bus, lambda s: s.connected and s.waiting == 0)
    assert bus.state.published == 30
    entries = await log_of(redis, "t-1")
    assert [i for i, _ in entries] == [f"{seq}-0" for seq in range(11, 31)]
    new = await redis.get("bidroom:epoch:t-1")
    assert new is not None
    assert new != old
    assert {f[b"e"] for _, f in entries} == {new}
    assert await announced(redis) == [b"t-1"]


async def test_past_the_limit_the_oldest_records_are_dropped_and_said_so(
    tmp_path: Path, redis_server: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    bus = RedisBus(site_settings(tmp_path, redis_url), queue_limit=10)
    redis = Redis.from_url(redis_url)
    await bus.start()
    try:
        await wait(bus, lambda s: s.connected)
        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="server.bus.redis"):
            records = chain(25, "t-1")
            bus.publish("t-1", records[:20])
            await wait(bus, lambda s: s.failures >= 2)  # tried again, and again
            bus.publish("t-1", records[20:])
            assert bus.state.dropped == 15
            assert bus.state.waiting == 10
            redis_server.start()
            await wait(bus, lambda s: s.connected and s.waiting == 0)
        assert [i for i, _ in await log_of(redis, "t-1")] == [f"{n}-0" for n in range(16, 26)]
        messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        dropping = "More than 10 records wait for Redis: dropping the oldest (10 so far)"
        assert dropping in messages[0]
        assert "15 records were dropped while Redis was away" in messages
        assert sum("More than" in message for message in messages) == 1  # once per episode
        assert sum("does not answer" in message for message in messages) == 1
        assert all("开标" not in message for message in messages)  # counts, never contents
    finally:
        await bus.close()
        await redis.aclose()


async def test_closing_sends_what_waits_first(tmp_path: Path, redis_url: str) -> None:
    bus = RedisBus(site_settings(tmp_path, redis_url))
    redis = Redis.from_url(redis_url)
    await bus.start()
    try:
        await wait(bus, lambda s: s.connected)
        bus.publish("t-1", chain(3, "t-1"))
        await bus.close()
        assert len(await log_of(redis, "t-1")) == 3
    finally:
        await redis.aclose()


async def test_closing_without_redis_says_what_was_not_published(
    tmp_path: Path, redis_server: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server.stop()
    bus = RedisBus(site_settings(tmp_path, redis_url))
    await bus.start()
    bus.publish("t-1", chain(3, "t-1"))
    await wait(bus, lambda s: not s.connected)
    await bus.close()
    assert "Closing with 3 records not published to Redis" in caplog.text


def test_the_settings_choose_the_redis_bus(tmp_path: Path) -> None:
    settings = site_settings(tmp_path, "redis://127.0.0.1:1/0")
    backends = build_backends(settings, NodeKeys(SigningKey.generate()))
    assert isinstance(backends.bus, RedisBus)
    assert not backends.bus.connected  # built, not started: no connection yet


async def test_a_bus_never_started_closes_quietly(tmp_path: Path) -> None:
    bus = RedisBus(site_settings(tmp_path, "redis://127.0.0.1:1/0"))
    await bus.close()
    assert bus.state.waiting == 0


class FaultyBus(RedisBus):
    """Fails once reading Redis's answer, as a fault of our own would."""

    faults = 1

    def _count(self, stream: str, reply: list[Any]) -> None:
        if self.faults:
            self.faults -= 1
            raise ValueError("a fault of ours")
        super()._count(stream, reply)


async def test_a_fault_of_the_writer_is_logged_whole_and_survived(
    tmp_path: Path, redis_url: str, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    bus = FaultyBus(site_settings(tmp_path, redis_url))
    await bus.start()
    try:
        bus.publish("t-1", chain(3, "t-1"))
        await wait(bus, lambda s: s.connected and s.waiting == 0)
        # Sent again after the fault: Redis had them already.
        assert bus.state.skipped == 3
        assert [i for i, _ in await log_of(redis, "t-1")] == ["1-0", "2-0", "3-0"]
        assert "ValueError: a fault of ours" in caplog.text
    finally:
        await bus.close()
