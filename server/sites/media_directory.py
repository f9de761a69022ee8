"""The media directory of a deployment in Redis (docs/media.md section 9, docs/sites.md).

A node sets `{c}:media:{tender}:{room}:{source}` to `{"node", "url"}` for each source
published at it, with an expiry, and refreshes it every third of that while the source is
live; it deletes the key when the source ends. A node that dies stops refreshing, so its
entries go by themselves. Another node reads the key to find where to watch the source from.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from server.bus.connection import LINK_ERRORS, connect, key

if TYPE_CHECKING:
    from server.config import Settings

logger = logging.getLogger(__name__)


class RedisDirectory:
    """The `Directory` of a node in a cluster."""

    def __init__(self, settings: Settings, node_id: str) -> None:
        self._settings = settings
        self._node = node_id
        self._value = json.dumps({"node": node_id, "url": settings.public_url})
        self._ttl_ms = max(1, round(settings.presence_ttl_seconds * 1000))
        self._redis = connect(settings)
        self._announced: set[tuple[str, str, str]] = set()
        self._refresher: asyncio.Task[None] | None = None

    def _key(self, tender: str, room: str, source: str) -> str:
        return key(self._settings, "media", tender, room, source)

    async def announce(self, tender: str, room: str, source: str) -> None:
        self._announced.add((tender, room, source))
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh(), name="media-directory")
        await self._write([(tender, room, source)])

    async def withdraw(self, tender: str, room: str, source: str) -> None:
        self._announced.discard((tender, room, source))
        try:
            await self._redis.delete(self._key(tender, room, source))
        except (*LINK_ERRORS, RedisError):
            logger.warning("Could not withdraw a media source from Redis: it expires")

    async def find(self, tender: str, room: str, source: str) -> str | None:
        try:
            found = await self._redis.get(self._key(tender, room, source))
        except (*LINK_ERRORS, RedisError):
            logger.warning("Could not look a media source up in Redis")
            return None
        if found is None:
            return None
        try:
            entry = json.loads(found)
            node, url = str(entry["node"]), str(entry["url"])
        except (ValueError, KeyError, TypeError):
            return None
        return None if node == self._node or not url else url

    async def _write(self, sources: list[tuple[str, str, str]]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for source in sources:
                    _ = pipe.set(self._key(*source), self._value, px=self._ttl_ms)  # queued
                await pipe.execute()
        except (*LINK_ERRORS, RedisError):
            logger.warning("Could not announce media sources in Redis; trying again")

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            if self._announced:
                await self._write(sorted(self._announced))

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        try:
            if self._announced:
                await self._redis.delete(*(self._key(*s) for s in self._announced))
        except (*LINK_ERRORS, RedisError):
            logger.warning("Could not withdraw this node's media sources: they expire")
        finally:
            self._announced.clear()
            await self._redis.aclose()
