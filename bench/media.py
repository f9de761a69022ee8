"""Live video fan-out: the node's CPU for one 640x480 publisher and 1 to 32 viewers.

bidroom's relay (server/media/relay.py: encode once, every viewer's sender only packetizes)
against aiortc's default path, measured in the same run (MediaRelay shares the decoded track
and every viewer's sender encodes it).

The node runs alone in its process (bench/_media_node.py); its whole-process CPU time
(`time.process_time`, every thread) over a fixed window is given as a share of one core. The
publisher and the viewers are aiortc peers in another process (bench/_media_peers.py), which
also counts the frames each viewer gets: a path that cannot keep up shows as fewer than 30
frames per second. "Viewers per core" is viewers / CPU share at the largest count where every
viewer still got at least KEPT_UP of the publisher's frame rate. The node's RSS is read at the
start and at the end of a longer window with 16 viewers (`--minutes`). Recording's cost is the
node's CPU with its largest viewer count, before and after it starts recording the published
video into WebM segments (recordings/segments.py), as the node records every published track.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from bench.common import table

if TYPE_CHECKING:
    from collections.abc import Sequence

MODES = ("relay", "baseline")
LABELS = {"relay": "bidroom relay", "baseline": "aiortc default (MediaRelay)"}
FPS = 30.0
KEPT_UP = 0.9  # of FPS, the slowest viewer's frame rate
RSS_VIEWERS = 16


@dataclass(frozen=True)
class Sizes:
    viewers: tuple[int, ...]
    window: float  # seconds of each CPU window
    rss_window: float  # seconds between the two RSS readings
    rss_viewers: int = RSS_VIEWERS  # the viewer count that window runs at


FULL = Sizes(viewers=(1, 4, 8, 16, 32), window=10.0, rss_window=60.0)
QUICK = Sizes(viewers=(1, 4, RSS_VIEWERS), window=2.0, rss_window=3.0)


@dataclass(frozen=True)
class Point:
    viewers: int
    cpu: float  # share of one core
    fps: float  # the slowest viewer's frames per second
    dropped: int


@dataclass
class Result:
    mode: str
    points: list[Point] = field(default_factory=list)
    rss_mib: tuple[float, float] | None = None  # start, end of the long window
    recording: tuple[float, float] | None = None  # CPU without and with one track recorded

    def per_viewer(self) -> float | None:
        """What one more viewer costs, as a share of one core, over the counts kept up with."""
        kept = [p for p in self.points if p.fps >= KEPT_UP * FPS]
        if len(kept) < 2:
            return None
        low, high = min(kept, key=lambda p: p.viewers), max(kept, key=lambda p: p.viewers)
        return (high.cpu - low.cpu) / (high.viewers - low.viewers)

    def per_core(self) -> tuple[float, int] | None:
        """Viewers per core at the largest count that kept up, and that count."""
        kept = [p for p in self.points if p.fps >= KEPT_UP * FPS]
        if not kept:
            return None
        point = max(kept, key=lambda p: p.viewers)
        return point.viewers / point.cpu, point.viewers


class Process:
    """A helper process spoken to in JSON lines."""

    def __init__(self, *argv: str) -> None:
        self.name = argv[0]
        self.popen = subprocess.Popen(
            [sys.executable, "-m", *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    def ask(self, **request: Any) -> dict[str, Any]:
        self.tell(**request)
        return self.read()

    def tell(self, **request: Any) -> None:
        stdin: IO[str] | None = self.popen.stdin
        assert stdin is not None
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} ended without answering")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.popen.poll() is None:
            try:
                self.tell(op="quit")
                self.popen.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                self.popen.kill()
        self.popen.__exit__(None, None, None)  # waits, and closes its pipes


def measure(mode: str, sizes: Sizes) -> Result:
    node = Process("bench._media_node", mode)
    peers = Process("bench._media_peers")
    result = Result(mode)
    try:
        offer = peers.ask(op="publish")["sdp"]
        node.tell(op="publish", sdp=offer)
        peers.ask(op="answer", sdp=node.read()["sdp"])
        node.read()  # ready: the node has the publisher's frames
        viewers = 0
        for count in sizes.viewers:
            _add_viewers(node, peers, count - viewers)
            viewers = count
            peers.ask(op="wait")
            before = peers.ask(op="count")["frames"]
            window = node.ask(op="measure", seconds=sizes.window)
            after = peers.ask(op="count")["frames"]
            slowest = min(b - a for a, b in zip(before, after, strict=True)) / sizes.window
            result.points.append(Point(count, window["cpu"], slowest, window["dropped"]))
            if count == sizes.rss_viewers:
                start = node.ask(op="measure", seconds=0)["rss_mib"]
                end = node.ask(op="measure", seconds=sizes.rss_window)["rss_mib"]
                result.rss_mib = (start, end)
        if mode == "relay":
            without = node.ask(op="measure", seconds=sizes.window)["cpu"]
            node.ask(op="record")
            result.recording = (without, node.ask(op="measure", seconds=sizes.window)["cpu"])
        return result
    finally:
        node.close()
        peers.close()


def _add_viewers(node: Process, peers: Process, count: int) -> None:
    """Connect `count` more viewers, in batches so that ICE checks do not time out."""
    while count > 0:
        batch = min(count, 8)
        offers = node.ask(op="viewers", count=batch)["sdps"]
        answers = peers.ask(op="offers", sdps=offers)["sdps"]
        node.ask(op="answers", sdps=answers)
        count -= batch


def sizes_from(quick: bool, options: Sequence[str] = ()) -> Sizes:
    """`--minutes=M` for the RSS window (quick mode: seconds)."""
    base = QUICK if quick else FULL
    parser = argparse.ArgumentParser(prog="python -m bench media", add_help=False)
    parser.add_argument("--minutes", type=float, default=base.rss_window / 60)
    parsed = parser.parse_args(list(options))
    return Sizes(base.viewers, base.window, parsed.minutes * 60)


def report(results: dict[str, Result], sizes: Sizes) -> str:
    ours, theirs = results["relay"], results["baseline"]
    rows = []
    for mine, other in zip(ours.points, theirs.points, strict=True):
        rows.append([
            mine.viewers,
            f"{100 * mine.cpu:.1f}",
            f"{100 * other.cpu:.1f}",
            f"{other.cpu / mine.cpu:.1f}x",
            f"{mine.fps:.1f}",
            f"{other.fps:.1f}",
            mine.dropped,
        ])  # fmt: skip
    header = ["viewers", "relay CPU %", "baseline CPU %", "ratio", "relay fps", "baseline fps",
              "relay drops"]  # fmt: skip
    out = [
        (__doc__ or "").strip().splitlines()[0],
        f"\nCPU of the node process as % of one core, {sizes.window:g} s windows; fps is the"
        " slowest viewer's",
        table(rows, header),
        "",
    ]
    for result in (ours, theirs):
        per_core = result.per_core()
        figure = "never kept up" if per_core is None else (
            f"{per_core[0]:.1f} viewers per core (at {per_core[1]} viewers)"
        )  # fmt: skip
        extra = result.per_viewer()
        if extra is not None:
            figure += f"; each more viewer {100 * extra:.2f} % of a core"
        out.append(f"{LABELS[result.mode]}: {figure}")
    relay, baseline = ours.per_core(), theirs.per_core()
    if relay is not None and baseline is not None:
        out.append(f"bidroom serves {relay[0] / baseline[0]:.1f}x more viewers per core")
    for result in (ours, theirs):
        if result.rss_mib is not None:
            start, end = result.rss_mib
            out.append(
                f"{LABELS[result.mode]}: node RSS with {sizes.rss_viewers} viewers {start:.0f} MiB,"
                f" {end:.0f} MiB {sizes.rss_window:g} s later"
            )
    if ours.recording is not None:
        without, with_recording = ours.recording
        out.append(
            f"recording one 640x480 track: {100 * without:.1f} % -> {100 * with_recording:.1f} %"
            f" of a core, so {100 * (with_recording - without):.2f} % of a core per track"
        )
    return "\n".join(out)


def run(quick: bool = False, options: Sequence[str] = ()) -> str:
    sizes = sizes_from(quick, options)
    results = {mode: measure(mode, sizes) for mode in MODES}
    return report(results, sizes)


if __name__ == "__main__":
    print(run("--quick" in sys.argv, [a for a in sys.argv[1:] if a != "--quick"]))
