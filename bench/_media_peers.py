"""The publisher and the viewers of bench/media.py, in a process apart from the node's.

`python -m bench._media_peers`, driven by JSON lines on stdin like bench/_media_node.py:

- {"op": "publish"} -> {"sdp": offer} (a moving 640x480 picture, VP8); {"op": "answer", "sdp"}
  -> {"ok": true};
- {"op": "offers", "sdps": [...]} -> {"sdps": [answers]}: one viewer per offer;
- {"op": "wait"} -> {"ok": true} once every viewer has had a frame;
- {"op": "count"} -> {"frames": [frames each viewer has had so far]};
- {"op": "quit"}.

Viewers are whole aiortc peers (ICE, DTLS, SRTP, RTCP feedback, jitter buffer), except that
they do not decode the pictures: the machine's cores are left to the node being measured,
and a viewer counts each complete frame its jitter buffer hands over instead. That the frames
decode is what tests/server/media/test_relay.py checks.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

import av
from aiortc import RTCPeerConnection, RTCSessionDescription, rtcrtpreceiver
from aiortc.codecs.base import Decoder
from aiortc.mediastreams import MediaStreamError

from tests.media_peers import PatternVideo, incoming, send

if TYPE_CHECKING:
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.mediastreams import MediaStreamTrack
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    from av.frame import Frame


class CountingDecoder(Decoder):
    """Hands over one tiny frame per complete encoded frame, without decoding it."""

    frame = av.VideoFrame(16, 16, "yuv420p")

    def decode(self, encoded_frame: JitterFrame) -> list[Frame]:
        return [self.frame]


def counting_decoder(codec: RTCRtpCodecParameters) -> Decoder:
    return CountingDecoder()


rtcrtpreceiver.get_decoder = counting_decoder  # type: ignore[attr-defined]


def answer(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


class Peers:
    def __init__(self) -> None:
        self.publisher = RTCPeerConnection()
        self.viewers: list[RTCPeerConnection] = []
        self.frames: list[int] = []
        self.first: list[asyncio.Event] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def publish(self) -> str:
        send(self.publisher, PatternVideo(), "video/VP8")
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        return self.publisher.localDescription.sdp

    async def view(self, sdp: str) -> str:
        pc = RTCPeerConnection()
        self.viewers.append(pc)
        index = len(self.frames)
        self.frames.append(0)
        self.first.append(asyncio.Event())
        tracks = incoming(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self.tasks.append(asyncio.create_task(self.count(index, tracks["video"])))
        return pc.localDescription.sdp

    async def count(self, index: int, track: asyncio.Future[MediaStreamTrack]) -> None:
        received = await track
        try:
            while True:
                await received.recv()
                self.frames[index] += 1
                self.first[index].set()
        except MediaStreamError:
            return

    async def close(self) -> None:
        for pc in [self.publisher, *self.viewers]:
            await pc.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def main() -> None:
    peers = Peers()
    try:
        while line := await asyncio.to_thread(sys.stdin.readline):
            request = json.loads(line)
            op = request["op"]
            if op == "publish":
                answer({"sdp": await peers.publish()})
            elif op == "answer":
                await peers.publisher.setRemoteDescription(
                    RTCSessionDescription(request["sdp"], "answer")
                )
                answer({"ok": True})
            elif op == "offers":
                answer({"sdps": await asyncio.gather(*map(peers.view, request["sdps"]))})
            elif op == "wait":
                async with asyncio.timeout(60):
                    await asyncio.gather(*(event.wait() for event in peers.first))
                answer({"ok": True})
            elif op == "count":
                answer({"frames": peers.frames})
            else:
                break
    finally:
        await peers.close()


if __name__ == "__main__":
    asyncio.run(main())
