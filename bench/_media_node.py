"""The node of bench/media.py, in a process of its own so that its CPU alone is measured.

`python -m bench._media_node relay|baseline`, driven by JSON lines on stdin, one JSON answer
line each on stdout:

- {"op": "publish", "sdp": offer} -> {"sdp": answer}, then {"ready": true} at the first frame;
- {"op": "viewers", "count": n} -> {"sdps": [n offers]}; {"op": "answers", "sdps": [...]} ->
  {"ok": true}: n more viewers of the published video;
- {"op": "measure", "seconds": s} -> {"cpu": share of one core, "rss_mib": ..., "dropped": ...};
- {"op": "record"} -> {"ok": true}: the published video is recorded from now on (relay only), in
  WebM segments in a temporary directory, as the node records every published track;
- {"op": "quit"}.

relay: the published track goes through server.media.relay.Source, encoded once. baseline:
aiortc.contrib.media.MediaRelay subscribes each viewer to the decoded track (unbuffered: the
latest frame), so each viewer's sender encodes it, as aiortc does by default.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from recordings.segments import TrackRecorder
from server.media.relay import Source, Viewer
from tests.media_peers import incoming, send

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

    from recordings.segments import Segment


def rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def answer(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


class Node:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.peers: list[RTCPeerConnection] = []
        self.pending: list[RTCPeerConnection] = []
        self.track: MediaStreamTrack | None = None
        self.source: Source | None = None
        self.relay = MediaRelay()
        self.viewers: list[Viewer] = []
        self.recording: asyncio.Task[None] | None = None
        self.directory = tempfile.TemporaryDirectory(prefix="bench-recording-")

    async def record(self) -> None:
        """Record the published video as the hub does: a tap into a TrackRecorder."""
        assert self.source is not None
        assert self.source.encoding is not None
        encoding = self.source.encoding
        recorder = TrackRecorder(
            Path(self.directory.name), "bench", "opening", "host", "video",
            encoding=encoding.recorded(), segment_seconds=10.0, on_closed=_nothing,
        )  # fmt: skip
        self.recording = asyncio.create_task(recorder.run(self.source.tap().packets()))

    async def publish(self, sdp: str) -> None:
        pc = RTCPeerConnection()
        self.peers.append(pc)
        tracks = incoming(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        answer({"sdp": pc.localDescription.sdp})
        self.track = await tracks["video"]
        if self.mode == "relay":
            self.source = Source(self.track, name="bench")
            self.source.start()
            reader = self.source.tap()
            await reader.recv()
            reader.stop()
        answer({"ready": True})

    def viewer_track(self) -> MediaStreamTrack:
        assert self.track is not None
        if self.source is not None:
            viewer = self.source.subscribe()
            self.viewers.append(viewer)
            return viewer
        return self.relay.subscribe(self.track, buffered=False)

    async def offer(self) -> str:
        pc = RTCPeerConnection()
        self.pending.append(pc)
        send(pc, self.viewer_track(), "video/VP8")
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp

    async def answers(self, sdps: list[str]) -> None:
        pending, self.pending = self.pending, []
        await asyncio.gather(*(
            pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
            for pc, sdp in zip(pending, sdps, strict=True)
        ))  # fmt: skip
        self.peers += pending

    async def measure(self, seconds: float) -> dict[str, Any]:
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)  # the measured window itself
        share = (time.process_time() - cpu) / (time.perf_counter() - wall)
        dropped = sum(viewer.dropped for viewer in self.viewers)
        return {"cpu": share, "rss_mib": rss_mib(), "dropped": dropped}

    async def close(self) -> None:
        if self.source is not None:
            await self.source.stop()
        if self.recording is not None:
            await self.recording
        for pc in self.peers + self.pending:
            await pc.close()
        self.directory.cleanup()


async def _nothing(segment: Segment) -> None:
    """Segments closed in the benchmark are not logged anywhere."""


async def main(mode: str) -> None:
    node = Node(mode)
    try:
        while line := await asyncio.to_thread(sys.stdin.readline):
            request = json.loads(line)
            op = request["op"]
            if op == "publish":
                await node.publish(request["sdp"])
            elif op == "viewers":
                offers = [node.offer() for _ in range(request["count"])]
                answer({"sdps": await asyncio.gather(*offers)})
            elif op == "answers":
                await node.answers(request["sdps"])
                answer({"ok": True})
            elif op == "measure":
                answer(await node.measure(request["seconds"]))
            elif op == "record":
                await node.record()
                answer({"ok": True})
            else:
                break
    finally:
        await node.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
