"""Media recordings in crash-safe segments: the writer, recovery after a crash, verification.

Specified in docs/spec/recordings.md. Every published track is recorded on the node that
receives it, as a run of fixed-length segments:

    {root}/{tender}/{room}/{source}/{track}/{index:06d}.webm

Why WebM (Matroska): its clusters are self-delimiting, so a file cut short by a crash is readable
up to its last whole cluster (an MP4 without its trailer, the `moov` index, is unreadable); it
carries VP8 and Opus, the codecs the node encodes, unchanged; and every browser plays it. The
muxer closes a cluster at least every second and flushes it to the file at once, so a SIGKILL
loses about a second of the segment being written, never a closed one.

A segment is written as `NNNNNN.webm.part` and only renamed to `NNNNNN.webm` once its trailer is
written and the file fsynced (the directory is fsynced after the rename), so a `.part` file is
exactly a segment cut short. `recover` renames those to `NNNNNN.cut.webm` at the node's start.
What the audit log records of a segment (its `Segment`) names the SHA-256 of the whole file's
bytes; `verify` checks the files against it.

Muxing, hashing and disk writes run in the recorder's own worker thread, never on the event
loop. The other functions here (`recover`, `probe`, `verify`, `remove`, ...) block: call them
in a thread from async code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import av

from recordings.errors import SegmentError, SegmentNameError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping

    from av.container import OutputContainer
    from av.stream import Stream

FORMAT_MARKER: Final = "bidroom-segment-v1"  # the Matroska title of every segment
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SEGMENT_FILE: Final = re.compile(r"(\d{6})(\.cut)?\.webm")
PART_FILE: Final = re.compile(r"(\d{6})\.webm\.part")
DEPTH: Final = 4  # tender / room / source / track
# FFmpeg's Matroska muxer keeps a cluster in memory until it closes, and the file behind a
# buffer: a cluster closes after 1 s or 256 KiB, and is written out as soon as it closes.
MUXER_OPTIONS: Final = {
    "cluster_time_limit": "1000",
    "cluster_size_limit": str(256 * 1024),
    "flush_packets": "1",
}
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Encoding:
    """What a track's packets are: VP8 video of a size, or Opus audio of a rate and channels.

    `time_base` is the packets' time base, used when a packet carries none.
    """

    kind: Literal["video", "audio"]
    codec: Literal["vp8", "opus"]
    time_base: Fraction
    width: int = 0
    height: int = 0
    sample_rate: int = 0
    channels: int = 0

    def __post_init__(self) -> None:
        if (self.kind, self.codec) not in {("video", "vp8"), ("audio", "opus")}:
            raise ValueError(f"Unsupported encoding: {self.kind} {self.codec}")
        if self.time_base <= 0:
            raise ValueError("The time base must be positive")
        if self.kind == "video" and (self.width <= 0 or self.height <= 0):
            raise ValueError("A video encoding needs its width and height")
        if self.kind == "audio" and (self.sample_rate <= 0 or self.channels not in {1, 2}):
            raise ValueError("An audio encoding needs its sample rate and 1 or 2 channels")

    @classmethod
    def vp8(cls, width: int, height: int, time_base: Fraction = Fraction(1, 90000)) -> Encoding:
        return cls("video", "vp8", time_base, width=width, height=height)

    @classmethod
    def opus(
        cls, sample_rate: int = 48000, channels: int = 2, time_base: Fraction | None = None
    ) -> Encoding:
        return cls(
            "audio",
            "opus",
            time_base or Fraction(1, sample_rate),
            sample_rate=sample_rate,
            channels=channels,
        )


@dataclass(frozen=True, slots=True)
class Segment:
    """A closed (or, `complete=False`, cut) segment: what the audit log records of it.

    `name` is the file's path under the root, posix style; `sha256` covers the whole file.
    `duration_ms` is media time from the packets' timestamps; `started` and `ended` are the
    wall clock of its first and last packets.
    """

    name: str
    index: int
    sha256: str
    size: int
    duration_ms: int
    started: datetime
    ended: datetime
    packets: int
    codec: str
    complete: bool

    def payload(self) -> dict[str, Any]:
        """The segment as docs/spec/recordings.md section 5 lists it, times as in the log."""
        return {
            "name": self.name,
            "index": self.index,
            "sha256": self.sha256,
            "size": self.size,
            "duration_ms": self.duration_ms,
            "started": self.started.astimezone(UTC).strftime(_TIME_FORMAT),
            "ended": self.ended.astimezone(UTC).strftime(_TIME_FORMAT),
            "packets": self.packets,
            "codec": self.codec,
            "complete": self.complete,
        }


class ProblemKind(StrEnum):
    MISSING = "missing"  # the log lists it, the disk doesn't have it
    ALTERED = "altered"  # its bytes don't hash to what the log says
    UNLISTED = "unlisted"  # on disk, not in the log


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of `verify`; `expected` and `actual` are hex SHA-256s where they apply."""

    kind: ProblemKind
    name: str
    expected: str | None = None
    actual: str | None = None


# Names and paths.


def check_name(name: str) -> str:
    """`name` if it may be a tender, room, source or track name; SegmentNameError otherwise."""
    if not NAME.fullmatch(name) or ".." in name:
        raise SegmentNameError(f"Not a valid recording name: {name!r}")
    return name


def segment_path(root: Path, name: str) -> Path:
    """The file of segment `name` under `root`, resolved; SegmentNameError if `name` is not a
    segment's name (`.part` files are not) or its path, symbolic links followed, leaves `root`.

    Touches the file system (it resolves links): call it in a thread from async code.
    """
    parts = name.split("/")
    if len(parts) != DEPTH + 1 or not SEGMENT_FILE.fullmatch(parts[-1]):
        raise SegmentNameError(f"Not a segment name: {name!r}")
    for part in parts[:-1]:
        check_name(part)
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base):
        raise SegmentNameError(f"Segment {name!r} leaves the recordings root")
    return path


# Files.


def sha256_file(path: Path) -> str:
    """Lowercase hex SHA-256 of the file's bytes."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _make_directories(root: Path, directory: Path) -> None:
    """Create `directory` under `root`, fsyncing each new entry's parent so it survives."""
    root.mkdir(parents=True, exist_ok=True)
    missing: list[Path] = []
    current = directory
    while not current.exists() and current != root:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        _fsync_directory(path.parent)


@dataclass(frozen=True, slots=True)
class _Reading:
    duration_ms: int
    frames: int
    packets: int
    codec: str
    created: datetime | None


def _read(path: Path) -> _Reading:
    """Demux and decode `path` up to its end or its first damaged part."""
    with av.open(str(path)) as container:
        stream = container.streams[0]
        created = container.metadata.get("creation_time")
        codec = stream.codec_context.name
        frames = packets = 0
        first: Fraction | None = None
        last = length = Fraction(0)
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the flush packet at the end
                    continue
                packets += 1
                for frame in cast("list[av.VideoFrame | av.AudioFrame]", packet.decode()):
                    at = (frame.pts or 0) * (frame.time_base or stream.time_base or Fraction(1))
                    if first is None:
                        first = at
                    length = _frame_length(frame, at - last if frames else Fraction(0))
                    last = at
                    frames += 1
        except av.FFmpegError:
            pass  # a cut file ends in a damaged cluster: what came before counts
    duration = 0 if first is None else round((last + length - first) * 1000)
    return _Reading(duration, frames, packets, codec, _parse_time(created))


def _frame_length(frame: av.VideoFrame | av.AudioFrame, since_last: Fraction) -> Fraction:
    """How long `frame` lasts: its samples, its duration, or else as long as the one before."""
    if isinstance(frame, av.AudioFrame) and frame.sample_rate:
        return Fraction(frame.samples, frame.sample_rate)
    if frame.duration and frame.time_base is not None:
        return frame.duration * frame.time_base
    return since_last


def _parse_time(text: str | None) -> datetime | None:
    """The header's start time, as FFmpeg gives it (`2026-11-21T09:00:00.060000Z`)."""
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def probe(path: Path) -> tuple[int, int]:
    """(duration in ms, frames) of a segment file, decoding it with PyAV up to its end or its
    first damaged part. Raises av.FFmpegError if the file has no readable header."""
    reading = _read(path)
    return reading.duration_ms, reading.frames


def _segment_files(root: Path, under: Path | None = None) -> Iterator[tuple[Path, str]]:
    """Every regular file below `under` (default `root`), with its name relative to root."""
    for directory, _dirs, files in os.walk(under or root):
        for file in files:
            path = Path(directory, file)
            yield path, path.relative_to(root).as_posix()


def recover(root: Path) -> list[Segment]:
    """Rename every segment cut short (`NNNNNN.webm.part`) to `NNNNNN.cut.webm` and describe it.

    Call it at the node's start, before any recorder runs. A cut segment's `duration_ms` and
    `frames` come from decoding what is readable (0 if nothing is); `started` is the time its
    header records (the file's modification time if the header is unreadable), and `ended` is
    `started` plus the readable duration.
    """
    if not root.is_dir():
        return []
    found: list[Segment] = []
    for path, name in sorted(_segment_files(root), key=lambda entry: entry[1]):
        match = PART_FILE.fullmatch(path.name)
        if match is None or len(PurePosixPath(name).parts) != DEPTH + 1:
            continue
        target = path.with_name(f"{match[1]}.cut.webm")
        if target.exists():
            raise SegmentError(f"Can't recover {name}: {target.name} exists")
        _fsync_file(path)
        path.rename(target)
        _fsync_directory(target.parent)
        found.append(_describe_cut(root, target, int(match[1])))
    return found


def on_disk(root: Path) -> list[str]:
    """The names of every segment file under `root`, closed or cut (not `.part`), sorted."""
    if not root.is_dir():
        return []
    return sorted(
        name
        for path, name in _segment_files(root)
        if SEGMENT_FILE.fullmatch(path.name) and len(PurePosixPath(name).parts) == DEPTH + 1
    )


def describe(root: Path, name: str) -> Segment:
    """A segment file as it is on disk: what the log would say of it. For a file the log does
    not name (its node stopped between closing it and recording it): complete unless `.cut`."""
    path = segment_path(root, name)
    match = SEGMENT_FILE.fullmatch(path.name)
    if match is None:  # pragma: no cover - segment_path checked the name
        raise SegmentNameError(f"Not a segment name: {name!r}")
    return dataclasses.replace(_describe_cut(root, path, int(match[1])), complete=match[2] is None)


def _describe_cut(root: Path, path: Path, index: int) -> Segment:
    try:
        reading = _read(path)
    except av.FFmpegError:
        reading = _Reading(0, 0, 0, "", None)
    started = reading.created or datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return Segment(
        name=path.relative_to(root).as_posix(),
        index=index,
        sha256=sha256_file(path),
        size=path.stat().st_size,
        duration_ms=reading.duration_ms,
        started=started,
        ended=started + timedelta(milliseconds=reading.duration_ms),
        packets=reading.packets,
        codec=reading.codec,
        complete=False,
    )


def verify(root: Path, expected: Mapping[str, str], *, tender: str | None = None) -> list[Problem]:
    """Check the segment files under `root` (or only the tender's, `tender` given) against
    `expected`, segment name -> hex SHA-256 as the audit log records them.

    Reports each listed file that is missing or whose bytes hash otherwise, and each file on
    disk the log doesn't list (a `.part` file included; a symbolic link is not followed, and
    has no `actual`), sorted by name.
    """
    problems: list[Problem] = []
    under = root / check_name(tender) if tender is not None else root
    on_disk = {name for _path, name in _segment_files(root, under)} if under.is_dir() else set()
    for name, digest in expected.items():
        path = segment_path(root, name)
        if not path.is_file():
            problems.append(Problem(ProblemKind.MISSING, name, expected=digest))
            continue
        actual = sha256_file(path)
        if actual != digest.lower():
            problems.append(Problem(ProblemKind.ALTERED, name, expected=digest, actual=actual))
    for name in on_disk - expected.keys():
        path = root / name
        found = None if path.is_symlink() else sha256_file(path)
        problems.append(Problem(ProblemKind.UNLISTED, name, actual=found))
    return sorted(problems, key=lambda problem: (problem.name, problem.kind))


def remove(root: Path, names: Iterable[str]) -> list[str]:
    """Delete the named segments (retention: the caller chooses them from the log), and the
    directories left empty, never `root` itself. Returns the names actually deleted; every name
    is checked first (SegmentNameError, and nothing deleted, if one is not a segment's)."""
    base = root.resolve()
    paths = [(name, segment_path(root, name)) for name in names]
    removed: list[str] = []
    for name, path in paths:
        if not path.is_file():
            continue
        path.unlink()
        removed.append(name)
        directory = path.parent
        while directory != base and directory.is_relative_to(base) and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent
    return removed


# Writing.


class _OpenSegment:
    """The segment being written: its container and what the Segment will say."""

    def __init__(
        self, root: Path, directory: Path, index: int, encoding: Encoding, started: datetime
    ) -> None:
        self.index = index
        self.final = directory / f"{index:06d}.webm"
        self.part = directory / f"{index:06d}.webm.part"
        self.name = self.final.relative_to(root).as_posix()
        self.encoding = encoding
        self.started = self.ended = started
        self.packets = 0
        self.first: Fraction | None = None
        self.last = Fraction(0)
        self.last_length = Fraction(0)
        if self.final.exists() or self.part.exists():
            raise SegmentError(f"Segment {self.name} exists already")
        self.container: OutputContainer = av.open(
            str(self.part), "w", format="webm", options=dict(MUXER_OPTIONS)
        )
        self.container.metadata["title"] = FORMAT_MARKER
        self.container.metadata["creation_time"] = started.astimezone(UTC).strftime(_TIME_FORMAT)
        self.stream = self._add_stream()

    def _add_stream(self) -> Stream:
        encoding = self.encoding
        if encoding.kind == "video":
            return self.container.add_mux_stream(
                "vp8", width=encoding.width, height=encoding.height
            )
        # Opus in Matroska needs its OpusHead as CodecPrivate: a libopus encoder context,
        # opened with the header and never fed, makes the standard one.
        return self.container.add_stream(
            "libopus",
            rate=encoding.sample_rate,
            layout="mono" if encoding.channels == 1 else "stereo",
        )

    def elapsed(self, at: Fraction) -> Fraction:
        return Fraction(0) if self.first is None else at - self.first

    def write(
        self, packet: av.Packet[Any], at: Fraction, time_base: Fraction, now: datetime
    ) -> None:
        if self.first is None:
            self.first = at
        elif at > self.last:
            self.last_length = at - self.last
        copy = av.Packet(bytes(packet))
        copy.time_base = time_base
        copy.pts = copy.dts = round((at - self.first) / time_base)  # VP8, Opus: dts = pts
        copy.duration = packet.duration or 0
        copy.is_keyframe = packet.is_keyframe
        copy.stream = self.stream
        self.container.mux(copy)
        if packet.duration:
            self.last_length = packet.duration * time_base
        self.last = at
        self.packets += 1
        self.ended = now

    def close(self, root: Path) -> Segment:
        """Trailer, fsync, rename, fsync the directory: the order docs/spec/recordings.md gives."""
        self.container.close()
        _fsync_file(self.part)
        digest = sha256_file(self.part)
        size = self.part.stat().st_size
        self.part.rename(self.final)
        _fsync_directory(self.final.parent)
        first = self.first if self.first is not None else Fraction(0)
        return Segment(
            name=self.name,
            index=self.index,
            sha256=digest,
            size=size,
            duration_ms=round((self.last + self.last_length - first) * 1000),
            started=self.started,
            ended=self.ended,
            packets=self.packets,
            codec=self.encoding.codec,
            complete=True,
        )


class _Writer:
    """The recorder's state on its worker thread: rolls segments and writes packets."""

    def __init__(
        self, root: Path, directory: Path, encoding: Encoding, segment_seconds: float
    ) -> None:
        self.root = root
        self.directory = directory
        self.encoding = encoding
        self.length = Fraction(segment_seconds)
        self.current: _OpenSegment | None = None
        self.next_index: int | None = None
        self.dropped = 0  # before the first keyframe, without a timestamp, or going backwards

    def _open(self, now: datetime) -> _OpenSegment:
        if self.next_index is None:
            _make_directories(self.root, self.directory)
            self.next_index = _next_index(self.directory)
        segment = _OpenSegment(self.root, self.directory, self.next_index, self.encoding, now)
        self.next_index += 1
        return segment

    def write(self, packet: av.Packet[Any], now: datetime) -> Segment | None:
        """Write `packet`; the segment it closed, if it started a new one."""
        time_base = packet.time_base or self.encoding.time_base
        if packet.pts is None:
            self.dropped += 1
            return None
        at = packet.pts * time_base
        starts = self.encoding.kind == "audio" or packet.is_keyframe
        closed: Segment | None = None
        if self.current is None:
            if not starts:
                self.dropped += 1  # video before its first keyframe can't be decoded
                return None
            self.current = self._open(now)
        elif at < self.current.last:
            self.dropped += 1
            return None
        elif starts and self.current.elapsed(at) >= self.length:
            closed = self.current.close(self.root)
            self.current = None  # stays so if the next one can't be opened
            self.current = self._open(now)
        self.current.write(packet, at, time_base, now)
        return closed

    def close(self) -> Segment | None:
        current, self.current = self.current, None
        return None if current is None else current.close(self.root)


def _next_index(directory: Path) -> int:
    """One past the highest index of any segment file in `directory` (0 if none): a recorder
    started again after a crash never overwrites a segment."""
    indices = [
        int(match[1])
        for entry in directory.iterdir()
        if (match := SEGMENT_FILE.fullmatch(entry.name) or PART_FILE.fullmatch(entry.name))
    ]
    return max(indices, default=-1) + 1


class TrackRecorder:
    """Records one track's encoded packets under `root`, in segments of `segment_seconds`.

    A new segment starts at the first keyframe once the current one holds `segment_seconds`
    of media (video), or at the first packet past that (audio); each starts at 0 ms. When a
    segment is closed, `on_closed` is awaited with it, in order, before the next packet is
    written; if it raises, `run` closes the current segment and raises it.
    """

    def __init__(
        self,
        root: Path,
        tender: str,
        room: str,
        source: str,
        track: str,
        *,
        encoding: Encoding,
        segment_seconds: float = 10.0,
        on_closed: Callable[[Segment], Awaitable[None]],
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if segment_seconds <= 0:
            raise ValueError("segment_seconds must be positive")
        for name in (tender, room, source, track):
            check_name(name)
        self.root = root
        self.encoding = encoding
        self._directory = root / tender / room / source / track
        self._writer = _Writer(root, self._directory, encoding, segment_seconds)
        self._on_closed = on_closed
        self._clock = clock
        self._started = False

    @property
    def dropped(self) -> int:
        """Packets not written: video before its first keyframe, without a timestamp, or
        with one earlier than the packet before."""
        return self._writer.dropped

    async def run(self, packets: AsyncIterator[av.Packet[Any]]) -> None:
        """Write every packet until `packets` ends or the task is cancelled, then close the
        last segment (its callback too). Runs once per recorder.

        Cancelled again while closing, the last segment is still closed (its file complete)
        but its callback is not run; a callback cancelled midway is not run again.
        """
        if self._started:
            raise RuntimeError("A TrackRecorder runs once")
        self._started = True
        loop = asyncio.get_running_loop()
        # One thread per recorder: the container is used from one thread, in packet order.
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
        try:
            async for packet in packets:
                closed = await loop.run_in_executor(
                    thread, self._writer.write, packet, self._clock()
                )
                if closed is not None:
                    await self._on_closed(closed)
        finally:
            # Queued behind a write still running when cancelled, so it closes after it.
            try:
                last = await loop.run_in_executor(thread, self._writer.close)
            finally:
                thread.shutdown(wait=False)  # its queue is empty: it ends by itself
            if last is not None:
                await self._on_closed(last)
