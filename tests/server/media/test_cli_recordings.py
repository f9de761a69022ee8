"""`bidroom recordings verify` and `list` on the data directory of a node that really recorded.

A real node records a real aiortc peer's camera and microphone in one-second segments; the
command then reads that node's stored log and hashes its files, as an operator runs it, and
must notice a byte altered, a segment deleted and a file the log never listed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import sqlite3
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from server.cli import main
from server.transport.app_keys import media_key
from tests.media_peers import PatternVideo, ToneAudio
from tests.server.media.test_hub import Channels, published_tender, records, wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from server.config import Settings
    from tests.conftest import Harness

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, recording_segment_seconds=1.0)


@pytest.fixture
async def channels(harness: Harness) -> AsyncIterator[Channels]:
    opened = Channels(harness)
    yield opened
    await opened.close()


async def recorded(harness: Harness, channels: Channels) -> tuple[str, list[str]]:
    """A tender whose host published for two segments at least, every recorder closed since;
    the names of its segments, as logged."""
    tender, host = await published_tender(harness)
    await (await channels.open(host)).publish(
        tender, "opening", [PatternVideo(320, 240), ToneAudio()]
    )
    await wait_for(harness, tender, "media.segment_closed", 2)
    await harness.client.app[media_key].close()  # ends the session; the last segments close
    closed = await records(harness, tender, "media.segment_closed")
    return tender, [str(r.payload["name"]) for r in closed]


async def run(capsys: Capture, *argv: str) -> tuple[int, list[str]]:
    """The command's exit code and the lines it printed (stderr's after stdout's)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines() + err.splitlines()


async def test_verify_passes_then_names_each_problem(
    harness: Harness, channels: Channels, settings: Settings, capsys: Capture
) -> None:
    tender, names = await recorded(harness, channels)
    data = str(settings.data_dir)
    root = settings.recordings_dir
    assert len(names) >= 3, names  # two closed while live, the last ones when it ended

    code, lines = await run(capsys, "recordings", "verify", "--data-dir", data)
    assert code == 0, lines
    assert lines[-1].startswith("录像完好 recordings verified")
    assert f"{len(names)} segment(s) match the log" in lines[-1]
    code, lines = await run(capsys, "recordings", "list", "--data-dir", data, "--tender", tender)
    assert code == 0, lines
    assert [line.split()[0] for line in lines[:-1]] == names
    assert lines[-1].endswith(f"{len(names)} segment(s), 截断 cut 0, 已过期 expired 0")

    # A byte altered.
    target = root / names[0]
    original = await asyncio.to_thread(target.read_bytes)
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0x01
    await asyncio.to_thread(target.write_bytes, bytes(changed))
    code, lines = await run(capsys, "recordings", "verify", "--data-dir", data, "--tender", tender)
    assert code == 1
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"篡改 ALTERED  {names[0]}: ")
    assert lines[0].endswith(
        f"; log {hashlib.sha256(original).hexdigest()}; file {_digest(changed)}"
    )
    assert "篡改 altered 1" in lines[-1]
    await asyncio.to_thread(target.write_bytes, original)

    # A segment deleted.
    await asyncio.to_thread(target.rename, target.with_name("kept"))
    code, lines = await run(capsys, "recordings", "verify", "--data-dir", data)
    assert code == 1
    assert lines[0].startswith(f"缺失 MISSING  {names[0]}: ")
    kept = names[0].rsplit("/", 1)[0] + "/kept"
    assert lines[1].startswith(f"多余 UNLISTED {kept}: ")
    assert "缺失 missing 1, 篡改 altered 0, 多余 unlisted 1" in lines[-1]
    await asyncio.to_thread(target.with_name("kept").rename, target)

    # A file nobody listed, even under a tender the log has never heard of.
    stray = root / "t-20260101-000000000000" / "opening" / "host" / "video" / "000000.webm"
    await asyncio.to_thread(stray.parent.mkdir, parents=True)
    await asyncio.to_thread(stray.write_bytes, original)
    code, lines = await run(capsys, "recordings", "verify", "--data-dir", data)
    assert code == 1
    assert lines[:-1] == [
        f"多余 UNLISTED t-20260101-000000000000/opening/host/video/000000.webm: "
        f"日志中没有记录 on disk, not in the log; file {_digest(original)}"
    ]
    code, lines = await run(capsys, "recordings", "verify", "--data-dir", data, "--tender", tender)
    assert code == 0, lines  # only that tender's files are looked at
    await asyncio.to_thread(stray.unlink)

    # Expired segments are gone on purpose: nothing is expected of them.
    hub = harness.client.app[media_key]
    later = harness.clock.now() + timedelta(days=settings.recording_retention_days + 1)
    assert sorted(await hub.expire(later)) == sorted(names)
    code, lines = await run(capsys, "recordings", "verify", "--data-dir", data, "--tender", tender)
    assert code == 0, lines
    assert "0 segment(s) match the log" in lines[-1]

    # A log that doesn't hold together can't say what should be on disk.
    await harness.client.close()  # the node stops before its database is tampered with
    await asyncio.to_thread(_delete_event, settings.database_path, tender, 2)
    for action in ("verify", "list"):
        code, lines = await run(
            capsys, "recordings", action, "--data-dir", data, "--tender", tender
        )
        assert code == 1
        assert lines == [
            f"日志损坏 BROKEN  the log can't be trusted to list the recordings: Stream {tender}: "
            f"event 2 fails verification: it is missing: removed (the next stored event is 3)"
        ], lines


def _delete_event(database: Path, stream: str, seq: int) -> None:
    with contextlib.closing(sqlite3.connect(database)) as conn, conn:
        conn.execute("DELETE FROM events WHERE stream = ? AND seq = ?", (stream, seq))


def _digest(data: bytes | bytearray) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_usage_errors_exit_2(harness: Harness, settings: Settings, capsys: Capture) -> None:
    code, lines = await run(
        capsys, "recordings", "verify", "--data-dir", str(settings.data_dir / "x")
    )
    assert (code, lines) == (
        2,
        [f"bidroom: 没有审计日志 no audit log at {settings.data_dir / 'x' / 'bidroom.sqlite3'}"],
    )
    data = str(settings.data_dir)
    code, lines = await run(capsys, "recordings", "verify", "--data-dir", data, "--tender", "../x")
    assert (code, lines) == (2, ["bidroom: '../x' is not a tender id"])
    code, lines = await run(capsys, "recordings", "list", "--data-dir", data, "--tender", "system")
    assert (code, lines) == (2, ["bidroom: 'system' is not a tender id"])
    with pytest.raises(SystemExit) as exited:
        await run(capsys, "recordings", "list", "--data-dir", data)  # --tender is required
    assert exited.value.code == 2
