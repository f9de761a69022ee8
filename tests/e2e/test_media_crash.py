"""A node recording live media is killed (SIGKILL, as a power cut would) and started again.

The node is `bidroom serve` in its own process, recording a real aiortc peer's camera and
microphone in one-second segments. Once two segments are closed and on record, it is killed
mid-segment. What docs/spec/recordings.md promises must then hold on its disk and in its log:
every closed segment is intact (its bytes hash as logged, PyAV decodes it), the segments being
written are recovered as cut segments and logged at the restart, nothing is left half-named,
and `bidroom recordings verify` finds the disk and the log agreeing.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crypto import EncryptionKey, SigningKey
from evaluator_client.live import LiveFeed
from evaluator_client.media import MediaChannel
from evaluator_client.session import Session
from recordings.segments import PART_FILE, probe, segment_path, sha256_file
from server.protocol import Event
from server.sites.processes import NodeProcess, enrol_offline
from tests.conftest import tender_spec
from tests.media_peers import PatternVideo, ToneAudio

if TYPE_CHECKING:
    from pathlib import Path

TIMEOUT = 20.0


async def enrol(admin: Session, role: str, name: str) -> tuple[str, SigningKey]:
    """A participant enrolled over the admin API; its id and signing key."""
    key = SigningKey.generate()
    body = {"role": role, "name": name, "public_key": key.verify_key.to_text()}
    if role == "custodian":
        body["encryption_key"] = EncryptionKey.generate().public_key.to_text()
    enrolled = await admin.post("/api/admin/participants", body)
    return str(enrolled["id"]), key


async def segments_closed(feed: LiveFeed, tender: str, count: int) -> list[dict[str, Any]]:
    """The payloads of the tender's first `count` `media.segment_closed` events, as they come."""
    await feed.subscribe(tender)
    found: list[dict[str, Any]] = []
    async for message in feed:
        if isinstance(message, Event) and message.record["type"] == "media.segment_closed":
            found.append(message.record["payload"])
            if len(found) == count:
                return found
    raise AssertionError("the live feed ended")  # pragma: no cover - it resumes or raises


async def tender_events(session: Session, tender: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await session.get(f"/api/tenders/{tender}/events?after_seq={after}")
        found += [item["event"] for item in page["events"]]
        if not page["more"]:
            return found
        after = page["next_after_seq"]


def part_files(root: Path) -> list[str]:
    """The names of the segments being written (`.part` files) under `root`."""
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if PART_FILE.fullmatch(p.name)]


def check_disk(
    root: Path, closed: list[dict[str, Any]], cut: list[dict[str, Any]], parts: list[str]
) -> None:
    """Every closed segment intact and decodable; each segment the kill interrupted on record
    as cut, by its new name, with the index after its track's last closed one; no `.part` left."""
    for segment in closed:
        path = segment_path(root, segment["name"])
        assert sha256_file(path) == segment["sha256"], segment["name"]
        assert path.stat().st_size == segment["size"]
        duration, frames = probe(path)
        assert frames > 0, segment["name"]
        assert duration > 0, segment["name"]
    assert sorted(c["name"] for c in cut) == sorted(
        name.replace(".webm.part", ".cut.webm") for name in parts
    )
    for segment in cut:
        path = segment_path(root, segment["name"])
        assert sha256_file(path) == segment["sha256"], segment["name"]
        assert path.stat().st_size == segment["size"]
        track = segment["name"].rsplit("/", 1)[0]
        before = [c["index"] for c in closed if c["name"].startswith(track + "/")]
        assert segment["index"] == max(before, default=-1) + 1, (segment, before)
    # A cut file is readable up to its last whole cluster, and the log says how much that is:
    # what it says was readable decodes (a file cut before its first cluster says 0 ms).
    for segment in cut:
        if segment["duration_ms"] > 0:
            assert probe(segment_path(root, segment["name"]))[1] > 0, segment
    assert part_files(root) == []


async def verify_offline(data_dir: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "recordings", "verify", "--data-dir", str(data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_a_killed_node_keeps_its_closed_segments_and_logs_the_cut_ones(
    tmp_path: Path,
) -> None:
    node = NodeProcess(
        "node", tmp_path / "node", environment={"BIDROOM_RECORDING_SEGMENT_SECONDS": "1"}
    )
    admin_key = SigningKey.generate()
    admin_id = await enrol_offline(node.data_dir, "admin", "管理员 Admin", admin_key)
    sessions: list[Session] = []
    channel: MediaChannel | None = None
    try:
        await node.start()
        admin = await Session.login(node.url, admin_id, admin_key)
        sessions.append(admin)
        host_id, host_key = await enrol(admin, "host", "主持人 Host")
        supervisor_id, supervisor_key = await enrol(admin, "supervisor", "监督人 Supervisor")
        custodians = [(await enrol(admin, "custodian", f"custodian {i}"))[0] for i in (1, 2)]
        host = await Session.login(node.url, host_id, host_key)
        supervisor = await Session.login(node.url, supervisor_id, supervisor_key)
        sessions += [host, supervisor]
        spec = tender_spec(datetime.now(UTC), custodians=custodians)
        tender = str((await host.post("/api/tenders", spec))["id"])
        await host.post(f"/api/tenders/{tender}/publish")

        async with LiveFeed(supervisor.live_url, supervisor.token, resume=False) as feed:
            channel = MediaChannel(host.live_url, host.token)
            await channel.connect()
            await channel.publish(tender, "opening", [PatternVideo(320, 240), ToneAudio()])
            async with asyncio.timeout(TIMEOUT):
                await segments_closed(feed, tender, 2)
            await node.kill()  # mid-segment: both tracks have a segment open
        await channel.close()
        channel = None
        root = node.data_dir / "recordings"
        parts = await asyncio.to_thread(part_files, root)
        assert parts, "the kill left no segment being written"

        await node.start()
        events = await tender_events(supervisor, tender)
        closed = [e["payload"] for e in events if e["type"] == "media.segment_closed"]
        cut = [e["payload"] for e in events if e["type"] == "media.segment_cut"]
        assert len(closed) >= 2
        await asyncio.to_thread(check_disk, root, closed, cut, parts)
        await node.stop()

        code, out = await verify_offline(node.data_dir)
        assert code == 0, out
        total = len(closed) + len(cut)
        assert f"{total} segment(s) match the log" in out, out
    finally:
        if channel is not None:
            await channel.close()
        for session in sessions:
            await session.close()
        await node.kill()
