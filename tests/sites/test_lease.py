"""The home lease against a real redis-server: one holder at a time, fencing tokens that only
grow, and a holder that knows when it lost the lease (docs/sites.md section 4).

Leases here live half a second: waiting for one to expire is real time passing, which the
tests keep short and wait on through the thing that happens (a task finishing, an event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import pytest
from redis.utils import get_lib_version

from server.config import Settings
from server.errors import LinkDown
from server.sites.lease import HomeInfo, HomeLease

if TYPE_CHECKING:
    from collections.abc import Iterator

    from redis.asyncio import Redis

    from tests.redis_server import RedisServer

# redis-py reads its version from the package metadata (on disk) at its first connection and
# caches it; read it here, off the event loop. (The redisbus branch does this in
# server/bus/connection.py itself.)
get_lib_version()

TTL = 0.5
# Generous bounds for what should happen within about one TTL.
WITHIN = 10 * TTL


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(
        redis_url=redis_url, bus="redis", lease_ttl_seconds=TTL, redis_timeout_seconds=TTL
    )


class _Said(logging.Handler):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


@contextlib.contextmanager
def said(text: str) -> Iterator[asyncio.Event]:
    """An event set once the lease's logger says `text` (logged on the loop's own thread)."""
    handler = _Said(text)
    lease_logger = logging.getLogger("server.sites.lease")
    lease_logger.addHandler(handler)
    try:
        yield handler.event
    finally:
        lease_logger.removeHandler(handler)


def lease(settings: Settings, name: str) -> HomeLease:
    return HomeLease(settings, f"n-{name}", f"site-{name}", f"https://{name}.example")


async def test_of_two_racing_nodes_one_holds_and_the_other_takes_over_when_it_stops(
    settings: Settings,
) -> None:
    first, second = lease(settings, "a"), lease(settings, "b")
    racing = {asyncio.create_task(first.acquire()), asyncio.create_task(second.acquire())}
    done, waiting = await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
    assert len(done) == 1
    winner_token = done.pop().result()
    holder = await HomeLease.current(settings)
    assert holder is not None
    assert holder.token == winner_token
    # The winner never renews: its lease expires and the waiting node takes it.
    async with asyncio.timeout(WITHIN):
        loser_token = await waiting.pop()
    assert loser_token > winner_token
    now = await HomeLease.current(settings)
    assert now is not None
    assert now.node != holder.node
    assert now.token == loser_token
    await first.release()
    await second.release()


async def test_a_holder_that_renews_keeps_the_lease_and_hands_it_over_on_release(
    settings: Settings,
) -> None:
    holder, standby = lease(settings, "home"), lease(settings, "standby")
    token = await holder.acquire()
    holding = asyncio.create_task(holder.hold())
    waiting = asyncio.create_task(standby.acquire())
    # Four TTLs pass: the holder renewed throughout, the standby never got in.
    done, _ = await asyncio.wait({holding, waiting}, timeout=4 * TTL)
    assert done == set()
    assert await HomeLease.current(settings) == HomeInfo(
        "n-home", "site-home", "https://home.example", token
    )
    await holder.release()
    async with asyncio.timeout(WITHIN):
        await holding  # returns quietly: it gave the lease back, it did not lose it
        assert await waiting > token
    assert not holder.lost.is_set()
    await standby.release()


async def test_fencing_tokens_strictly_increase_and_stay_above_the_stores_floor(
    settings: Settings,
) -> None:
    tokens = []
    for name in ("a", "b", "a", "c"):
        claim = lease(settings, name)
        tokens.append(await claim.acquire())
        await claim.release()
    assert tokens == sorted(set(tokens))
    # Redis lost {c}:fence (it is not the system of record); the store remembers 41.
    claim = lease(settings, "d")
    assert await claim.acquire(floor=41) == 42
    await claim.release()
    claim = lease(settings, "e")
    assert await claim.acquire(floor=3) == 43
    await claim.release()


async def test_a_holder_whose_value_was_replaced_notices_it_lost(
    settings: Settings, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    holder = lease(settings, "home")
    await holder.acquire()
    other = '{"node": "n-other", "site": "x", "url": "", "token": 99}'
    await redis.set("bidroom:home", other)
    async with asyncio.timeout(WITHIN):
        await holder.hold()
    assert holder.lost.is_set()
    assert "another node's value replaced it" in caplog.text
    await holder.release()  # leaves the other node's lease alone
    assert await redis.get("bidroom:home") == other.encode()


async def test_a_holder_cut_off_from_redis_reports_lost_within_a_ttl(
    settings: Settings, redis_server: RedisServer
) -> None:
    holder = lease(settings, "home")
    await holder.acquire()
    holding = asyncio.create_task(holder.hold())
    loop = asyncio.get_running_loop()
    redis_server.stop()
    stopped = loop.time()
    async with asyncio.timeout(WITHIN):
        await holding
    # It renewed at most a TTL before Redis went away, so it gave up at most a TTL after,
    # no later than Redis itself would have let the key go.
    assert holder.lost.is_set()
    assert loop.time() - stopped <= TTL + 0.4
    await holder.release()  # Redis is gone: logged, not raised
    redis_server.start()


async def test_a_holder_gives_up_when_redis_stops_answering(
    settings: Settings, redis_server: RedisServer
) -> None:
    holder = lease(settings, "home")
    await holder.acquire()
    holding = asyncio.create_task(holder.hold())
    assert redis_server.process is not None
    redis_server.process.send_signal(19)  # SIGSTOP: the socket stays open, nothing answers
    try:
        async with asyncio.timeout(WITHIN):
            await holding
    finally:
        redis_server.process.send_signal(18)  # SIGCONT
    assert holder.lost.is_set()
    await holder.release()


async def test_a_standby_waits_through_a_redis_outage_then_takes_the_lease(
    settings: Settings, redis_server: RedisServer
) -> None:
    redis_server.stop()
    standby = lease(settings, "standby")
    with said("still waiting for the home lease") as waiting_said:
        waiting = asyncio.create_task(standby.acquire())
        async with asyncio.timeout(WITHIN):
            await waiting_said.wait()
    assert not waiting.done()
    redis_server.start()
    async with asyncio.timeout(WITHIN):
        assert await waiting >= 1
    await standby.release()


async def test_current_says_who_holds_the_lease_and_none_when_nobody_or_unreadable(
    settings: Settings, redis: Redis
) -> None:
    assert await HomeLease.current(settings) is None
    holder = lease(settings, "home")
    token = await holder.acquire()
    expected = HomeInfo("n-home", "site-home", "https://home.example", token)
    assert await HomeLease.current(settings, redis) == expected
    await holder.release()
    assert await HomeLease.current(settings, redis) is None
    for value in ("not json", "[1]", '{"node": "n", "site": "s", "url": "u"}',
                  '{"node": 1, "site": "s", "url": "u", "token": 1}',
                  '{"node": "n", "site": "s", "url": "u", "token": true}'):  # fmt: skip
        await redis.set("bidroom:home", value)
        assert await HomeLease.current(settings, redis) is None


async def test_current_raises_link_down_when_redis_is_unreachable(
    settings: Settings, redis_server: RedisServer
) -> None:
    redis_server.stop()
    with pytest.raises(LinkDown):
        await HomeLease.current(settings)
    redis_server.start()


async def test_a_lease_given_back_while_redis_is_down_is_logged_and_left_to_expire(
    settings: Settings, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    claim = lease(settings, "a")
    await claim.acquire()
    redis_server.stop()
    await claim.release()
    assert "it expires on its own" in caplog.text
    redis_server.start()


async def test_hold_needs_the_lease_first(settings: Settings) -> None:
    claim = lease(settings, "a")
    with pytest.raises(RuntimeError, match="acquire"):
        await claim.hold()
    await claim.release()


async def test_the_lease_log_never_names_more_than_its_token(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    claim = lease(settings, "a")
    token = await claim.acquire()
    await claim.release()
    assert f"fencing token {token}" in caplog.text
    assert "redis://" not in caplog.text
