"""Live media in the demo (docs/media.md): the host's desk at the opening, the spoken 唱标, the
experts' workstations in the evaluation room, and the recordings checked against the log.

Every publisher sends PyAV's synthetic sources (lavfi `testsrc` and `sine`), small and slow so
that the demo stays light; every watcher really decodes what it receives and counts the frames.
Media goes to the node of the main venue only: with several sites, people at an edge neither
publish nor watch (`Demo.media_here`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from aiortc.mediastreams import MediaStreamError

from evaluator_client.media import MediaChannel, player_tracks, synthetic_tracks
from recordings.audit import read_body
from recordings.segments import verify
from recordings.vocabulary import EventType

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from aiortc.mediastreams import MediaStreamTrack

    from evaluator_client.media import MediaSession
    from evaluator_client.session import Session

# Small and slow test sources: the demo shows the path, not the picture.
WIDTH: Final = 320
HEIGHT: Final = 240
RATE: Final = 10
# How long a peer may take to connect, or a watcher to decode its first picture.
CONNECT_TIMEOUT: Final = 15.0


@dataclass
class Decoded:
    """What one watcher decoded of one source."""

    name: str
    room: str
    source: str
    video: int = 0
    audio: int = 0
    size: tuple[int, int] = (0, 0)
    pictured: asyncio.Event = field(default_factory=asyncio.Event)


class LiveMedia:
    """The demo's media channels, publishers and watchers; closed at the end of each act."""

    def __init__(self) -> None:
        self.channels: dict[str, list[MediaChannel]] = {}  # act -> its channels
        self.counting: list[asyncio.Task[None]] = []
        self.decoded: list[Decoded] = []
        self.published: list[MediaSession] = []

    async def publish(self, act: str, session: Session, tender: str, room: str) -> MediaSession:
        """`session`'s person publishes a test picture and tone in `room`, once connected."""
        channel = await self._channel(act, session)
        # Opening the lavfi sources is PyAV's blocking open: off the event loop.
        players = await asyncio.to_thread(synthetic_tracks, width=WIDTH, height=HEIGHT, rate=RATE)
        desk = await channel.publish(tender, room, player_tracks(players))
        desk.players = players  # stopped when the session ends
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await desk.connected()
        self.published.append(desk)
        return desk

    async def watch(
        self, act: str, name: str, session: Session, tender: str, room: str, source: str
    ) -> Decoded:
        """`name` watches `source` and decodes all it receives; returns once a picture is."""
        channel = await self._channel(act, session)
        watching = await channel.watch(tender, room, source)
        decoded = Decoded(name, room, watching.source)
        self.decoded.append(decoded)
        for kind, track in watching.received.items():
            self.counting.append(
                asyncio.create_task(_count(track, decoded, kind), name=f"decode-{name}-{kind}")
            )
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await watching.connected()
            await decoded.pictured.wait()
        return decoded

    async def end(self, act: str) -> None:
        """Close the act's channels: their sessions end on record, recorders close segments."""
        for channel in self.channels.pop(act, []):
            await channel.close()

    async def close(self) -> None:
        for act in list(self.channels):
            await self.end(act)
        for task in self.counting:
            task.cancel()
        for task in self.counting:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _channel(self, act: str, session: Session) -> MediaChannel:
        channel = MediaChannel(session.live_url, session.token)
        await channel.connect()
        self.channels.setdefault(act, []).append(channel)
        return channel


async def _count(track: MediaStreamTrack, decoded: Decoded, kind: str) -> None:
    """Decode `track` until it ends, counting its frames."""
    with contextlib.suppress(MediaStreamError):
        while True:
            frame: Any = await track.recv()
            if kind == "video":
                decoded.video += 1
                if not decoded.pictured.is_set():
                    decoded.size = (frame.width, frame.height)
                    decoded.pictured.set()
            else:
                decoded.audio += 1


@dataclass
class Recorded:
    """What a tender's log says of its media, and what `verify` found of it on disk."""

    sessions: dict[str, int] = field(default_factory=dict)  # direction -> sessions started
    ended: int = 0  # sessions ended
    segments: dict[str, int] = field(default_factory=dict)  # room -> segments closed
    seconds: dict[str, float] = field(default_factory=dict)  # room -> media seconds recorded
    spoken: dict[str, Any] | None = None  # the payload of opening.record_spoken
    problems: list[str] = field(default_factory=list)
    checked: int = 0


def recorded(root: Path, tender: str, records: Iterable[str]) -> Recorded:
    """Read the tender's log (`records`, each a stored record's body) and check the segment
    files under `root` against the hashes it gives (blocks: run it in a thread)."""
    found = Recorded()
    expected: dict[str, str] = {}
    for body in records:
        record = read_body(body)
        kind, payload = record["type"], record["payload"]
        if kind == EventType.MEDIA_SESSION_STARTED:
            _add(found.sessions, payload["direction"], 1)
        elif kind == EventType.MEDIA_SESSION_ENDED:
            found.ended += 1
        elif kind in (EventType.MEDIA_SEGMENT_CLOSED, EventType.MEDIA_SEGMENT_CUT):
            expected[payload["name"]] = payload["sha256"]
            room = payload["room"]
            _add(found.segments, room, 1)
            found.seconds[room] = found.seconds.get(room, 0.0) + payload["duration_ms"] / 1000
        elif kind == EventType.OPENING_RECORD_SPOKEN:
            found.spoken = dict(payload)
    problems = verify(root, expected, tender=tender)
    found.problems = [f"{problem.kind}: {problem.name}" for problem in problems]
    found.checked = len(expected)
    return found


def _add(counts: dict[str, int], key: str, step: int) -> None:
    counts[key] = counts.get(key, 0) + step


def summary(recording: Recorded, decoded: list[Decoded], line: Callable[[str], None]) -> int:
    """Print the media summary in the demo's style; returns how many recordings failed their
    check."""
    started = recording.sessions
    line(
        f"sessions: {started.get('publish', 0)} published, {started.get('watch', 0)} watched, "
        f"{recording.ended} ended, each on record"
    )
    for seen in decoded:
        line(
            f"{seen.name:<12} decoded {seen.video} pictures ({seen.size[0]}x{seen.size[1]}) "
            f"and {seen.audio} audio frames of {seen.room}/{seen.source}"
        )
    for room, count in sorted(recording.segments.items()):
        line(
            f"room {room:<8} {count:>3} segments recorded, {recording.seconds[room]:.1f}s of media"
        )
    spoken = recording.spoken
    if spoken is not None and spoken["spoken"]:
        seconds, text = spoken["duration_ms"] / 1000, spoken["text_sha256"]
        line(f"唱标 spoken: {seconds:.1f}s, text sha256 {text[:16]}…")
    else:  # the opening goes on without the voice (docs/media.md 5): said, not a failure
        line(f"唱标 not spoken: {spoken['reason'] if spoken else 'no opening.record_spoken'}")
    for problem in recording.problems:
        line(f"FAILED  recording {problem}")
    if not recording.problems:
        line(f"OK      {recording.checked} segments match the hashes in the log (录像校验)")
    return len(recording.problems)
