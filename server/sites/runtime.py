"""A node's place in a cluster of sites, built from its settings (docs/sites.md section 1).

`running_node` is what the application starts: alone (no Redis), as the home (it waits for
the home lease, fences the store, then serves its own clients and the edges' commands), or as
an edge (a replica of the home's streams, every command forwarded).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from typing import TYPE_CHECKING, Final

from server.backends import build_backends
from server.bus.feed import LogFeed
from server.errors import HomeUnavailable, LinkDown
from server.service.node import CONSOLE, Node, node_id_of
from server.service.node_keys import NodeKeys
from server.sites.channel import CommandClient, CommandServer
from server.sites.edge import Forwarder
from server.sites.home import HomeDesk
from server.sites.lease import HomeInfo, HomeLease
from server.sites.peers import PeerClient
from server.sites.presence import Presence
from server.sites.replica import Replicator, jitter

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from crypto import SigningKey
    from recordings.audit import AuditRecord
    from server.bus.base import Bus
    from server.clock import Clock
    from server.config import Settings
    from server.storage.base import EventStore

logger = logging.getLogger(__name__)

# How often an edge that found no home looks again (each look is one bounded Redis call).
HOME_WAIT_SECONDS: Final = 0.5


def role_of(settings: Settings) -> str:
    if settings.redis_url is None:
        return "alone"
    return "home" if settings.home else "edge"


@contextlib.asynccontextmanager
async def running_node(
    settings: Settings,
    key: SigningKey,
    clock: Clock,
    *,
    store: EventStore | None = None,
    bus: Bus | None = None,
    schedule: bool = True,
    on_lost: Callable[[], None] | None = None,
) -> AsyncIterator[Node]:
    role = role_of(settings)
    if role == "alone":
        backends = build_backends(settings, NodeKeys(key), store=store, bus=bus)
        node = Node(settings, backends, clock, key)
        await node.start(schedule=schedule)
        try:
            yield node
        finally:
            await node.close()
    elif role == "home":
        async with _home(settings, key, clock, store, schedule, on_lost) as node:
            yield node
    else:
        async with _edge(settings, key, clock, store) as node:
            yield node


@contextlib.asynccontextmanager
async def _home(
    settings: Settings,
    key: SigningKey,
    clock: Clock,
    store: EventStore | None,
    schedule: bool,
    on_lost: Callable[[], None] | None,
) -> AsyncIterator[Node]:
    probe = node_id_of(key)
    lease = HomeLease(settings, probe, settings.site, settings.public_url)
    logger.info("Node %s at site %s: waiting for the home lease", probe, settings.site)
    token = await lease.acquire()
    # The home's bus publishes every commit to Redis (the settings choose it with redis_url).
    backends = build_backends(settings, NodeKeys(key), store=store)
    backends.store.fence(token)
    node = Node(settings, backends, clock, key, presence=Presence(settings, probe, settings.site))
    server = CommandServer(settings, node.id)
    desk = HomeDesk(node)
    try:
        await node.start(schedule=schedule)
        await _enrolled(node, settings.site)
        if asked := await node.opening.ask_to_resend():
            logger.warning("Asked to resend what only memory held, in %s", ", ".join(asked))
        async with asyncio.TaskGroup() as group:
            serving = group.create_task(server.serve(desk.answer), name="home-desk")
            holding = group.create_task(
                _hold(settings, lease, backends.store, node.id, on_lost), name="home-lease"
            )
            logger.info("Node %s is the home (fencing token %d)", node.id, token)
            try:
                yield node
            finally:
                serving.cancel()
                holding.cancel()
    finally:
        await node.close()
        with contextlib.suppress(Exception):
            await lease.release()


async def _hold(
    settings: Settings,
    lease: HomeLease,
    store: EventStore,
    node_id: str,
    on_lost: Callable[[], None] | None,
) -> None:
    """Hold the lease for as long as this node serves as the home.

    A lease lost because Redis went away is not a reason to stop: no other node can take it
    while Redis is away, and if one could (a partition), the store's fence refuses this
    node's appends the moment the new home has appended. So the home goes on serving its own
    clients and takes the lease again when Redis is back (above its own token, in case Redis
    lost the counter too). It stops only when another node holds the lease.
    """
    while True:
        await lease.hold()
        while True:
            try:
                home = await HomeLease.current(settings)
            except LinkDown:
                await asyncio.sleep(jitter(settings.lease_ttl_seconds))
                continue
            if home is not None and home.node != node_id:
                logger.critical("Node %s holds the home lease now: this node stops", home.node)
                if on_lost is not None:
                    on_lost()
                return
            try:
                async with asyncio.timeout(settings.lease_ttl_seconds):
                    token = await lease.acquire(floor=lease.token)
            except TimeoutError:
                continue  # someone else was quicker, or Redis went away again: look again
            store.fence(token)
            logger.info("This node holds the home lease again (fencing token %d)", token)
            break


async def _enrolled(node: Node, site: str) -> None:
    """The home's own key in the system log, so that edges accept the tokens it issues
    (docs/sites.md section 1): enrolled by the node itself, on record, the first time it is
    the home. Its id is its key's (node_id_of)."""
    if await node.participants.find(node.id) is not None:
        return
    enrolment = {
        "role": "node",
        "name": f"home node at {site}",
        "public_key": node.key.verify_key.to_text(),
        "attributes": {"site": site},
    }
    await node.participants.enroll(CONSOLE, enrolment)
    logger.info("Node %s enrolled itself as a node of site %s", node.id, site)


class HomePeers:
    """The node-to-node fetch from whichever node is the home now (section 7)."""

    def __init__(self, settings: Settings, key: SigningKey, clock: Clock) -> None:
        self._settings = settings
        self._key = key
        self._clock = clock
        self._client: PeerClient | None = None

    async def _peer(self) -> PeerClient:
        if self._client is not None:
            return self._client
        home = await HomeLease.current(self._settings)
        if home is None:
            raise HomeUnavailable("No main-venue node holds the home lease now.")
        self._client = PeerClient(home.url, self._key, self._clock)
        return self._client

    async def _forget(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def streams(self) -> list[str]:
        try:
            return await (await self._peer()).streams()
        except HomeUnavailable:
            await self._forget()  # the lease may have moved: look again next time
            raise

    async def fetch(self, stream: str, after_seq: int, limit: int) -> list[AuditRecord]:
        try:
            return await (await self._peer()).fetch(stream, after_seq, limit)
        except HomeUnavailable:
            await self._forget()
            raise

    async def close(self) -> None:
        await self._forget()


async def wait_for_home(settings: Settings) -> HomeInfo:
    logged = False
    while True:
        try:
            home = await HomeLease.current(settings)
        except LinkDown:
            home = None
        if home is not None:
            return home
        if not logged:
            logger.info("No home node yet (or no Redis): waiting for one")
            logged = True
        await asyncio.sleep(jitter(HOME_WAIT_SECONDS * 2))


@contextlib.asynccontextmanager
async def _edge(
    settings: Settings, key: SigningKey, clock: Clock, store: EventStore | None
) -> AsyncIterator[Node]:
    # An edge's commits are the replica's own: they go to its live hub, never to Redis.
    local = dataclasses.replace(settings, bus="local")
    backends = build_backends(local, NodeKeys(key), store=store)
    await wait_for_home(settings)
    feed = LogFeed(settings)
    peers = HomePeers(settings, key, clock)
    replica = Replicator(backends.store, feed, peers)
    client = CommandClient(settings, node_id_of(key))

    node = Node(
        settings, backends, clock, key,
        remote=Forwarder(settings, client, replica, functools.partial(HomeLease.current, settings)),
        presence=Presence(settings, node_id_of(key), settings.site),
    )  # fmt: skip
    try:
        await node.start(schedule=False)
        await client.start()
        await replica.start()
        logger.info("Node %s is an edge at site %s", node.id, settings.site)
        yield node
    finally:
        await replica.close()
        await client.close()
        await feed.close()
        await peers.close()
        await node.close()
