"""Media across sites (docs/media.md section 9): a home and an edge as real processes on a
real Redis; the host publishes at the edge, a visitor watches at the home, whose node watches
the edge's source as a client and relays it. The edge records it; the home does not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import av
import pytest

from crypto import SigningKey
from evaluator_client.media import MediaChannel
from evaluator_client.session import Session
from tests.conftest import tender_spec
from tests.e2e.test_media_crash import enrol, tender_events
from tests.media_peers import PatternVideo, ToneAudio, frames
from tests.redis_server import RedisServer
from tests.sites.cluster import NodeProcess, enrol_offline

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.timeout(120)
TIMEOUT = 30.0


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis of this test's own: its node processes never share the session's with the
    tests that follow, whatever they leave behind while they stop."""
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


async def test_a_watcher_at_one_site_sees_the_host_publishing_at_another(
    tmp_path: Path, own_redis: str
) -> None:
    redis = ["--redis", own_redis]
    home = NodeProcess("home", tmp_path / "main", ["--site", "main", "--home", *redis])
    edge = NodeProcess("edge", tmp_path / "venue", ["--site", "venue", *redis])
    admin_key = SigningKey.generate()
    admin_id = await enrol_offline(home.data_dir, "admin", "管理员 Admin", admin_key)
    await enrol_offline(home.data_dir, "node", "edge", await edge.key(), site="venue")
    sessions: list[Session] = []
    channels: list[MediaChannel] = []
    try:
        await home.start()
        await edge.start()
        admin = await Session.login(home.url, admin_id, admin_key)
        sessions.append(admin)
        host_id, host_key = await enrol(admin, "host", "主持人 Host")
        visitor_id, visitor_key = await enrol(admin, "public", "访客 Visitor")
        supervisor_id, supervisor_key = await enrol(admin, "supervisor", "监督员 Supervisor")
        custodians = [(await enrol(admin, "custodian", f"custodian {i}"))[0] for i in (1, 2)]
        host = await Session.login(edge.url, host_id, host_key)  # the host's desk is at the venue
        visitor = await Session.login(home.url, visitor_id, visitor_key)
        supervisor = await Session.login(home.url, supervisor_id, supervisor_key)
        sessions += [host, visitor, supervisor]
        spec = tender_spec(datetime.now(UTC), custodians=custodians)
        tender = str((await host.post("/api/tenders", spec))["id"])
        await host.post(f"/api/tenders/{tender}/publish")

        desk_channel = MediaChannel(host.live_url, host.token)
        watch_channel = MediaChannel(visitor.live_url, visitor.token)
        channels += [desk_channel, watch_channel]
        await desk_channel.connect()
        desk = await desk_channel.publish(tender, "opening", [PatternVideo(320, 240), ToneAudio()])
        async with asyncio.timeout(TIMEOUT):
            await desk.connected()
        await watch_channel.connect()
        watching = await watch_channel.watch(tender, "opening", "host")
        async with asyncio.timeout(TIMEOUT):
            pictures = await frames(watching.received["video"], 5)
        assert all(isinstance(p, av.VideoFrame) and p.width == 320 for p in pictures)

        # On record at the home: the host's publish (at the venue), the visitor's watch, and
        # the home node's own watch of the venue's source.
        events = await tender_events(supervisor, tender)
        started = [e["payload"] for e in events if e["type"] == "media.session_started"]
        directions = sorted((s["direction"], s["site"]) for s in started)
        assert directions == [("publish", "venue"), ("watch", "main"), ("watch", "venue")]
        # The media stays where it was published: the venue records the host, the home does not.
        venue_files = await asyncio.to_thread(
            lambda: sorted(p.name for p in (edge.data_dir / "recordings").rglob("*.webm*"))
        )
        assert venue_files
        home_host = home.data_dir / "recordings" / tender / "opening" / "host"
        assert not await asyncio.to_thread(home_host.exists)
    finally:
        for channel in channels:
            await channel.close()
        for session in sessions:
            await session.close()
        await asyncio.gather(home.stop(), edge.stop())
        await asyncio.gather(home.kill(), edge.kill())  # nothing of them outlives the test
