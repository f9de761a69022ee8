"""Publish and watch live media on a node (docs/media.md): the client side of the signaling.

One `MediaChannel` is one authenticated live connection that carries media requests. Each
session is an aiortc peer connection: its offer is complete (ICE gathered, no trickle), the
node answers on the channel, and `media_ended` says when the node ended it. The expert's
workstation, the host's desk and a supervisor's monitor all use it; `synthetic_tracks` gives
test sources (PyAV's lavfi `testsrc` and `sine`) for demos and tests without a camera.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Self

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from websockets.exceptions import ConnectionClosed

from evaluator_client.errors import FeedClosed, MediaError
from evaluator_client.live import open_channel
from server.protocol import (
    Error,
    MediaAnswer,
    MediaClose,
    MediaEnded,
    MediaPublish,
    MediaWatch,
    Welcome,
    client_message_json,
    parse_server_message,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from types import TracebackType

    from aiortc.mediastreams import MediaStreamTrack
    from websockets.asyncio.client import ClientConnection

logger = logging.getLogger(__name__)
_refs = itertools.count(1)
# How long the node may take to answer an offer (it gathers its own candidates first).
ANSWER_TIMEOUT: Final = 30.0


@dataclass(eq=False)
class MediaSession:
    """One session: its peer connection and, for a watcher, the tracks received by kind."""

    id: str
    room: str
    source: str
    pc: RTCPeerConnection
    received: dict[str, MediaStreamTrack] = field(default_factory=dict)
    ended: asyncio.Future[str] = field(default_factory=asyncio.Future)
    players: list[MediaPlayer] = field(default_factory=list)

    async def connected(self) -> None:
        """Wait until ICE and DTLS are up, or raise MediaError (bound it with a timeout)."""
        while self.pc.connectionState != "connected":
            if self.pc.connectionState in ("failed", "closed") or self.ended.done():
                raise MediaError("peer_closed", "The media connection failed.")
            changed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.pc.once("connectionstatechange", functools.partial(_settle, changed))
            await changed


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class MediaChannel:
    """A live connection used for media sessions."""

    def __init__(self, url: str, token: Callable[[], Awaitable[str]]) -> None:
        self.url = url
        self._token = token
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[MediaAnswer]] = {}
        self.sessions: dict[str, MediaSession] = {}
        self.welcome: Welcome | None = None

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        self._ws, self.welcome = await open_channel(self.url, self._token)
        self._reader = asyncio.create_task(self._read(self._ws), name="media channel")

    async def close(self) -> None:
        for session in list(self.sessions.values()):
            await self._drop(session, "closed")
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            # Not cancelled: with the connection closed it ends by itself, and if the node went
            # away first it may be closing its sessions' peer connections (their sockets) now.
            await self._reader
        self._ws = self._reader = None

    async def publish(
        self, tender: str, room: str, tracks: Sequence[MediaStreamTrack]
    ) -> MediaSession:
        """Send `tracks` to the node for `room` (the node names the source)."""
        pc = RTCPeerConnection()
        for track in tracks:
            pc.addTransceiver(track, direction="sendonly")
        try:
            sdp = await _offer(pc)
            answer = await self._ask(MediaPublish(tender, room, sdp, ref=_ref()))
            return await self._start(pc, answer)
        except BaseException:
            await pc.close()
            raise

    async def watch(self, tender: str, room: str, source: str) -> MediaSession:
        """Receive a source's video and audio; the tracks are in `received` once connected."""
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        received: dict[str, MediaStreamTrack] = {}
        pc.on("track", lambda track: received.__setitem__(track.kind, track))
        try:
            sdp = await _offer(pc)
            answer = await self._ask(MediaWatch(tender, room, source, sdp, ref=_ref()))
            session = await self._start(pc, answer)
        except BaseException:
            await pc.close()
            raise
        session.received = received
        return session

    async def end(self, session: MediaSession) -> None:
        """Close a session; the node ends it on record."""
        if self._ws is not None and not session.ended.done():
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(client_message_json(MediaClose(session.id, ref=_ref())))
        await self._drop(session, "closed")

    async def _start(self, pc: RTCPeerConnection, answer: MediaAnswer) -> MediaSession:
        await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        session = MediaSession(answer.session, answer.room, answer.source, pc)
        self.sessions[session.id] = session
        return session

    async def _ask(self, message: MediaPublish | MediaWatch) -> MediaAnswer:
        if self._ws is None:
            raise FeedClosed(None, "not connected")
        ref = message.ref or _ref()
        message = dataclasses.replace(message, ref=ref)
        waiting = self._waiting[ref] = asyncio.get_running_loop().create_future()
        try:
            await self._ws.send(client_message_json(message))
            async with asyncio.timeout(ANSWER_TIMEOUT):
                answer: MediaAnswer = await waiting
            return answer
        finally:
            self._waiting.pop(ref, None)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                message = parse_server_message(raw)
                if isinstance(message, MediaAnswer | Error):
                    waiting = self._waiting.get(message.ref or "")
                    if waiting is None or waiting.done():
                        continue
                    if isinstance(message, Error):
                        waiting.set_exception(
                            MediaError(message.code, message.message, message.rule)
                        )
                    else:
                        waiting.set_result(message)
                elif isinstance(message, MediaEnded):
                    session = self.sessions.get(message.session)
                    if session is not None:
                        await self._drop(session, message.reason)
        except ConnectionClosed:
            pass
        finally:
            closed = FeedClosed(None, "the live connection closed")
            for waiting in self._waiting.values():
                if not waiting.done():
                    waiting.set_exception(closed)
            for session in list(self.sessions.values()):
                await self._drop(session, "channel_closed")

    async def _drop(self, session: MediaSession, reason: str) -> None:
        if self.sessions.pop(session.id, None) is None:
            return  # dropped already (the node's end and ours can cross)
        if not session.ended.done():
            session.ended.set_result(reason)
        for player in session.players:
            for track in (player.audio, player.video):
                if track is not None:
                    track.stop()
        # Shielded: a cancelled second closer would cancel aiortc's own "closed" future.
        await asyncio.shield(session.pc.close())


async def _offer(pc: RTCPeerConnection) -> str:
    """A complete offer: aiortc gathers every candidate in setLocalDescription."""
    await pc.setLocalDescription(await pc.createOffer())
    return pc.localDescription.sdp


def _ref() -> str:
    return f"media-{next(_refs)}"


def synthetic_tracks(*, width: int = 640, height: int = 480, rate: int = 15) -> list[MediaPlayer]:
    """A test picture and a tone, paced in real time (PyAV's lavfi sources)."""
    video = MediaPlayer(f"testsrc=size={width}x{height}:rate={rate}", format="lavfi")
    audio = MediaPlayer("sine=frequency=440:sample_rate=48000", format="lavfi")
    return [video, audio]


def player_tracks(players: Sequence[MediaPlayer]) -> list[MediaStreamTrack]:
    """The tracks of `players`: video first, then audio."""
    found = [player.video for player in players if player.video is not None]
    return found + [player.audio for player in players if player.audio is not None]
