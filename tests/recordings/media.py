"""Encoded packets for the segment tests, made with PyAV's own libvpx and libopus encoders.

The frames change every time so the encoder has something to code; no camera, no numpy.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import av

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

VIDEO_TIME_BASE = Fraction(1, 90000)
AUDIO_RATE = 48000
AUDIO_FRAME = 960  # 20 ms at 48 kHz


def vp8_packets(
    frames: int, *, fps: int = 30, gop: int = 15, width: int = 320, height: int = 240
) -> list[av.Packet[Any]]:
    """`frames` frames of VP8 at `fps`, a keyframe every `gop` frames, pts in 1/90000 s."""
    encoder = av.CodecContext.create("libvpx", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = VIDEO_TIME_BASE
    encoder.framerate = Fraction(fps)
    encoder.gop_size = gop
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    packets: list[av.Packet[Any]] = []
    step = VIDEO_TIME_BASE.denominator // fps
    for index in range(frames):
        frame = av.VideoFrame(width, height, "yuv420p")
        for number, plane in enumerate(frame.planes):
            pattern = bytes((index * 7 + number * 50 + i) % 256 for i in range(256))
            size = plane.buffer_size
            plane.update(pattern * (size // 256) + pattern[: size % 256])
        frame.pts, frame.time_base = index * step, VIDEO_TIME_BASE
        # Force the keyframes where the test wants them (libvpx may add its own otherwise).
        frame.pict_type = av.video.frame.PictureType.I if index % gop == 0 else 0
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    return packets


def opus_packets(count: int, *, channels: int = 2) -> list[av.Packet[Any]]:
    """About `count` packets of Opus (20 ms each, 48 kHz) of a tone, pts in 1/48000 s."""
    encoder = av.CodecContext.create("libopus", "w")
    assert isinstance(encoder, av.AudioCodecContext)
    encoder.sample_rate = AUDIO_RATE
    encoder.layout = "mono" if channels == 1 else "stereo"
    encoder.format = "s16"
    encoder.time_base = Fraction(1, AUDIO_RATE)
    packets: list[av.Packet[Any]] = []
    for index in range(count):
        frame = av.AudioFrame(format="s16", layout=encoder.layout, samples=AUDIO_FRAME)
        samples = (
            int(3000 * math.sin(2 * math.pi * 440 * (index * AUDIO_FRAME + i) / AUDIO_RATE))
            for i in range(AUDIO_FRAME)
        )
        frame.planes[0].update(b"".join(struct.pack("<h", s) * channels for s in samples))
        frame.sample_rate, frame.pts = AUDIO_RATE, index * AUDIO_FRAME
        frame.time_base = encoder.time_base
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    return packets


async def feed(packets: Iterable[av.Packet[Any]]) -> AsyncIterator[av.Packet[Any]]:
    """The packets as the async iterator a recorder reads."""
    for packet in packets:
        yield packet
