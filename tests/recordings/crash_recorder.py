"""A recorder to be killed: `python -m tests.recordings.crash_recorder ROOT`.

Records VP8 (30 fps, a keyframe every 15 frames) in 2 s segments: prints a JSON line per closed
segment, then, with two segments closed and 1.5 s of the third written, prints `cut-ready` and
waits to be killed (SIGKILL) in the middle of that third segment.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recordings.segments import Encoding, Segment, TrackRecorder
from tests.recordings.media import vp8_packets

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import av

FPS = 30
SEGMENT_SECONDS = 2.0
WRITTEN = 2 * 2 * FPS + 45  # two whole segments, and 1.5 s of the third


async def closed(segment: Segment) -> None:
    line = {"name": segment.name, "sha256": segment.sha256, "size": segment.size,
            "duration_ms": segment.duration_ms, "packets": segment.packets}  # fmt: skip
    print(json.dumps(line), flush=True)


async def packets(forever: asyncio.Event) -> AsyncIterator[av.Packet[Any]]:
    for packet in vp8_packets(WRITTEN, fps=FPS, gop=15)[:WRITTEN]:
        yield packet
    # Asked for the next packet: the recorder has written every one before.
    print("cut-ready", flush=True)
    await forever.wait()


async def main(root: Path) -> None:
    recorder = TrackRecorder(
        root, "t1", "opening", "host", "video",
        encoding=Encoding.vp8(320, 240), segment_seconds=SEGMENT_SECONDS, on_closed=closed,
    )  # fmt: skip
    await recorder.run(packets(asyncio.Event()))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
