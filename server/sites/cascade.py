"""A node watching a source at another node of the deployment (docs/media.md section 9).

A watcher is served by its own node. When the source it asks for is published at another
node, this node logs in there with its node key (like the replica's fetch, `peers.py`),
watches the source as a client (`evaluator_client.media`), and relays what it receives to its
own watchers, encoded once again here. One upstream session serves every local watcher.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from evaluator_client.media import MediaChannel
from server.sites.peers import PeerClient

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

    from crypto import SigningKey
    from evaluator_client.media import MediaSession
    from server.clock import Clock


class NodeUpstream:
    """One source watched at another node; `close` lets go of the session, channel, login."""

    def __init__(self, peer: PeerClient, channel: MediaChannel, session: MediaSession) -> None:
        self._peer = peer
        self._channel = channel
        self._session = session

    @property
    def received(self) -> dict[str, MediaStreamTrack]:
        return self._session.received

    @property
    def ended(self) -> asyncio.Future[str]:
        return self._session.ended

    async def close(self) -> None:
        try:
            await self._channel.end(self._session)
            await self._channel.close()
        finally:
            await self._peer.close()


class NodeCascade:
    """The `Cascade` of a node in a cluster."""

    def __init__(self, key: SigningKey, clock: Clock, timeout: float) -> None:
        self._key = key
        self._clock = clock
        self._timeout = timeout

    async def watch(self, url: str, tender: str, room: str, source: str) -> NodeUpstream:
        peer = PeerClient(url, self._key, self._clock, timeout=self._timeout)
        channel = MediaChannel(url.replace("http", "ws", 1).rstrip("/") + "/ws", peer.token)
        try:
            async with asyncio.timeout(self._timeout):
                await channel.connect()
                session = await channel.watch(tender, room, source)
                await session.connected()
        except BaseException:
            await channel.close()
            await peer.close()
            raise
        return NodeUpstream(peer, channel, session)
