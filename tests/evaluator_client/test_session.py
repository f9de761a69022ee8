"""The client library against a real node: login, renewal, errors, and the resuming feed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from crypto import SigningKey
from evaluator_client.errors import ApiError, FeedClosed
from evaluator_client.live import LiveFeed
from evaluator_client.session import Session
from server.app import create_app
from server.domain.access import Role
from server.protocol import CaughtUp, CloseCode, Event
from server.service.node import CONSOLE
from server.transport.app_keys import node_key
from tests.conftest import ManualClock, free_port

if TYPE_CHECKING:
    from server.config import Settings
    from tests.conftest import Harness


async def drain(feed: LiveFeed) -> None:
    async with asyncio.timeout(10):
        async for _ in feed:
            pass


def base_url(harness: Harness) -> str:
    return str(harness.client.make_url("")).rstrip("/")


async def test_login_and_calls(harness: Harness) -> None:
    host = await harness.enroll(Role.HOST)
    async with await Session.login(
        base_url(harness), host.id, host.key, clock=harness.clock.now
    ) as session:
        assert session.role == "host"
        tenders = await session.get("/api/tenders")
        assert tenders == {"tenders": []}
        with pytest.raises(ApiError) as caught:
            await session.post("/api/tenders", {"title": ""})
        assert (caught.value.status, caught.value.code) == (400, "invalid_request")
        assert caught.value.problems


async def test_a_failed_login_raises_and_closes(harness: Harness) -> None:
    host = await harness.enroll(Role.HOST)
    other = await harness.enroll(Role.HOST)
    with pytest.raises(ApiError) as caught:
        await Session.login(base_url(harness), host.id, other.key, clock=harness.clock.now)
    assert caught.value.status == 401


async def test_the_token_is_renewed_before_it_expires(harness: Harness) -> None:
    host = await harness.enroll(Role.HOST)
    async with await Session.login(
        base_url(harness), host.id, host.key, clock=harness.clock.now
    ) as session:
        first = await session.token()
        session._expires_at = session._expires_at.replace(year=2000)  # as if it were old
        assert await session.token() != first


async def test_the_feed_resumes_after_a_drop_without_repeats(harness: Harness) -> None:
    supervisor = await harness.enroll(Role.SUPERVISOR)
    session = await Session.login(
        base_url(harness), supervisor.id, supervisor.key, clock=harness.clock.now
    )
    feed = LiveFeed(session.live_url, session.token, retry_delay=0)
    seqs: list[int] = []
    async with feed:
        await feed.subscribe("system")
        async for message in feed:
            if isinstance(message, Event):
                seqs.append(message.seq)
            if isinstance(message, CaughtUp) and feed.reconnects == 0:
                assert feed._ws is not None
                feed._ws.transport.abort()  # the network drops the connection
                await harness.enroll(Role.BIDDER)  # and the log moves on meanwhile
            elif isinstance(message, CaughtUp):
                break
    await session.close()
    assert feed.reconnects == 1
    assert feed.close_codes == [1006]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) == 3  # enrolment and login, then the enrolment made while it was away


async def test_a_refused_feed_raises(harness: Harness) -> None:
    async def bad_token() -> str:
        return "v1.not.valid"

    with pytest.raises(FeedClosed):
        await LiveFeed(harness.ws_url, bad_token).connect()


async def test_without_resume_a_drop_ends_the_feed(harness: Harness) -> None:
    bidder = await harness.enroll(Role.BIDDER)
    session = await Session.login(base_url(harness), bidder.id, bidder.key, clock=harness.clock.now)
    feed = LiveFeed(session.live_url, session.token, resume=False)
    await feed.connect()
    assert feed.welcome is not None
    assert feed._ws is not None
    feed._ws.transport.abort()
    with pytest.raises(FeedClosed) as caught:
        await drain(feed)
    assert caught.value.code == 1006
    await feed.close()
    await session.close()


class WatchedFeed(LiveFeed):
    """A feed that tells the test when a connection attempt has failed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused = asyncio.Event()

    async def connect(self) -> None:
        try:
            await super().connect()
        except OSError:
            self.refused.set()
            raise


async def test_the_feed_resumes_across_a_node_restart(
    settings: Settings, clock: ManualClock
) -> None:
    port = free_port()

    async def start() -> web.AppRunner:
        runner = web.AppRunner(create_app(settings, clock=clock, schedule=False), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    runner = await start()
    key = SigningKey.generate()
    document = {"role": "supervisor", "name": "S", "public_key": key.verify_key.to_text()}
    supervisor = await runner.app[node_key].participants.enroll(CONSOLE, document)
    session = await Session.login(f"http://127.0.0.1:{port}", supervisor.id, key, clock=clock.now)
    feed = WatchedFeed(session.live_url, session.token, retry_delay=0.01)
    live = asyncio.Event()

    async def follow() -> list[int]:
        seqs = []
        async for message in feed:
            if isinstance(message, Event):
                seqs.append(message.seq)
            elif isinstance(message, CaughtUp) and feed.reconnects == 0:
                live.set()
            elif isinstance(message, CaughtUp):
                return seqs
        return seqs

    async with feed:
        await feed.subscribe("system")
        following = asyncio.create_task(follow())
        async with asyncio.timeout(30):
            await live.wait()
            await runner.cleanup()  # the node goes down (1001) ...
            await feed.refused.wait()  # ... and the feed finds nobody there ...
            runner = await start()  # ... until it comes back on the same data directory
            bidder = {
                "role": "bidder",
                "name": "B",
                "public_key": SigningKey.generate().verify_key.to_text(),
            }
            await runner.app[node_key].participants.enroll(CONSOLE, bidder)
            seqs = await following
    await session.close()
    await runner.cleanup()
    assert feed.close_codes == [CloseCode.GOING_AWAY]
    assert seqs == [1, 2, 3]  # enrolment and login, then the enrolment after the restart
