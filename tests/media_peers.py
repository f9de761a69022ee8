"""Real aiortc peers for tests and benchmarks: synthetic tracks, offer/answer, codec choice.

Peers in one process connect over the machine's own non-loopback address (aioice skips
loopback), so nothing needs configuring. aiortc gathers every candidate before
`setLocalDescription` returns (no trickle): the local description is complete once set.
"""

from __future__ import annotations

import asyncio
import fractions
import functools
import time
from typing import TYPE_CHECKING

import av
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection, RTCRtpTransceiver

AUDIO_RATE = 48_000
AUDIO_SAMPLES = 960  # 20 ms
MOTION = 4  # pixels the test pattern moves per frame


@functools.cache
def _luma(stride: int, height: int) -> bytes:
    """A textured picture, with room to slide through it by MOTION bytes per frame."""
    rows = height + 64
    return bytes(
        ((x * 5) ^ (y * 3) ^ ((x * y) >> 7)) & 0xFF for y in range(rows) for x in range(stride)
    )


class PatternVideo(VideoStreamTrack):
    """A moving, textured test picture at 30 frames per second (640x480 by default).

    A still or flat picture would cost an encoder next to nothing; this one moves every frame.
    """

    def __init__(self, width: int = 640, height: int = 480) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        luma, chroma_u, chroma_v = frame.planes
        size = luma.line_size * self.height
        offset = (self.sent * MOTION) % (luma.line_size * 64)
        luma.update(_luma(luma.line_size, self.height)[offset : offset + size])
        chroma_u.update(bytes([96]) * chroma_u.buffer_size)
        chroma_v.update(bytes([160]) * chroma_v.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        self.sent += 1
        return frame


class ToneAudio(MediaStreamTrack):
    """A 400 Hz square wave, 48 kHz stereo s16, in real-time 20 ms frames."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._samples = 0
        period = AUDIO_RATE // 400
        wave = [4000 if i % period < period // 2 else -4000 for i in range(AUDIO_SAMPLES)]
        self._data = b"".join(v.to_bytes(2, "little", signed=True) * 2 for v in wave)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._samples += AUDIO_SAMPLES
            await asyncio.sleep(self._start + self._samples / AUDIO_RATE - time.monotonic())
        frame = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_SAMPLES)
        frame.planes[0].update(self._data)
        frame.sample_rate = AUDIO_RATE
        frame.pts, frame.time_base = self._samples, fractions.Fraction(1, AUDIO_RATE)
        return frame


def prefer(transceiver: RTCRtpTransceiver, mime_type: str) -> None:
    """Negotiate only `mime_type` ("video/VP8", "audio/opus") on this transceiver."""
    codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    chosen = [c for c in codecs if c.mimeType.lower() in (mime_type.lower(), "video/rtx")]
    transceiver.setCodecPreferences(chosen)


def send(pc: RTCPeerConnection, track: MediaStreamTrack, mime_type: str | None = None) -> None:
    """Add `track` to `pc`, sending it with `mime_type` only if given."""
    sender = pc.addTrack(track)
    if mime_type is not None:
        transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
        prefer(transceiver, mime_type)


def incoming(pc: RTCPeerConnection) -> dict[str, asyncio.Future[MediaStreamTrack]]:
    """Futures for the first audio and video track `pc` receives; call before connecting."""
    loop = asyncio.get_running_loop()
    tracks: dict[str, asyncio.Future[MediaStreamTrack]] = {
        "audio": loop.create_future(),
        "video": loop.create_future(),
    }

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        future = tracks.get(track.kind)
        if future is not None and not future.done():
            future.set_result(track)

    return tracks


async def connect(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    """The offer/answer exchange between two peers in this process."""
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


async def frames(track: MediaStreamTrack, count: int) -> list[av.VideoFrame | av.AudioFrame]:
    """The next `count` decoded frames of a received track (wrap in asyncio.timeout)."""
    received: list[av.VideoFrame | av.AudioFrame] = []
    while len(received) < count:
        frame = await track.recv()
        assert isinstance(frame, av.VideoFrame | av.AudioFrame)
        received.append(frame)
    return received
