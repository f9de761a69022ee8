"""Requests from an edge to the home and their replies over a real redis-server
(docs/sites.md section 5): round trips, matching by id, deadlines, refusals and failures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from redis.utils import get_lib_version

from server.config import Settings
from server.errors import HomeUnavailable, LinkDown, PayloadTooLarge
from server.protocol.times import format_time
from server.sites import channel
from server.sites.channel import CommandClient, CommandServer, Reply

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from redis.asyncio import Redis

    from tests.redis_server import RedisServer

# redis-py reads its version from the package metadata (on disk) at its first connection and
# caches it; read it here, off the event loop. (The redisbus branch does this in
# server/bus/connection.py itself.)
get_lib_version()

HOME = "n-home"
EDGE = "n-edge"
WAIT = 5.0  # bounds what should happen at once


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(redis_url=redis_url, bus="redis", redis_timeout_seconds=0.5)


async def echo(kind: str, payload: object) -> Reply:
    return Reply(ok=True, payload={"kind": kind, "echo": payload}, heads={"t-1": 3})


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, handler: Callable[[str, object], Awaitable[Reply]] = echo
) -> AsyncIterator[CommandServer]:
    server = CommandServer(settings, HOME)
    task = asyncio.create_task(server.serve(handler))
    try:
        async with asyncio.timeout(WAIT):
            await server.ready.wait()
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def client_of(settings: Settings, node_id: str = EDGE) -> AsyncIterator[CommandClient]:
    client = CommandClient(settings, node_id)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def raw_request(redis: Redis, **fields: str) -> str:
    """A request written by hand, as a test's own edge `n-raw`; its id."""
    request_id = fields.pop("id", secrets.token_hex(16))
    deadline = format_time(datetime.now(UTC) + timedelta(seconds=WAIT))
    entry = {"id": request_id, "from": "n-raw", "kind": "command", "deadline": deadline,
             "p": "{}", **fields}  # fmt: skip
    await redis.xadd(f"bidroom:cmd:{HOME}", entry)  # type: ignore[arg-type]
    return request_id


async def raw_reply(redis: Redis) -> dict[str, Any]:
    """The next reply to `n-raw`, decoded."""
    async with asyncio.timeout(WAIT):
        answer: Any = await redis.xread({"bidroom:reply:n-raw": "0-0"}, count=1, block=0)
    fields = answer[0][1][0][1]
    return {name.decode(): value.decode() for name, value in fields.items()}


async def test_a_request_comes_back_with_the_homes_reply(settings: Settings) -> None:
    async with serving(settings), client_of(settings) as client:
        reply = await client.request(HOME, "follow", {"stream": "t-1", "n": 1.5}, WAIT)
    assert reply == Reply(
        ok=True,
        payload={"kind": "follow", "echo": {"stream": "t-1", "n": 1.5}},
        heads={"t-1": 3},
    )


async def test_concurrent_requests_get_their_own_replies_whatever_the_order(
    settings: Settings,
) -> None:
    gates = {n: asyncio.Event() for n in range(5)}
    started: list[int] = []

    async def slow(kind: str, payload: Any) -> Reply:
        started.append(payload["n"])
        if len(started) == len(gates):
            for n in sorted(gates, reverse=True):  # answer the last first
                gates[n].set()
        await gates[payload["n"]].wait()
        return Reply(ok=True, payload=payload["n"] * 10)

    async with serving(settings, slow), client_of(settings) as client:
        replies = await asyncio.gather(
            *(client.request(HOME, "command", {"n": n}, WAIT) for n in gates)
        )
    assert [reply.payload for reply in replies] == [0, 10, 20, 30, 40]


async def test_no_answer_in_time_means_the_home_is_unavailable(settings: Settings) -> None:
    async with client_of(settings) as client:
        with pytest.raises(HomeUnavailable):
            await client.request("n-nobody", "command", {}, 0.2)


async def test_a_refusal_comes_back_as_it_was_given(settings: Settings) -> None:
    async def refuse(kind: str, payload: object) -> Reply:
        return Reply(ok=False, payload={"status": 409, "error": {"code": "conflict"}})

    async with serving(settings, refuse), client_of(settings) as client:
        reply = await client.request(HOME, "command", {}, WAIT)
    assert reply == Reply(ok=False, payload={"status": 409, "error": {"code": "conflict"}})


async def test_a_failing_handler_becomes_an_internal_error_reply(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(kind: str, payload: object) -> Reply:
        raise RuntimeError("bug")

    async with serving(settings, broken), client_of(settings) as client:
        reply = await client.request(HOME, "login", {"secret": "s3cr3t"}, WAIT)
    assert not reply.ok
    assert reply.payload == {
        "status": 500,
        "error": {"code": "internal", "message": "Internal error."},
    }
    assert "failed" in caplog.text
    assert "s3cr3t" not in caplog.text


async def test_a_reply_that_is_not_json_becomes_an_internal_error(settings: Settings) -> None:
    async def odd(kind: str, payload: object) -> Reply:
        return Reply(ok=True, payload={"when": datetime.now(UTC)})

    async with serving(settings, odd), client_of(settings) as client:
        reply = await client.request(HOME, "command", {}, WAIT)
    assert not reply.ok
    assert reply.payload == channel.INTERNAL


async def test_a_reply_over_the_limit_is_replaced_by_an_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel, "MAX_REPLY_BYTES", 100)

    async def large(kind: str, payload: object) -> Reply:
        return Reply(ok=True, payload="x" * 200)

    async with serving(settings, large), client_of(settings) as client:
        reply = await client.request(HOME, "command", {}, WAIT)
    assert reply == Reply(ok=False, payload=channel.TOO_LARGE)


async def test_a_request_over_the_size_limit_is_refused_before_it_is_sent(
    settings: Settings,
) -> None:
    async with client_of(settings) as client:
        with pytest.raises(PayloadTooLarge):
            await client.request(HOME, "command", {"x": "y" * client.max_payload_bytes}, WAIT)


async def test_the_home_refuses_a_request_over_its_own_limit(
    settings: Settings, redis: Redis
) -> None:
    small = Settings(redis_url=settings.redis_url, bus="redis", max_http_body_bytes=10)
    async with serving(small):
        request_id = await raw_request(redis, p=json.dumps("y" * 70_000))
        reply = await raw_reply(redis)
    assert reply["id"] == request_id
    assert reply["ok"] == "0"
    assert json.loads(reply["p"])["status"] == 413


async def test_the_home_refuses_a_payload_that_is_not_json(
    settings: Settings, redis: Redis
) -> None:
    async with serving(settings):
        request_id = await raw_request(redis, p="{nope")
        reply = await raw_reply(redis)
    assert (reply["id"], reply["ok"]) == (request_id, "0")
    assert json.loads(reply["p"])["status"] == 400
    assert reply["heads"] == "{}"


async def test_a_request_past_its_deadline_is_not_run(
    settings: Settings, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="server.sites.channel")
    seen: list[object] = []

    async def record(kind: str, payload: object) -> Reply:
        seen.append(payload)
        return Reply(ok=True, payload=None)

    async with serving(settings, record), client_of(settings) as client:
        late = format_time(datetime.now(UTC) - timedelta(seconds=1))
        stale = await raw_request(redis, deadline=late, p='{"secret": "s3cr3t"}')
        # Entries are read in order: once this one is answered, the stale one was passed over.
        await client.request(HOME, "command", {"fresh": True}, WAIT)
    assert seen == [{"fresh": True}]
    assert f"Request {stale} (command) is past its deadline" in caplog.text
    assert "s3cr3t" not in caplog.text


@pytest.mark.parametrize(
    "fields",
    [{"id": "short"}, {"from": "n:bad"}, {"deadline": "yesterday"}, {"kind": "k" * 40}],
)
async def test_an_unreadable_request_is_skipped_and_the_home_goes_on(
    settings: Settings, redis: Redis, fields: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(settings), client_of(settings) as client:
        await raw_request(redis, **fields)
        await redis.xadd(f"bidroom:cmd:{HOME}", {"only": "this"})
        reply = await client.request(HOME, "command", {}, WAIT)
    assert reply.ok
    assert caplog.text.count("was not readable: skipped") == 2


async def test_an_unreadable_reply_makes_the_home_unavailable(
    settings: Settings, redis: Redis
) -> None:
    async def answer_oddly() -> None:
        answer: Any = await redis.xread({f"bidroom:cmd:{HOME}": "0-0"}, count=1, block=0)
        request_id = answer[0][1][0][1][b"id"]
        await redis.xadd(f"bidroom:reply:{EDGE}", {"id": "someone-else", "ok": "1"})
        await redis.xadd(
            f"bidroom:reply:{EDGE}", {"id": request_id, "ok": "1", "p": "1", "heads": "[1]"}
        )

    async with client_of(settings) as client:
        home = asyncio.create_task(answer_oddly())
        with pytest.raises(HomeUnavailable, match="unreadably"):
            await client.request(HOME, "command", {}, WAIT)
        await home


async def test_heads_that_are_not_sequence_numbers_are_unreadable() -> None:
    assert channel._heads('{"t-1": 2}') == {"t-1": 2}
    for text in ('{"t-1": true}', '{"t-1": "2"}', "[]"):
        with pytest.raises(ValueError, match="heads"):
            channel._heads(text)


async def test_requests_fail_as_link_down_while_redis_is_away_and_work_again_after(
    settings: Settings, redis_server: RedisServer
) -> None:
    async with serving(settings) as server, client_of(settings) as client:
        assert (await client.request(HOME, "command", {}, WAIT)).ok
        redis_server.stop()
        with pytest.raises(LinkDown):
            await client.request(HOME, "command", {}, WAIT)
        redis_server.start()
        # Both readers reconnect on their own (backoff with jitter); the first request after
        # they did is answered. Each try is bounded; the whole wait too.
        async with asyncio.timeout(4 * WAIT):
            while True:
                with contextlib.suppress(LinkDown, HomeUnavailable):
                    reply = await client.request(HOME, "command", {"again": 1}, 0.5)
                    break
        assert reply.payload == {"kind": "command", "echo": {"again": 1}}
        assert server.ready.is_set()


async def test_a_client_that_never_reached_redis_says_the_link_is_down(
    settings: Settings, redis_server: RedisServer
) -> None:
    redis_server.stop()
    async with client_of(settings) as client:
        with pytest.raises(LinkDown):
            await client.request(HOME, "command", {}, WAIT)
    redis_server.start()


async def test_requests_need_a_started_client_and_a_node_id(settings: Settings) -> None:
    client = CommandClient(settings, EDGE)
    with pytest.raises(RuntimeError, match="start"):
        await client.request(HOME, "command", {}, WAIT)
    await client.start()
    await client.start()  # once is enough
    with pytest.raises(ValueError, match="node id"):
        await client.request("n:home:x", "command", {}, WAIT)
    await client.close()


async def test_the_home_runs_at_most_its_limit_of_requests_at_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channel, "MAX_IN_FLIGHT", 2)
    running = 0
    most = 0
    release = asyncio.Event()
    two_running = asyncio.Event()

    async def busy(kind: str, payload: object) -> Reply:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == 2:
            two_running.set()
        await release.wait()
        running -= 1
        return Reply(ok=True, payload=None)

    async with serving(settings, busy), client_of(settings) as client:
        requests = [
            asyncio.create_task(client.request(HOME, "command", {}, WAIT)) for _ in range(4)
        ]
        async with asyncio.timeout(WAIT):
            await two_running.wait()
        release.set()
        replies = await asyncio.gather(*requests)
    assert all(reply.ok for reply in replies)
    assert most == 2
