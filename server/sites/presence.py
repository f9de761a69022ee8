"""Who is online at which site, kept in Redis with an expiry (docs/sites.md section 8).

A node sets `{c}:presence:{site}:{key}` for each participant with a live connection, with the
expiry `presence_ttl_seconds`, re-sets every entry it holds every third of that, and deletes
an entry when the last connection under its key closes. A node that dies stops refreshing, so
its entries go away on their own within one TTL. Nothing here knows what a connection is: the
caller says when a participant enters and leaves.

Redis being down must not close anyone's connection: entering and leaving then only change
what this node holds, and the refresher writes it once Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any, Final

from redis.exceptions import RedisError

from crypto import parse_json
from server.bus.connection import LINK_ERRORS, connect, key
from server.errors import LinkDown
from server.service.presence import PresenceEntry

if TYPE_CHECKING:
    from server.config import Settings

logger = logging.getLogger(__name__)

# `online` reads at most this many entries (a deployment has far fewer people online), in
# rounds of SCAN_COUNT keys, so a huge keyspace can't hold the caller for long.
MAX_ONLINE: Final = 20_000
SCAN_COUNT: Final = 1000
REFRESHES_PER_TTL: Final = 3


class Presence:
    """This node's presence entries in Redis: written on entering, refreshed, deleted on
    leaving. The `PresencePort` of a node in a cluster (server/service/presence.py)."""

    def __init__(self, settings: Settings, node_id: str, site: str) -> None:
        self._settings = settings
        self._node = node_id
        self._site = site
        self._ttl_ms = max(1, round(settings.presence_ttl_seconds * 1000))
        self._redis = connect(settings)
        self._held: dict[str, PresenceEntry] = {}
        self._connections: dict[str, int] = {}
        self._refresher: asyncio.Task[None] | None = None

    def _key(self, name: str) -> str:
        return key(self._settings, "presence", self._site, name)

    async def start(self) -> None:
        """Start refreshing the entries this node holds (every third of the TTL)."""
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh(), name="presence-refresher")

    async def close(self) -> None:
        """Stop refreshing and delete this node's entries (they'd expire anyway)."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        names, self._held, self._connections = list(self._held), {}, {}
        try:
            if names:
                await self._redis.delete(*(self._key(name) for name in names))
        except (*LINK_ERRORS, RedisError):
            logger.warning("Could not delete this node's presence entries: they expire")
        finally:
            await self._redis.aclose()

    async def enter(self, key: str, entry: PresenceEntry) -> None:
        """`key` (usually the participant's id) is online, as `entry` says. A key entered
        several times (two connections) stays until it has left as many times."""
        self._connections[key] = self._connections.get(key, 0) + 1
        self._held[key] = entry
        await self._write({key: entry})

    async def update(self, key: str, tender: str | None) -> None:
        """`key`, still online, now follows `tender` (the latest it subscribed to)."""
        held = self._held.get(key)
        if held is not None and held.tender != tender:
            self._held[key] = entry = dataclasses.replace(held, tender=tender)
            await self._write({key: entry})

    async def leave(self, key: str) -> None:
        count = self._connections.get(key, 0) - 1
        if count > 0:
            self._connections[key] = count
            return
        self._connections.pop(key, None)
        if self._held.pop(key, None) is None:
            return
        try:
            await self._redis.delete(self._key(key))
        except (*LINK_ERRORS, RedisError):
            logger.warning("Could not delete a presence entry: it expires on its own")

    async def _write(self, entries: dict[str, PresenceEntry]) -> bool:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name, entry in entries.items():
                    _ = pipe.set(self._key(name), _dumps(entry), px=self._ttl_ms)  # queued
                await pipe.execute()
        except (*LINK_ERRORS, RedisError):
            logger.warning("Could not write presence to Redis: trying again at the next refresh")
            return False
        return True

    async def _refresh(self) -> None:
        pause = self._settings.presence_ttl_seconds / REFRESHES_PER_TTL
        while True:
            await asyncio.sleep(pause)
            if self._held:
                await self._write(dict(self._held))

    async def online(self) -> list[PresenceEntry]:
        """Everyone online at every site of the cluster, by site and participant; LinkDown if
        Redis can't be reached. Unreadable entries are skipped."""
        try:
            raws = await self._read_all()
        except (*LINK_ERRORS, RedisError):
            raise LinkDown("The link between sites (Redis) is down.") from None
        entries = []
        for raw in raws:
            if raw is None:
                continue  # expired between SCAN and MGET
            try:
                entries.append(PresenceEntry.from_json(parse_json(raw)))
            except ValueError:
                logger.warning("A presence entry in Redis is not readable: skipped")
        return sorted(entries, key=lambda entry: (entry.site, entry.participant, entry.node))

    async def _read_all(self) -> list[Any]:
        pattern = key(self._settings, "presence", "*")
        raws: list[Any] = []
        cursor = 0
        while len(raws) < MAX_ONLINE:
            cursor, names = await self._redis.scan(cursor, match=pattern, count=SCAN_COUNT)
            if names:
                raws.extend(await self._redis.mget(names[: MAX_ONLINE - len(raws)]))
            if cursor == 0:
                break
        return raws


def _dumps(entry: PresenceEntry) -> str:
    # Presence is shown, not signed: plain JSON is enough.
    return json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":"))
