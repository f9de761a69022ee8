"""Encode each published track once on the node and hand the same packets to every viewer.

aiortc decodes what a publisher sends, and by default every `RTCRtpSender` encodes the frames of
its track itself: one encoder per viewer, about 11-12 % of a core per extra 480p viewer.
aiortc's `MediaRelay` shares the decoded frames but still leaves the encoding to each sender.
An `RTCRtpSender` whose track returns `av.Packet` only packetizes it, so a `Source` encodes
each decoded frame once (VP8 or Opus, with PyAV, in a worker thread so the event loop never
blocks) and its viewers return those packets. This is the product's media path, hence written
here and kept small rather than assembled from aiortc's contrib helpers.

Bitrates are fixed (500 kbit/s video, 64 kbit/s audio): a single encoding serves everyone, so
one viewer's congestion feedback (REMB) cannot be allowed to lower the picture for all the
others. 500 kbit/s is a clear 640x480 picture of a meeting room that typical links carry.

Keyframes: a video source makes one at least every `keyframe_interval` seconds, and whenever a
new viewer subscribes or a slow viewer has skipped packets (not more often than every
`KEYFRAME_GAP` seconds): the next frame is encoded with `frame.pict_type = I`, which libvpx
takes as "force a keyframe". A late viewer so gets a picture within about half a second.
Picture-loss reports (PLI) from a viewer do not reach us (aiortc keeps them for its own
encoder), so after a lost packet a viewer's picture recovers at the next periodic keyframe.

Each viewer has its own bounded queue, so a slow viewer never grows the node's memory:

- video: when the queue is full, everything queued is dropped, the viewer then skips packets
  until the next keyframe (a VP8 delta frame is useless without what it refers to) and the
  source is asked for one soon; every packet not delivered counts in `Viewer.dropped`;
- audio: the oldest packet is dropped (each Opus packet stands alone), counted the same way.

A viewer that is stopped (aiortc stops a sender's track when its peer connection closes)
leaves its source. When the source's upstream track ends, or `Source.stop()` is called, every
viewer ends: it returns what it still holds, then its `recv()` raises `MediaStreamError`, which
ends the sender that reads it. The upstream track itself belongs to its peer connection and is
left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Final

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.video.frame import PictureType

from recordings.segments import Encoding as SegmentEncoding

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from typing import TypeAlias

    from av.audio.codeccontext import AudioCodecContext
    from av.stream import Stream
    from av.video.codeccontext import VideoCodecContext

    Packet: TypeAlias = av.Packet[Stream]

logger = logging.getLogger(__name__)

VIDEO_BITRATE: Final = 500_000
AUDIO_BITRATE: Final = 64_000  # speech in stereo Opus "voip" mode
VIDEO_TIME_BASE: Final = Fraction(1, 90_000)  # the RTP clock of video
AUDIO_RATE: Final = 48_000
AUDIO_SAMPLES: Final = 960  # 20 ms, what aiortc packetizes
AUDIO_TIME_BASE: Final = Fraction(1, AUDIO_RATE)
# Viewers asking for a keyframe get at most one per this many seconds, so that a viewer that
# keeps falling behind cannot turn every frame into a (large) keyframe for everyone.
KEYFRAME_GAP: Final = 0.5
# Packets a viewer may hold: about two seconds of 30 fps video, one second of audio.
VIDEO_LIMIT: Final = 60
AUDIO_LIMIT: Final = 50


@dataclass(frozen=True)
class Encoding:
    """What a muxer needs to know about a source's packets (0 where it does not apply)."""

    kind: str
    codec: str
    width: int
    height: int
    sample_rate: int
    channels: int
    time_base: Fraction

    def recorded(self) -> SegmentEncoding:
        """The same facts as the recorder takes them (recordings/segments.py)."""
        if self.kind == "video":
            return SegmentEncoding.vp8(self.width, self.height, self.time_base)
        return SegmentEncoding.opus(self.sample_rate, self.channels, self.time_base)


class _VideoEncoder:
    """VP8 with the settings of aiortc's own encoder, at a fixed bitrate."""

    codec = "vp8"

    def __init__(self) -> None:
        self._context: VideoCodecContext | None = None
        self._last_pts = -1

    @property
    def encoding(self) -> Encoding | None:
        if self._context is None:
            return None
        width, height = self._context.width, self._context.height
        return Encoding("video", self.codec, width, height, 0, 0, VIDEO_TIME_BASE)

    def encode(self, frame: av.VideoFrame, keyframe: bool) -> list[Packet]:
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        context = self._context
        if context is None or (context.width, context.height) != (frame.width, frame.height):
            context = self._context = self._open(frame.width, frame.height)
        # Decoded frames carry the publisher's picture type: only ours may force a keyframe.
        frame.pict_type = PictureType.I if keyframe else PictureType.NONE
        # libvpx wants increasing timestamps in its own time base.
        pts = self._last_pts + 1
        if frame.pts is not None and frame.time_base is not None:
            pts = max(pts, int(frame.pts * frame.time_base / VIDEO_TIME_BASE))
        frame.pts, frame.time_base, self._last_pts = pts, VIDEO_TIME_BASE, pts
        return list(context.encode(frame))

    @staticmethod
    def _open(width: int, height: int) -> VideoCodecContext:
        context = av.CodecContext.create("libvpx", "w")
        context.width, context.height, context.pix_fmt = width, height, "yuv420p"
        context.time_base = VIDEO_TIME_BASE
        context.bit_rate = VIDEO_BITRATE
        context.gop_size = 3000  # keyframes are ours to force
        context.qmin, context.qmax = 2, 56
        # One thread: at meeting-room sizes libvpx's extra threads cost more CPU than they save
        # (at 640x480, FFmpeg's automatic count took three times the CPU of one thread).
        context.thread_count = 1
        context.options = {
            "deadline": "realtime",
            "cpu-used": "-6",
            "lag-in-frames": "0",  # one packet out per frame in, no delay
            "bufsize": str(VIDEO_BITRATE),
            "minrate": str(VIDEO_BITRATE),  # minrate = maxrate = bit_rate: constant bitrate
            "maxrate": str(VIDEO_BITRATE),
            "noise-sensitivity": "4",
            "overshoot-pct": "15",
            "undershoot-pct": "100",
            "partitions": "0",
            "static-thresh": "1",
        }
        return context


class _AudioEncoder:
    """Opus, 48 kHz stereo s16 in 20 ms packets, as aiortc's own encoder."""

    codec = "opus"

    def __init__(self) -> None:
        context = av.CodecContext.create("libopus", "w")
        context.bit_rate = AUDIO_BITRATE
        context.format, context.layout = "s16", "stereo"
        context.sample_rate = AUDIO_RATE
        context.time_base = AUDIO_TIME_BASE
        context.options = {"application": "voip"}
        self._context: AudioCodecContext = context
        self._resampler = av.AudioResampler(
            format="s16", layout="stereo", rate=AUDIO_RATE, frame_size=AUDIO_SAMPLES
        )

    @property
    def encoding(self) -> Encoding:
        return Encoding("audio", self.codec, 0, 0, AUDIO_RATE, 2, AUDIO_TIME_BASE)

    def encode(self, frame: av.AudioFrame, keyframe: bool) -> list[Packet]:
        return [
            packet
            for resampled in self._resampler.resample(frame)
            for packet in self._context.encode(resampled)
        ]


class Viewer(MediaStreamTrack):
    """One consumer of a source: a track whose `recv()` returns the source's packets."""

    def __init__(self, source: Source, *, limit: int, copies: bool, wants_keyframe: bool) -> None:
        super().__init__()
        self.kind = source.kind
        self.dropped = 0
        self.delivered = 0
        self._source = source
        self._limit = max(1, limit)
        self._copies = copies
        self._skipping = wants_keyframe
        self._started = False
        self._queue: deque[Packet] = deque()
        self._wake = asyncio.Event()
        self._closed = False

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def recv(self) -> Packet:
        while not self._queue:
            if self._closed:
                raise MediaStreamError
            self._wake.clear()
            await self._wake.wait()
        self.delivered += 1
        return self._queue.popleft()

    async def packets(self) -> AsyncIterator[Packet]:
        """Every packet, until the source ends (for a reader other than an aiortc sender)."""
        while True:
            try:
                yield await self.recv()
            except MediaStreamError:
                return

    def stop(self) -> None:
        """No more packets wanted (aiortc calls this when the peer connection closes)."""
        self._queue.clear()
        self._close()

    def _close(self) -> None:
        self._closed = True
        self._wake.set()
        self._source._remove(self)
        super().stop()

    def _offer(self, packet: Packet) -> None:
        if self.kind == "video":
            if self._skipping and not packet.is_keyframe:
                # What goes by before a viewer's first keyframe was never its to lose.
                self.dropped += self._started
                return
            self._skipping = False
            if len(self._queue) >= self._limit:
                self.dropped += len(self._queue)
                self._queue.clear()
                if not packet.is_keyframe:
                    self.dropped += 1
                    self._skipping = True
                    self._source.request_keyframe()
                    return
        elif len(self._queue) >= self._limit:
            self._queue.popleft()
            self.dropped += 1
        self._started = True
        self._queue.append(_copy(packet) if self._copies else packet)
        self._wake.set()


def _copy(packet: Packet) -> Packet:
    """A packet of one's own, e.g. for a muxer, which rewrites a packet's timestamps."""
    copy = av.Packet(bytes(packet))
    copy.pts, copy.dts, copy.time_base = packet.pts, packet.dts, packet.time_base
    copy.is_keyframe = packet.is_keyframe
    return copy


class Source:
    """One published track on this node, encoded once for all of its viewers."""

    def __init__(
        self, track: MediaStreamTrack, *, name: str, keyframe_interval: float = 4.0
    ) -> None:
        if track.kind not in ("audio", "video"):
            raise ValueError(f"cannot relay a track of kind {track.kind!r}")
        self.name = name
        self.kind: str = track.kind
        self.frames = 0  # decoded frames read from the track
        self.encodes = 0  # encoder calls: one per frame, whatever the number of viewers
        self.packets = 0  # packets handed to the viewers
        self._track = track
        self._encoder = _VideoEncoder() if self.kind == "video" else _AudioEncoder()
        self._keyframe_interval = keyframe_interval
        self._last_keyframe = -float("inf")
        self._keyframe_wanted = False
        self._viewers: list[Viewer] = []
        self._task: asyncio.Task[None] | None = None
        self._ended = False

    @property
    def codec(self) -> str:
        return self._encoder.codec

    @property
    def encoding(self) -> Encoding | None:
        """The codec parameters, once known (video: after the first frame)."""
        return self._encoder.encoding

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    @property
    def ended(self) -> bool:
        return self._ended

    def start(self) -> None:
        if self._task is None and not self._ended:
            self._task = asyncio.create_task(self._run(), name=f"media source {self.name}")

    async def stop(self) -> None:
        """End the source and all of its viewers."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._finish()

    def subscribe(self, *, limit: int | None = None) -> Viewer:
        """A track for a viewer's sender; video starts at a keyframe forced for it."""
        viewer = self._add(limit, copies=False)
        self.request_keyframe()
        return viewer

    def tap(self, *, limit: int | None = None) -> Viewer:
        """A track for the recorder: its own copy of every packet, video from a keyframe on."""
        return self._add(limit, copies=True)

    def request_keyframe(self) -> None:
        self._keyframe_wanted = self.kind == "video"

    def _add(self, limit: int | None, *, copies: bool) -> Viewer:
        if limit is None:
            limit = VIDEO_LIMIT if self.kind == "video" else AUDIO_LIMIT
        viewer = Viewer(self, limit=limit, copies=copies, wants_keyframe=self.kind == "video")
        if self._ended:
            viewer._close()
        else:
            self._viewers.append(viewer)
        return viewer

    def _remove(self, viewer: Viewer) -> None:
        with contextlib.suppress(ValueError):
            self._viewers.remove(viewer)

    def _keyframe_now(self) -> bool:
        since = time.monotonic() - self._last_keyframe
        if since >= self._keyframe_interval or (self._keyframe_wanted and since >= KEYFRAME_GAP):
            self._keyframe_wanted = False
            return True
        return False

    async def _run(self) -> None:
        try:
            while True:
                try:
                    frame = await self._track.recv()
                except MediaStreamError:
                    return
                self.frames += 1
                keyframe = self.kind == "video" and self._keyframe_now()
                try:
                    packets = await self._encode(frame, keyframe)
                except av.FFmpegError as error:
                    logger.warning("media source %s: a frame did not encode: %s", self.name, error)
                    continue
                for packet in packets:
                    self._publish(packet)
        except Exception:
            logger.exception("media source %s failed", self.name)
        finally:
            self._finish()

    async def _encode(self, frame: object, keyframe: bool) -> list[Packet]:
        self.encodes += 1
        if isinstance(self._encoder, _VideoEncoder) and isinstance(frame, av.VideoFrame):
            return await asyncio.to_thread(self._encoder.encode, frame, keyframe)
        if isinstance(self._encoder, _AudioEncoder) and isinstance(frame, av.AudioFrame):
            return await asyncio.to_thread(self._encoder.encode, frame, keyframe)
        raise TypeError(f"a {self.kind} source got {type(frame).__name__}, not a decoded frame")

    def _publish(self, packet: Packet) -> None:
        self.packets += 1
        if packet.is_keyframe and self.kind == "video":
            self._last_keyframe = time.monotonic()
        for viewer in tuple(self._viewers):
            viewer._offer(packet)

    def _finish(self) -> None:
        self._ended = True
        for viewer in tuple(self._viewers):
            viewer._close()
        self._viewers.clear()
