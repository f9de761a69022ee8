"""Recordings in segments (docs/spec/recordings.md): rolling, decoding, the callback's facts,
names that can't leave the root, verification, removal, and a recorder killed mid-segment.

Packets come from PyAV's own libvpx and libopus encoders (tests/recordings/media.py); every
segment written is decoded again with PyAV.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import pytest

from recordings.errors import SegmentError, SegmentNameError
from recordings.segments import (
    FORMAT_MARKER,
    Encoding,
    Problem,
    ProblemKind,
    Segment,
    TrackRecorder,
    probe,
    recover,
    remove,
    segment_path,
    sha256_file,
    verify,
)
from tests.recordings.media import feed, opus_packets, vp8_packets

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
FRAME_MS = 1000 / 30
ROOT_OF_REPOSITORY = Path(__file__).resolve().parents[2]


class TickingClock:
    """A wall clock that moves 1 ms each time it is read: one read per packet."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> datetime:
        self.reads += 1
        return START + timedelta(milliseconds=self.reads - 1)

    def at(self, read: int) -> datetime:
        return START + timedelta(milliseconds=read)


async def record(
    root: Path,
    packets: Iterable[av.Packet[Any]],
    encoding: Encoding,
    *,
    track: str = "video",
    segment_seconds: float = 2.0,
    clock: TickingClock | None = None,
) -> tuple[list[Segment], TrackRecorder]:
    segments: list[Segment] = []

    async def closed(segment: Segment) -> None:
        segments.append(segment)

    recorder = TrackRecorder(
        root, "t1", "opening", "host", track, encoding=encoding,
        segment_seconds=segment_seconds, on_closed=closed, clock=clock or TickingClock(),
    )  # fmt: skip
    async with asyncio.timeout(20):
        await recorder.run(feed(packets))
    return segments, recorder


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


async def test_video_rolls_at_the_first_keyframe_after_the_length(tmp_path: Path) -> None:
    # 5.5 s at 30 fps, a keyframe every 0.5 s, segments of 2 s: 60 + 60 + 45 frames.
    clock = TickingClock()
    segments, recorder = await record(
        tmp_path, vp8_packets(165), Encoding.vp8(320, 240), clock=clock
    )
    assert [s.name for s in segments] == [
        "t1/opening/host/video/000000.webm",
        "t1/opening/host/video/000001.webm",
        "t1/opening/host/video/000002.webm",
    ]
    assert [s.index for s in segments] == [0, 1, 2]
    assert [s.packets for s in segments] == [60, 60, 45]
    assert recorder.dropped == 0
    assert all(s.complete and s.codec == "vp8" for s in segments)
    # Each starts at 0 ms and lasts its frames (the last one lasts as long as the one before).
    for segment, frames in zip(segments, (60, 60, 45), strict=True):
        assert abs(segment.duration_ms - frames * FRAME_MS) <= FRAME_MS
        path = tmp_path / segment.name
        duration, decoded = await asyncio.to_thread(probe, path)
        assert decoded == frames
        assert abs(duration - segment.duration_ms) <= FRAME_MS
        assert await asyncio.to_thread(sha256_file, path) == segment.sha256
        assert path.stat().st_size == segment.size
    # The wall clock of each segment's first and last packets (one clock read per packet).
    assert [(s.started, s.ended) for s in segments] == [
        (clock.at(0), clock.at(59)), (clock.at(60), clock.at(119)), (clock.at(120), clock.at(164)),
    ]  # fmt: skip
    assert files(tmp_path) == [s.name for s in segments]  # no .part left


def first_frame_and_marker(path: Path) -> tuple[int | None, str, str]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.pts, container.metadata["title"], container.metadata["creation_time"]


def test_a_segment_payload_is_what_the_spec_lists() -> None:
    segment = Segment(
        name="t1/opening/host/video/000003.webm", index=3, sha256="ab" * 32, size=10,
        duration_ms=10_000, started=START, ended=START + timedelta(seconds=9.967), packets=300,
        codec="vp8", complete=True,
    )  # fmt: skip
    assert segment.payload() == {
        "name": "t1/opening/host/video/000003.webm", "index": 3, "sha256": "ab" * 32,
        "size": 10, "duration_ms": 10_000, "started": "2026-11-21T09:00:00.000000Z",
        "ended": "2026-11-21T09:00:09.967000Z", "packets": 300, "codec": "vp8",
        "complete": True,
    }  # fmt: skip


async def test_a_segment_starts_at_zero_and_names_its_format_and_start(tmp_path: Path) -> None:
    segments, _ = await record(tmp_path, vp8_packets(90), Encoding.vp8(320, 240))
    second = await asyncio.to_thread(first_frame_and_marker, tmp_path / segments[1].name)
    assert second == (0, FORMAT_MARKER, "2026-11-21T09:00:00.060000Z")


async def test_video_waits_for_a_keyframe_to_roll(tmp_path: Path) -> None:
    # A keyframe every 1.5 s, segments of 1 s: each segment runs to the next keyframe.
    segments, _ = await record(
        tmp_path, vp8_packets(100, gop=45), Encoding.vp8(320, 240), segment_seconds=1.0
    )
    assert [s.packets for s in segments] == [45, 45, 10]


async def test_video_before_its_first_keyframe_is_dropped(tmp_path: Path) -> None:
    segments, recorder = await record(tmp_path, vp8_packets(75)[5:], Encoding.vp8(320, 240))
    assert recorder.dropped == 10  # frames 5 to 14; frame 15 is a keyframe
    assert [s.packets for s in segments] == [60]
    assert (await asyncio.to_thread(probe, tmp_path / segments[0].name))[1] == 60


async def test_audio_rolls_after_the_length(tmp_path: Path) -> None:
    packets = opus_packets(130)  # 131 packets of 20 ms (the encoder's flush adds one)
    segments, _ = await record(
        tmp_path, packets, Encoding.opus(), track="audio", segment_seconds=1.0
    )
    assert [s.packets for s in segments] == [50, 50, 31]
    assert all(s.codec == "opus" and s.complete for s in segments)
    # The encoder's last packet holds 312 samples (6.5 ms): 30 x 20 + 6.5, rounded to even.
    assert [s.duration_ms for s in segments] == [1000, 1000, 606]
    for segment in segments:
        duration, frames = await asyncio.to_thread(probe, tmp_path / segment.name)
        assert frames == segment.packets
        # Opus's decoder drops its pre-skip (312 samples, 6.5 ms) of the first segment's start.
        assert abs(duration - segment.duration_ms) <= 20


async def test_mono_audio_is_recorded(tmp_path: Path) -> None:
    segments, _ = await record(
        tmp_path, opus_packets(20, channels=1), Encoding.opus(channels=1), track="speech"
    )
    assert [s.name for s in segments] == ["t1/opening/host/speech/000000.webm"]
    assert (await asyncio.to_thread(probe, tmp_path / segments[0].name))[1] == 21


async def test_packets_without_time_or_going_backwards_are_dropped(tmp_path: Path) -> None:
    packets = vp8_packets(30)
    packets[3].pts = None
    packets[5].pts = 0
    segments, recorder = await record(tmp_path, packets, Encoding.vp8(320, 240))
    assert recorder.dropped == 2
    assert [s.packets for s in segments] == [28]


async def test_a_recorder_started_again_continues_the_numbering(tmp_path: Path) -> None:
    await record(tmp_path, vp8_packets(30), Encoding.vp8(320, 240))
    directory = tmp_path / "t1/opening/host/video"
    (directory / "000000.webm").rename(directory / "000004.cut.webm")
    segments, _ = await record(tmp_path, vp8_packets(30), Encoding.vp8(320, 240))
    assert [s.index for s in segments] == [5]


async def stalled(packets: list[av.Packet[Any]], reached: asyncio.Event) -> AsyncIterator[Any]:
    for packet in packets:
        yield packet
    reached.set()
    await asyncio.Event().wait()


async def test_cancelling_closes_the_last_segment(tmp_path: Path) -> None:
    segments: list[Segment] = []

    async def closed(segment: Segment) -> None:
        segments.append(segment)

    recorder = TrackRecorder(
        tmp_path, "t1", "lot-1", "ws-3", "video", encoding=Encoding.vp8(320, 240),
        on_closed=closed,
    )  # fmt: skip
    reached = asyncio.Event()
    task = asyncio.create_task(recorder.run(stalled(vp8_packets(40), reached)))
    async with asyncio.timeout(20):
        await reached.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [(s.name, s.packets, s.complete) for s in segments] == [
        ("t1/lot-1/ws-3/video/000000.webm", 40, True)
    ]
    assert (await asyncio.to_thread(probe, tmp_path / segments[0].name))[1] == 40
    with pytest.raises(RuntimeError, match="runs once"):
        await recorder.run(feed([]))


async def test_a_failing_callback_stops_the_recorder_after_closing(tmp_path: Path) -> None:
    async def closed(segment: Segment) -> None:
        raise OSError("the log is away")

    recorder = TrackRecorder(
        tmp_path, "t1", "opening", "host", "video", encoding=Encoding.vp8(320, 240),
        segment_seconds=1.0, on_closed=closed,
    )  # fmt: skip
    with pytest.raises(OSError, match="the log is away"):
        async with asyncio.timeout(20):
            await recorder.run(feed(vp8_packets(60)))
    # The first segment's callback failed; the second was closed on the way out.
    assert files(tmp_path) == [
        "t1/opening/host/video/000000.webm", "t1/opening/host/video/000001.webm"
    ]  # fmt: skip


async def test_an_empty_track_writes_nothing(tmp_path: Path) -> None:
    segments, _ = await record(tmp_path, [], Encoding.vp8(320, 240))
    assert segments == []
    assert not tmp_path.joinpath("t1").exists()


async def test_a_segment_is_never_overwritten(tmp_path: Path) -> None:
    directory = tmp_path / "t1/opening/host/video"
    directory.mkdir(parents=True)
    (directory / "000000.webm").write_bytes(b"closed before")
    segments, _ = await record(tmp_path, vp8_packets(3), Encoding.vp8(320, 240))
    assert [s.index for s in segments] == [1]
    assert (directory / "000000.webm").read_bytes() == b"closed before"


def test_a_segment_file_in_the_way_is_refused(tmp_path: Path) -> None:
    from recordings.segments import _OpenSegment

    directory = tmp_path / "t1/opening/host/video"
    directory.mkdir(parents=True)
    (directory / "000003.webm.part").write_bytes(b"")
    with pytest.raises(SegmentError, match="exists already"):
        _OpenSegment(tmp_path, directory, 3, Encoding.vp8(320, 240), START)


@pytest.mark.parametrize(
    "name",
    [
        "../t1/opening/host/video/000000.webm",
        "t1/../opening/host/video/000000.webm",
        "t1/opening/host/video/../000000.webm",
        "/t1/opening/host/video/000000.webm",
        "t1/opening/host/000000.webm",
        "t1/opening/host/video/extra/000000.webm",
        "t1/opening/host/video/000000.webm.part",
        "t1/opening/host/video/0.webm",
        "t1/opening/host/video/000000.mp4",
        "t1/opening/.host/video/000000.webm",
        "t1/opening/a..b/video/000000.webm",
        "t1//host/video/000000.webm",
        "t1\\opening/host/video/000000.webm",
        "t1/opening/host/video/000000.webm\x00",
    ],
)
def test_names_that_are_not_segments_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(SegmentNameError):
        segment_path(tmp_path, name)


def test_segment_names_resolve_under_the_root(tmp_path: Path) -> None:
    assert segment_path(tmp_path, "t1/lot-2/ws_1/audio/000007.cut.webm") == (
        tmp_path.resolve() / "t1/lot-2/ws_1/audio/000007.cut.webm"
    )


def test_a_link_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "t1/opening/host").mkdir(parents=True)
    outside.mkdir()
    (root / "t1/opening/host/video").symlink_to(outside)
    with pytest.raises(SegmentNameError, match="leaves the recordings root"):
        segment_path(root, "t1/opening/host/video/000000.webm")


@pytest.mark.parametrize(
    ("tender", "room", "source", "track"),
    [("..", "opening", "host", "video"), ("t1", "a/b", "host", "video"),
     ("t1", "opening", "", "video"), ("t1", "opening", "host", "x" * 65)],
)  # fmt: skip
def test_a_recorder_refuses_bad_names(tender: str, room: str, source: str, track: str) -> None:
    async def closed(segment: Segment) -> None:
        del segment

    with pytest.raises(SegmentNameError):
        TrackRecorder(
            Path("/nonexistent"), tender, room, source, track,
            encoding=Encoding.vp8(2, 2), on_closed=closed,
        )  # fmt: skip


def test_encodings_are_checked() -> None:
    assert Encoding.opus() == Encoding("audio", "opus", Fraction(1, 48000), 0, 0, 48000, 2)
    with pytest.raises(ValueError, match="Unsupported"):
        Encoding("video", "opus", Fraction(1, 1000), width=2, height=2)
    with pytest.raises(ValueError, match="width and height"):
        Encoding.vp8(0, 240)
    with pytest.raises(ValueError, match="channels"):
        Encoding.opus(channels=6)
    with pytest.raises(ValueError, match="time base"):
        Encoding.vp8(2, 2, Fraction(0))
    with pytest.raises(ValueError, match="segment_seconds"):
        TrackRecorder(
            Path("/nonexistent"), "t1", "opening", "host", "video",
            encoding=Encoding.vp8(2, 2), segment_seconds=0, on_closed=None,  # type: ignore[arg-type]
        )  # fmt: skip


async def test_verify_finds_altered_missing_and_unlisted_files(tmp_path: Path) -> None:
    segments, _ = await record(tmp_path, vp8_packets(150), Encoding.vp8(320, 240))
    expected = {s.name: s.sha256 for s in segments}
    assert await asyncio.to_thread(verify, tmp_path, expected) == []
    assert await asyncio.to_thread(verify, tmp_path, expected, tender="t1") == []
    (tmp_path / "t2").mkdir()
    (tmp_path / "t2/note").write_bytes(b"")
    assert await asyncio.to_thread(verify, tmp_path, expected, tender="t1") == []
    assert await asyncio.to_thread(verify, tmp_path, expected) == [
        Problem(ProblemKind.UNLISTED, "t2/note", actual=hashlib.sha256(b"").hexdigest())
    ]

    first, second, third = (tmp_path / s.name for s in segments)
    with first.open("r+b") as file:  # one byte of the media changed
        file.seek(first.stat().st_size // 2)
        byte = file.read(1)
        file.seek(-1, os.SEEK_CUR)
        file.write(bytes([byte[0] ^ 1]))
    second.unlink()
    stray = third.with_name("000009.webm.part")
    stray.write_bytes(b"stray")
    (tmp_path / "elsewhere").write_bytes(b"not to be read")
    third.with_name("000010.webm").symlink_to(tmp_path / "elsewhere")
    problems = await asyncio.to_thread(verify, tmp_path, expected, tender="t1")
    assert problems == [
        Problem(ProblemKind.ALTERED, segments[0].name, segments[0].sha256,
                await asyncio.to_thread(sha256_file, first)),
        Problem(ProblemKind.MISSING, segments[1].name, segments[1].sha256),
        Problem(ProblemKind.UNLISTED, "t1/opening/host/video/000009.webm.part",
                actual=await asyncio.to_thread(sha256_file, stray)),
        Problem(ProblemKind.UNLISTED, "t1/opening/host/video/000010.webm"),
    ]  # fmt: skip
    # A tender with no recordings and none expected is fine.
    assert await asyncio.to_thread(verify, tmp_path, {}, tender="t3") == []
    with pytest.raises(SegmentNameError):
        await asyncio.to_thread(verify, tmp_path, {"../x/a/b/c/000000.webm": "00"})


async def test_remove_deletes_segments_and_empty_directories_only(tmp_path: Path) -> None:
    root = tmp_path / "root"
    segments, _ = await record(root, vp8_packets(90), Encoding.vp8(320, 240))
    await record(root, vp8_packets(3), Encoding.vp8(320, 240), track="audio-copy")
    outside = tmp_path / "keep.webm"
    outside.write_bytes(b"keep")
    with pytest.raises(SegmentNameError):
        await asyncio.to_thread(remove, root, [segments[0].name, "../../keep.webm"])
    assert all((root / s.name).exists() for s in segments)  # nothing deleted

    names = [s.name for s in segments]
    removed = await asyncio.to_thread(remove, root, [*names, "t1/opening/host/video/000099.webm"])
    assert removed == names  # what was not there is not reported
    assert files(root) == ["t1/opening/host/audio-copy/000000.webm"]
    assert not (root / "t1/opening/host/video").exists()
    await asyncio.to_thread(remove, root, ["t1/opening/host/audio-copy/000000.webm"])
    assert root.is_dir()
    assert list(root.iterdir()) == []
    assert outside.read_bytes() == b"keep"


def test_recover_without_recordings_finds_nothing(tmp_path: Path) -> None:
    assert recover(tmp_path / "absent") == []
    (tmp_path / "000000.webm.part").write_bytes(b"not at a segment's depth")
    assert recover(tmp_path) == []


def test_an_unreadable_cut_segment_has_no_duration(tmp_path: Path) -> None:
    directory = tmp_path / "t1/opening/host/video"
    directory.mkdir(parents=True)
    (directory / "000002.webm.part").write_bytes(b"")
    os.utime(directory / "000002.webm.part", (START.timestamp(), START.timestamp()))
    (cut,) = recover(tmp_path)
    assert cut == Segment(
        name="t1/opening/host/video/000002.cut.webm", index=2,
        sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", size=0,
        duration_ms=0, started=START, ended=START, packets=0, codec="", complete=False,
    )  # fmt: skip
    (directory / "000002.webm.part").write_bytes(b"")
    with pytest.raises(SegmentError, match="exists"):
        recover(tmp_path)


def noise(size: int) -> bytes:
    return b"".join(hashlib.sha256(i.to_bytes(4)).digest() for i in range(size // 32 + 1))[:size]


async def test_a_cut_segment_counts_what_decodes(tmp_path: Path) -> None:
    (segment,), _ = await record(tmp_path, vp8_packets(30), Encoding.vp8(320, 240))
    path = tmp_path / segment.name
    part = path.with_name("000000.webm.part")
    data = path.read_bytes()
    cluster = data.index(bytes.fromhex("1f43b675"))  # the first Matroska Cluster
    part.write_bytes(data[: cluster + 32] + noise(len(data) - cluster - 32))
    path.unlink()
    (cut,) = await asyncio.to_thread(recover, tmp_path)
    # The first block's head is intact, so it is read as a packet; its data is noise, which
    # the decoder refuses, and the reading ends there.
    assert (cut.packets, cut.duration_ms, cut.started) == (1, 0, START)
    assert await asyncio.to_thread(probe, tmp_path / cut.name) == (0, 0)


def write_foreign(path: Path) -> None:
    """A WebM made by someone else: no start time in its header."""
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_mux_stream("vp8", width=320, height=240)
        for packet in vp8_packets(3):
            packet.stream = stream
            container.mux(packet)


def test_a_cut_segment_without_a_start_time_is_dated_by_its_file(tmp_path: Path) -> None:
    directory = tmp_path / "t1/opening/host/video"
    directory.mkdir(parents=True)
    write_foreign(directory / "000000.webm.part")
    os.utime(directory / "000000.webm.part", (START.timestamp(), START.timestamp()))
    (cut,) = recover(tmp_path)
    # Three frames at 0, 33 and 67 ms (Matroska counts in ms), the last as long as the one before.
    assert (cut.packets, cut.started, cut.ended) == (3, START, START + timedelta(milliseconds=101))


async def run_until_cut(root: Path) -> list[dict[str, Any]]:
    """Run the crash recorder, collect its closed segments, SIGKILL it mid-segment."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.recordings.crash_recorder", str(root),
        cwd=ROOT_OF_REPOSITORY, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    closed: list[dict[str, Any]] = []
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            while (line := await process.stdout.readline()).strip() != b"cut-ready":
                assert line, "the recorder ended before it was killed"
                closed.append(json.loads(line))
        process.send_signal(signal.SIGKILL)
    finally:
        if process.returncode is None:
            process.kill()
        async with asyncio.timeout(10):
            await process.wait()
    assert process.returncode == -signal.SIGKILL
    return closed


async def test_a_recorder_killed_mid_segment_leaves_closed_segments_intact(
    tmp_path: Path,
) -> None:
    closed = await run_until_cut(tmp_path)
    await asyncio.to_thread(check_after_the_crash, tmp_path, closed)


def check_after_the_crash(root: Path, closed: list[dict[str, Any]]) -> None:
    directory = root / "t1/opening/host/video"
    assert sorted(p.name for p in directory.iterdir()) == [
        "000000.webm", "000001.webm", "000002.webm.part"
    ]  # fmt: skip
    # The closed segments decode fully and match what the recorder reported.
    assert [c["name"] for c in closed] == [
        "t1/opening/host/video/000000.webm", "t1/opening/host/video/000001.webm"
    ]  # fmt: skip
    for segment in closed:
        path = root / segment["name"]
        assert sha256_file(path) == segment["sha256"]
        assert path.stat().st_size == segment["size"]
        assert probe(path) == (segment["duration_ms"], 60)
    assert verify(root, {c["name"]: c["sha256"] for c in closed}) == [
        Problem(ProblemKind.UNLISTED, "t1/opening/host/video/000002.webm.part",
                actual=sha256_file(directory / "000002.webm.part")),
    ]  # fmt: skip

    (cut,) = recover(root)
    assert (cut.name, cut.index, cut.complete, cut.codec) == (
        "t1/opening/host/video/000002.cut.webm", 2, False, "vp8"
    )  # fmt: skip
    path = root / cut.name
    assert (cut.sha256, cut.size) == (sha256_file(path), path.stat().st_size)
    # 45 frames (1.5 s) were written; the muxer had flushed its first cluster (1 s, 30 frames)
    # and held the rest in memory when killed.
    assert probe(path) == (cut.duration_ms, cut.packets)
    assert cut.packets == 30
    assert abs(cut.duration_ms - 30 * FRAME_MS) <= FRAME_MS
    assert cut.ended - cut.started == timedelta(milliseconds=cut.duration_ms)
    assert recover(root) == []  # recovered once
