"""Live media through a real node: signaling on the live channel, grants and refusals on
record, encode-once relay to real aiortc watchers, recordings with their hashes in the log.

Every peer is a real aiortc peer connection over the machine's own address; the node is a real
aiohttp server; what the watchers decode is decoded by aiortc's own PyAV decoders.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any

import av
import pytest

from evaluator_client.errors import MediaError
from evaluator_client.media import MediaChannel, MediaSession
from recordings.segments import probe, segment_path
from server.domain.access import Role
from server.transport.app_keys import media_key
from tests.media_peers import PatternVideo, ToneAudio, frames

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from recordings.audit import AuditRecord
    from server.config import Settings
    from tests.conftest import Harness, Person

TIMEOUT = 15.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Short segments, so that a test of seconds closes several.
    return dataclasses.replace(settings, recording_segment_seconds=1.0)


class Channels:
    """Media channels opened by a test, all closed at its end."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.opened: list[MediaChannel] = []

    async def open(self, person: Person) -> MediaChannel:
        async def token() -> str:
            return person.token

        channel = MediaChannel(self.harness.ws_url, token)
        await channel.connect()
        self.opened.append(channel)
        return channel

    async def close(self) -> None:
        for channel in self.opened:
            await channel.close()


@pytest.fixture
async def channels(harness: Harness) -> AsyncIterator[Channels]:
    opened = Channels(harness)
    yield opened
    await opened.close()


async def published_tender(harness: Harness) -> tuple[str, Person]:
    host = await harness.person(Role.HOST, "主持人 Host")
    tender = await harness.tender(host)
    await harness.post_ok(f"/api/tenders/{tender}/publish", {}, host)
    return tender, host


async def records(harness: Harness, tender: str, kind: str) -> list[AuditRecord]:
    return [r for r in await harness.node.store.read(tender, 0, 10_000) if r.type == kind]


async def wait_for(harness: Harness, tender: str, kind: str, count: int = 1) -> list[AuditRecord]:
    """The tender's records of `kind`, once there are `count` of them (waits on the bus)."""
    arrived = asyncio.Event()
    subscription = harness.node.bus.subscribe(tender, lambda _s, _r: arrived.set())
    try:
        async with asyncio.timeout(TIMEOUT):
            while len(found := await records(harness, tender, kind)) < count:
                arrived.clear()
                await arrived.wait()
            return found
    finally:
        subscription.close()


async def decoded(session: MediaSession, kind: str, count: int) -> Sequence[Any]:
    async with asyncio.timeout(TIMEOUT):
        return await frames(session.received[kind], count)


async def test_the_host_s_desk_reaches_a_bidder_and_is_recorded_under_the_log(
    harness: Harness, channels: Channels, settings: Settings
) -> None:
    tender, host = await published_tender(harness)
    bidder = await harness.person(Role.BIDDER, "投标人 Bidder")
    desk = await (await channels.open(host)).publish(
        tender, "opening", [PatternVideo(320, 240), ToneAudio()]
    )
    assert (desk.room, desk.source) == ("opening", "host")
    watching = await (await channels.open(bidder)).watch(tender, "opening", "host")
    pictures = await decoded(watching, "video", 10)
    assert {(p.width, p.height) for p in pictures} == {(320, 240)}
    assert await decoded(watching, "audio", 10)

    started = await records(harness, tender, "media.session_started")
    assert [(r.payload["direction"], r.payload["participant"]) for r in started] == [
        ("publish", host.id), ("watch", bidder.id),
    ]  # fmt: skip
    assert all(r.visibility == frozenset({"supervisor"}) for r in started)

    # Two closed video segments at least, then the host leaves: the last ones close too.
    await wait_for(harness, tender, "media.segment_closed", 2)
    await channels.opened[0].end(desk)
    ended = await wait_for(harness, tender, "media.session_ended")
    assert ended[0].payload["reason"] == "closed"
    root = settings.recordings_dir
    closed = await wait_for(harness, tender, "media.segment_closed", 3)
    for record in closed:
        path = segment_path(root, record.payload["name"])
        data = await asyncio.to_thread(path.read_bytes)
        assert hashlib.sha256(data).hexdigest() == record.payload["sha256"]
        assert len(data) == record.payload["size"]
    video = [r for r in closed if r.payload["track"] == "video"]
    assert video, [r.payload["name"] for r in closed]
    duration, count = await asyncio.to_thread(probe, segment_path(root, video[0].payload["name"]))
    assert count > 0
    assert duration >= 900


async def test_the_watcher_keeps_its_session_while_the_host_comes_and_goes(
    harness: Harness, channels: Channels
) -> None:
    tender, host = await published_tender(harness)
    visitor = await harness.person(Role.PUBLIC, "访客 Visitor")
    watching = await (await channels.open(visitor)).watch(tender, "opening", "host")
    await watching.connected()
    assert await decoded(watching, "audio", 5)  # the program audio runs before the host
    host_channel = await channels.open(host)
    first = await host_channel.publish(tender, "opening", [PatternVideo(320, 240)])
    assert await decoded(watching, "video", 3)
    await host_channel.end(first)
    await host_channel.publish(tender, "opening", [PatternVideo(160, 120)])
    async with asyncio.timeout(TIMEOUT):
        while (await frames(watching.received["video"], 1))[0].width != 160:
            pass
    assert not watching.ended.done()


async def test_experts_may_not_attend_the_opening_and_the_refusal_is_on_record(
    harness: Harness, channels: Channels
) -> None:
    tender, _host = await published_tender(harness)
    expert = await harness.person(Role.EXPERT, "专家 Expert")
    admin = await harness.person(Role.ADMIN, "管理员 Admin")
    bidder = await harness.person(Role.BIDDER, "投标人 Bidder")
    with pytest.raises(MediaError) as refused:
        await (await channels.open(expert)).watch(tender, "opening", "host")
    assert (refused.value.code, refused.value.rule) == ("forbidden", "AccessDenied")
    with pytest.raises(MediaError) as refused:
        await (await channels.open(admin)).watch(tender, "opening", "host")
    assert refused.value.rule == "AccessDenied"
    with pytest.raises(MediaError) as refused:
        await (await channels.open(bidder)).publish(tender, "opening", [PatternVideo(160, 120)])
    assert refused.value.rule == "AccessDenied"
    rejected = await records(harness, tender, "command.rejected")
    denied = await records(harness, tender, "access.denied")
    assert len(rejected) + len(denied) >= 2
    assert harness.client.app[media_key].sessions == 0


@pytest.mark.parametrize(
    ("sdp", "code"),
    [
        ("v=0\r\nthis is not sdp", "invalid_message"),
        ("", "invalid_request"),
        ("x" * 40_000, "invalid_request"),
    ],
)
async def test_a_hostile_offer_is_refused_before_any_peer_exists(
    harness: Harness, channels: Channels, sdp: str, code: str
) -> None:
    tender, host = await published_tender(harness)
    channel = await channels.open(host)
    from server.protocol import MediaPublish

    with pytest.raises(MediaError) as refused:
        await channel._ask(MediaPublish(tender, "opening", sdp, ref="bad-offer"))
    assert refused.value.code == code
    assert harness.client.app[media_key].sessions == 0
    assert await records(harness, tender, "media.session_started") == []


async def test_a_closed_live_channel_ends_its_sessions_on_record(
    harness: Harness, channels: Channels
) -> None:
    tender, host = await published_tender(harness)
    channel = await channels.open(host)
    await channel.publish(tender, "opening", [PatternVideo(160, 120)])
    hub = harness.client.app[media_key]
    assert hub.sessions == 1
    await channel.close()
    ended = await wait_for(harness, tender, "media.session_ended")
    assert ended[0].payload["reason"] == "channel_closed"
    assert hub.sessions == 0


def frames_of(path: Any) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams[0]))
