"""Presence entries in a real redis-server: entering, leaving, expiry, every site's view
(docs/sites.md section 8)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from redis.utils import get_lib_version

from server.config import Settings
from server.errors import LinkDown
from server.service.presence import PresenceEntry
from server.sites.presence import Presence

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tests.redis_server import RedisServer

# redis-py reads its version from the package metadata (on disk) at its first connection and
# caches it; read it here, off the event loop.
get_lib_version()

TTL = 0.3
WAIT = 5.0
SINCE = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(
        redis_url=redis_url, bus="redis", presence_ttl_seconds=TTL, redis_timeout_seconds=0.5
    )


def entry(participant: str, site: str = "main", tender: str | None = "t-1") -> PresenceEntry:
    return PresenceEntry(participant, "expert", site, f"n-{site}", tender, "ws-1", SINCE)


async def wait_until_online(presence: Presence, expected: list[PresenceEntry]) -> None:
    # Redis is another process: its state is polled, briefly, within a bound.
    async with asyncio.timeout(WAIT):
        while await presence.online() != expected:  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.02)


async def test_supervisors_see_who_is_online_at_every_site(settings: Settings) -> None:
    main, second = Presence(settings, "n-main", "main"), Presence(settings, "n-b", "b")
    await main.enter("p-1", entry("p-1"))
    await second.enter("p-2", entry("p-2", site="b", tender=None))
    assert await main.online() == [entry("p-2", site="b", tender=None), entry("p-1")]
    await second.leave("p-2")
    assert await main.online() == [entry("p-1")]
    await main.close()
    await second.close()


async def test_a_participant_with_two_connections_stays_until_both_left(
    settings: Settings,
) -> None:
    presence = Presence(settings, "n-main", "main")
    await presence.enter("p-1", entry("p-1"))
    await presence.enter("p-1", entry("p-1"))
    await presence.leave("p-1")
    assert await presence.online() == [entry("p-1")]
    await presence.leave("p-1")
    assert await presence.online() == []
    await presence.leave("p-1")  # leaving again changes nothing
    await presence.close()


async def test_an_entry_nobody_refreshes_expires_after_its_ttl(settings: Settings) -> None:
    presence = Presence(settings, "n-main", "main")  # not started: nothing refreshes
    await presence.enter("p-1", entry("p-1"))
    await wait_until_online(presence, [])
    await presence.close()


async def test_a_refreshed_entry_outlives_its_ttl_and_close_removes_it(
    settings: Settings, redis: Redis
) -> None:
    presence = Presence(settings, "n-main", "main")
    await presence.start()
    await presence.start()  # once is enough
    await presence.enter("p-1", entry("p-1"))
    loop = asyncio.get_running_loop()
    until = loop.time() + 3 * TTL
    async with asyncio.timeout(WAIT):
        while loop.time() < until:  # three TTLs pass, refreshed throughout
            assert await presence.online() == [entry("p-1")]
            await asyncio.sleep(TTL / 10)
    await presence.close()
    assert await redis.keys("bidroom:presence:*") == []


async def test_presence_survives_a_redis_outage(
    settings: Settings, redis_server: RedisServer
) -> None:
    presence = Presence(settings, "n-main", "main")
    await presence.start()
    redis_server.stop()
    await presence.enter("p-1", entry("p-1"))  # logged, not raised: no connection is closed
    await presence.enter("p-2", entry("p-2"))
    await presence.leave("p-2")
    with pytest.raises(LinkDown):
        await presence.online()
    redis_server.start()
    await wait_until_online(presence, [entry("p-1")])  # the refresher wrote it back
    redis_server.stop()
    await presence.close()  # logged, not raised
    redis_server.start()


async def test_unreadable_entries_are_skipped(settings: Settings, redis: Redis) -> None:
    presence = Presence(settings, "n-main", "main")
    await presence.enter("p-1", entry("p-1"))
    await redis.set("bidroom:presence:main:p-2", "not json")
    assert await presence.online() == [entry("p-1")]
    await presence.close()


def test_an_entry_round_trips_through_json() -> None:
    original = entry("p-1")
    assert PresenceEntry.from_json(original.to_json()) == original
    assert PresenceEntry.from_json(entry("p-2", tender=None).to_json()).tender is None


@pytest.mark.parametrize(
    "change",
    [{"extra": 1}, {"role": 3}, {"tender": 3}, {"since": 5}, {"since": "yesterday"}],
)
def test_entries_that_are_not_entries_are_refused(change: dict[str, object]) -> None:
    document = {**entry("p-1").to_json(), **change}
    with pytest.raises(ValueError, match=r"presence entry|RFC 3339"):
        PresenceEntry.from_json(document)
    with pytest.raises(ValueError, match="presence entry"):
        PresenceEntry.from_json([1])
