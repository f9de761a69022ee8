"""The relay: a publisher's tracks encoded once on the node and fanned out to viewers.

Peer tests run real aiortc peers in this process (publisher -> node -> viewers) and decode what
viewers receive with aiortc's own PyAV decoders. Queue and keyframe tests feed a Source straight
from a synthetic track: the encoding is still real, only the network is left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import av
import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from server.media.relay import AUDIO_TIME_BASE, VIDEO_TIME_BASE, Encoding, Source, Viewer
from tests.media_peers import PatternVideo, ToneAudio, connect, frames, incoming, send

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

TIMEOUT = 10.0


@dataclass
class Room:
    """A publisher sending to the node, whose two Sources viewers subscribe to."""

    video: Source
    audio: Source
    publisher: RTCPeerConnection
    peers: list[RTCPeerConnection] = field(default_factory=list)

    async def watch(self) -> tuple[RTCPeerConnection, MediaStreamTrack, MediaStreamTrack]:
        """A new viewer: the node's peer for it, and the tracks the viewer receives."""
        node_side, viewer = RTCPeerConnection(), RTCPeerConnection()
        self.peers += [node_side, viewer]
        tracks = incoming(viewer)
        send(node_side, self.video.subscribe(), "video/VP8")
        send(node_side, self.audio.subscribe(), "audio/opus")
        await connect(node_side, viewer)
        return node_side, await tracks["video"], await tracks["audio"]


def source_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("media source")]


@pytest.fixture
async def room() -> AsyncIterator[Room]:
    publisher, node = RTCPeerConnection(), RTCPeerConnection()
    peers = [publisher, node]
    sources: list[Source] = []
    try:
        send(publisher, PatternVideo(), "video/VP8")
        send(publisher, ToneAudio(), "audio/opus")
        tracks = incoming(node)
        await connect(publisher, node)
        async with asyncio.timeout(TIMEOUT):
            # A long interval: any keyframe a viewer gets early was forced for it.
            video = Source(await tracks["video"], name="video", keyframe_interval=60)
            audio = Source(await tracks["audio"], name="audio")
        sources += [video, audio]
        video.start()
        audio.start()
        room = Room(video, audio, publisher, peers)
        yield room
    finally:
        for source in sources:
            await source.stop()
        for pc in peers:
            await pc.close()
    assert source_tasks() == []


async def test_every_viewer_decodes_the_one_encoding(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoders: set[int] = set()

    def spy(original: Any) -> Any:
        def encode(self: Any, frame: Any, force_keyframe: bool = False) -> Any:
            encoders.add(id(self))
            return original(self, frame, force_keyframe)

        return encode

    monkeypatch.setattr(Vp8Encoder, "encode", spy(Vp8Encoder.encode))
    monkeypatch.setattr(OpusEncoder, "encode", spy(OpusEncoder.encode))
    async with asyncio.timeout(TIMEOUT):
        viewers = [await room.watch() for _ in range(3)]
        for _, video, audio in viewers:
            pictures = await frames(video, 10)
            assert all(isinstance(f, av.VideoFrame) and f.width == 640 for f in pictures)
            assert all(isinstance(f, av.VideoFrame) and f.height == 480 for f in pictures)
            sounds = await frames(audio, 10)
            assert all(isinstance(f, av.AudioFrame) and f.sample_rate == 48_000 for f in sounds)
    # Only the publisher's two aiortc encoders ran: the node's six senders packetized.
    assert len(encoders) == 2
    for source in (room.video, room.audio):
        assert source.viewers == 3
        assert source.encodes == source.frames > 0
        assert source.packets > 0
    assert room.video.encoding == Encoding("video", "vp8", 640, 480, 0, 0, VIDEO_TIME_BASE)


async def test_a_late_viewer_sees_a_picture_within_two_seconds(room: Room) -> None:
    async with asyncio.timeout(TIMEOUT):
        _, first, _ = await room.watch()
        await frames(first, 45)  # the source has been running for over a second
        started = time.monotonic()
        _, late, _ = await room.watch()
        await frames(late, 1)
    assert time.monotonic() - started < 2.0


async def test_a_closed_viewer_leaves_and_a_closed_publisher_ends_the_viewers(room: Room) -> None:
    async with asyncio.timeout(TIMEOUT):
        leaving, _, _ = await room.watch()
        staying, video, _ = await room.watch()
        await frames(video, 1)
        assert room.video.viewers == 2
        await leaving.close()  # its senders stop their tracks
        assert (room.video.viewers, room.audio.viewers) == (1, 1)
        tracks = [sender.track for sender in staying.getSenders()]
        ended = [asyncio.Event() for _ in tracks]
        for track, event in zip(tracks, ended, strict=True):
            track.on("ended", event.set)
        await room.publisher.close()
        for event in ended:
            await event.wait()
    assert (room.video.ended, room.audio.ended) == (True, True)
    assert source_tasks() == []


async def test_a_video_viewer_that_never_reads_stays_bounded_and_resumes_at_a_keyframe() -> None:
    source = Source(PatternVideo(), name="video", keyframe_interval=60)
    try:
        idle = source.subscribe(limit=5)
        reader = source.tap()
        source.start()
        async with asyncio.timeout(TIMEOUT):
            for _ in range(20):
                await reader.recv()
                assert idle.queued <= 5
            assert idle.dropped > 0
            # It skipped to a keyframe the source made for it, well before the periodic one.
            assert (await idle.recv()).is_keyframe
    finally:
        await source.stop()


async def test_a_full_video_queue_that_meets_a_keyframe_keeps_it() -> None:
    source = Source(PatternVideo(), name="video", keyframe_interval=0)  # every frame a keyframe
    try:
        idle = source.subscribe(limit=2)
        reader = source.tap()
        source.start()
        async with asyncio.timeout(TIMEOUT):
            for _ in range(8):
                assert (await reader.recv()).is_keyframe
                assert 1 <= idle.queued <= 2  # never emptied to wait for the next one
        assert idle.dropped == source.packets - idle.queued
    finally:
        await source.stop()


class Resized(MediaStreamTrack):
    """RGB frames, 320x240 for three frames and then 640x480."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(0)
        width, height = (320, 240) if self.sent < 3 else (640, 480)
        frame = av.VideoFrame(width, height, "rgb24")
        frame.planes[0].update(bytes([self.sent % 256]) * frame.planes[0].buffer_size)
        frame.pts, frame.time_base = self.sent * 3000, VIDEO_TIME_BASE
        self.sent += 1
        return frame


async def test_a_new_picture_size_starts_again_at_a_keyframe() -> None:
    source = Source(Resized(), name="video")
    try:
        recorder = source.tap()
        source.start()
        async with asyncio.timeout(TIMEOUT):
            packets = [await recorder.recv() for _ in range(5)]
        assert [p.is_keyframe for p in packets] == [True, False, False, True, False]
        assert [p.pts for p in packets] == [0, 3000, 6000, 9000, 12000]
        encoding = source.encoding
        assert encoding is not None
        assert (encoding.width, encoding.height) == (640, 480)
    finally:
        await source.stop()


async def test_an_audio_viewer_that_never_reads_keeps_the_newest_packets() -> None:
    source = Source(ToneAudio(), name="audio")
    try:
        idle = source.subscribe(limit=3)
        reader = source.tap()
        source.start()
        async with asyncio.timeout(TIMEOUT):
            packets = [await reader.recv() for _ in range(10)]
        assert (idle.queued, idle.dropped) == (3, source.packets - 3)
        newest = [packets[-1].pts]
        while idle.queued:
            newest.append((await idle.recv()).pts)
        assert newest[0] in newest[1:]  # the last packet the reader saw is still held
    finally:
        await source.stop()


async def test_the_recorder_starts_at_a_keyframe_with_packets_of_its_own() -> None:
    source = Source(PatternVideo(), name="video", keyframe_interval=0.3)
    assert (source.codec, source.encoding) == ("vp8", None)  # the size comes with a frame
    try:
        viewer = source.subscribe()
        source.start()
        async with asyncio.timeout(TIMEOUT):
            shared = [await viewer.recv() for _ in range(3)]  # the recorder joins late
            recorder = source.tap()
            recorded = [await recorder.recv() for _ in range(20)]
            while len(shared) < source.packets:
                shared.append(await viewer.recv())
        assert recorded[0].is_keyframe
        assert not any(packet in shared for packet in recorded)  # copies, not the shared ones
        by_pts = {p.pts: bytes(p) for p in shared}
        assert all(by_pts[p.pts] == bytes(p) for p in recorded)
        # Periodic keyframes: 20 frames at 30 fps is over 0.6 s.
        assert sum(p.is_keyframe for p in recorded) >= 2
        assert source.encoding == Encoding("video", "vp8", 640, 480, 0, 0, VIDEO_TIME_BASE)
    finally:
        await source.stop()


async def test_stop_ends_every_viewer_after_what_it_holds() -> None:
    source = Source(ToneAudio(), name="audio")
    viewer, pace = source.subscribe(), source.subscribe()
    source.start()
    async with asyncio.timeout(TIMEOUT):
        await pace.recv()
        await pace.recv()
        await viewer.recv()
        assert viewer.queued == 1
        await source.stop()
        await viewer.recv()
        with pytest.raises(MediaStreamError):
            await viewer.recv()
    assert (viewer.readyState, source.viewers, source.ended) == ("ended", 0, True)
    assert source_tasks() == []
    late = source.subscribe()
    with pytest.raises(MediaStreamError):
        await late.recv()
    assert source.encoding == Encoding("audio", "opus", 0, 0, 48_000, 2, AUDIO_TIME_BASE)


async def test_an_upstream_that_ends_ends_the_viewers() -> None:
    track = PatternVideo()
    source = Source(track, name="video")
    viewer: Viewer = source.subscribe()
    source.start()
    async with asyncio.timeout(TIMEOUT):
        await viewer.recv()
        track.stop()
        with contextlib.suppress(MediaStreamError):
            while True:
                await viewer.recv()
    assert source.ended
    assert source_tasks() == []


class Wrong(MediaStreamTrack):
    kind = "video"

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        return av.Packet(b"already encoded")


async def test_a_track_that_is_not_decoded_frames_ends_the_source(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = Source(Wrong(), name="wrong")
    viewer = source.subscribe()
    source.start()
    async with asyncio.timeout(TIMEOUT):
        with pytest.raises(MediaStreamError):
            await viewer.recv()
    assert "media source wrong failed" in caplog.text
    data = Wrong()
    data.kind = "data"
    with pytest.raises(ValueError, match="cannot relay"):
        Source(data, name="data")
