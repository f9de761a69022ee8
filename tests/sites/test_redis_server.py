"""The throwaway Redis the site tests run against."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis.asyncio import Redis

if TYPE_CHECKING:
    from tests.redis_server import RedisServer


async def test_each_test_gets_an_empty_redis_of_its_own(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        assert await client.dbsize() == 0
        await client.set("k", "v")
        assert await client.get("k") == b"v"
    finally:
        await client.aclose()


async def test_redis_can_be_taken_away_and_brought_back(
    redis_server: RedisServer, redis_url: str
) -> None:
    redis_server.stop()
    redis_server.start()
    client = Redis.from_url(redis_url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()
