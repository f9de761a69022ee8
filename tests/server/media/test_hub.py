"""Live media through a real node: signaling on the live channel, grants and refusals on
record, encode-once relay to real aiortc watchers, recordings with their hashes in the log.

Every peer is a real aiortc peer connection over the machine's own address; the node is a real
aiohttp server; what the watchers decode is decoded by aiortc's own PyAV decoders.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import av
import pytest
from aiortc import RTCPeerConnection

from evaluator_client.errors import MediaError
from evaluator_client.media import MediaChannel, MediaSession
from recordings.segments import probe, segment_path
from server.domain.access import Role
from server.protocol import MediaPublish, MediaWatch
from server.transport.app_keys import media_key
from tests.media_peers import PatternVideo, ToneAudio, frames, prefer

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


async def wait_for(
    harness: Harness, tender: str, kind: str, count: int = 1, *, having: str = ""
) -> list[AuditRecord]:
    """The tender's records of `kind`, once there are `count` of them, one of them of the track
    `having` if given (waits on the bus)."""
    arrived = asyncio.Event()
    subscription = harness.node.bus.subscribe(tender, lambda _s, _r: arrived.set())
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                arrived.clear()  # before reading, so that no commit is missed in between
                found = await records(harness, tender, kind)
                tracks = {r.payload.get("track") for r in found}
                if len(found) >= count and (not having or having in tracks):
                    return found
                await arrived.wait()
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
        path = await asyncio.to_thread(segment_path, root, record.payload["name"])
        data = await asyncio.to_thread(path.read_bytes)
        assert hashlib.sha256(data).hexdigest() == record.payload["sha256"]
        assert len(data) == record.payload["size"]
    video = [r for r in closed if r.payload["track"] == "video"]
    assert video, [r.payload["name"] for r in closed]
    first = await asyncio.to_thread(segment_path, root, video[0].payload["name"])
    duration, count = await asyncio.to_thread(probe, first)
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
        while True:
            (picture,) = await frames(watching.received["video"], 1)
            if isinstance(picture, av.VideoFrame) and picture.width == 160:
                break
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
    # An expert's token covers only the tenders it was drawn for (a drawn member of this
    # tender is refused NotAtTheOpening: test_room_media).
    assert (refused.value.code, refused.value.rule) == ("forbidden", "OutOfScope")
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
        ("", "invalid_message"),
        ("v=0\r\nm=video notaport UDP/TLS/RTP/SAVPF 96\r\n", "invalid_message"),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "invalid_request"),
        ("v=0\r\n\x00\x01", "invalid_message"),
        ("x" * 40_000, "invalid_request"),
    ],
)
async def test_a_hostile_offer_is_refused_before_any_peer_exists(
    harness: Harness, channels: Channels, sdp: str, code: str
) -> None:
    tender, host = await published_tender(harness)
    channel = await channels.open(host)
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


async def real_offer(*kinds: str, direction: str = "sendonly", codec: str | None = None) -> str:
    """An offer from a real aiortc peer (closed again): `kinds` sections, optionally limited
    to one `codec` ("audio/PCMU", say)."""
    pc = RTCPeerConnection()
    try:
        for kind in kinds:
            transceiver = pc.addTransceiver(kind, direction=direction)
            if codec is not None:
                prefer(transceiver, codec)
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


async def test_offers_the_node_can_t_serve_are_refused_with_the_reason(
    harness: Harness, channels: Channels
) -> None:
    tender, host = await published_tender(harness)
    channel = await channels.open(host)
    cases = [
        (await real_offer("video", "video", "audio", "audio"), "invalid_request"),  # 4 tracks
        (await real_offer("audio", codec="audio/PCMU"), "unsupported_media"),
        (await real_offer("video", direction="recvonly"), "invalid_request"),
    ]
    for sdp, code in cases:
        with pytest.raises(MediaError) as refused:
            await channel._ask(MediaPublish(tender, "opening", sdp, ref="offer"))
        assert refused.value.code == code
    with pytest.raises(MediaError) as refused:
        await channel._ask(MediaWatch(tender, "opening", "host", await real_offer("video")))
    assert refused.value.code == "invalid_request"  # a watcher's sections receive
    assert harness.client.app[media_key].sessions == 0


async def recorded(harness: Harness, channels: Channels) -> tuple[str, list[AuditRecord]]:
    """A tender whose host published for a while: its closed segments."""
    tender, host = await published_tender(harness)
    channel = await channels.open(host)
    desk = await channel.publish(tender, "opening", [PatternVideo(160, 120), ToneAudio()])
    await wait_for(harness, tender, "media.segment_closed", 2)
    await channel.end(desk)
    await wait_for(harness, tender, "media.session_ended")
    async with asyncio.timeout(TIMEOUT):
        await harness.client.app[media_key].settled()
    return tender, await records(harness, tender, "media.segment_closed")


async def test_supervisors_list_and_fetch_recordings_and_each_fetch_is_on_record(
    harness: Harness, channels: Channels
) -> None:
    tender, closed = await recorded(harness, channels)
    supervisor = await harness.person(Role.SUPERVISOR, "监督员 Supervisor")
    status, listing = await harness.call("GET", f"/api/tenders/{tender}/recordings", supervisor)
    assert status == 200, listing
    listed = {item["name"]: item for item in listing["recordings"]}
    assert set(listed) >= {r.payload["name"] for r in closed}
    name = closed[0].payload["name"]
    assert listed[name]["sha256"] == closed[0].payload["sha256"]
    assert listed[name]["complete"] is True

    url = f"/api/tenders/{tender}/recordings/{name}"
    whole = await harness.client.get(url, headers=supervisor.headers)
    body = await whole.read()
    assert whole.status == 200
    assert whole.headers["Content-Type"].endswith("/webm")
    assert hashlib.sha256(body).hexdigest() == closed[0].payload["sha256"]
    part = await harness.client.get(url, headers=supervisor.headers | {"Range": "bytes=0-99"})
    assert part.status == 206
    assert await part.read() == body[:100]
    reads = await records(harness, tender, "media.recording_read")
    assert [(r.payload["name"], r.payload["range"]) for r in reads] == [
        (name, ""), (name, "bytes=0-99"),
    ]  # fmt: skip

    # Nobody else; nothing the log does not list; nothing outside the recordings.
    host = await harness.person(Role.HOST, "另一主持人 Host")
    assert (await harness.refused("GET", f"/api/tenders/{tender}/recordings", host))[0] == 403
    for bad in (f"{tender}/opening/host/video/999999.webm", "../../keys/node.pem",
                f"{tender}/opening/host/video/../../../../../etc/passwd"):  # fmt: skip
        response = await harness.client.get(
            f"/api/tenders/{tender}/recordings/{bad}", headers=supervisor.headers
        )
        assert response.status in (400, 404), bad


async def test_expired_recordings_leave_the_disk_and_the_log_says_which(
    harness: Harness, channels: Channels, settings: Settings
) -> None:
    tender, closed = await recorded(harness, channels)
    hub = harness.client.app[media_key]
    assert await hub.expire(harness.clock.now()) == []  # nothing is old yet
    later = harness.clock.now() + timedelta(days=settings.recording_retention_days + 1)
    removed = await hub.expire(later)
    assert set(removed) >= {r.payload["name"] for r in closed}
    (expired,) = await records(harness, tender, "media.recordings_expired")
    assert set(expired.payload["names"]) == set(removed)
    for name in removed:
        path = await asyncio.to_thread(segment_path, settings.recordings_dir, name)
        assert not await asyncio.to_thread(path.exists)
    supervisor = await harness.person(Role.SUPERVISOR, "监督员 Supervisor")
    status, listing = await harness.call("GET", f"/api/tenders/{tender}/recordings", supervisor)
    assert all(item["expired"] for item in listing["recordings"] if item["name"] in removed)
    status, _ = await harness.call(
        "GET", f"/api/tenders/{tender}/recordings/{removed[0]}", supervisor
    )
    assert status == 404
    assert await hub.expire(later) == []  # once


async def test_a_peer_that_never_completes_ice_is_let_go(
    harness: Harness, channels: Channels
) -> None:
    hub = harness.client.app[media_key]
    hub._settings = dataclasses.replace(hub._settings, media_connect_timeout_seconds=0.5)
    tender, host = await published_tender(harness)
    channel = await channels.open(host)
    # An offer whose peer is closed at once: the node answers, then nobody is there.
    sdp = await real_offer("video")
    answer = await channel._ask(MediaPublish(tender, "opening", sdp, ref="gone"))
    assert answer.session.startswith("m-")
    ended = await wait_for(harness, tender, "media.session_ended")
    assert ended[0].payload["reason"] == "ice_failed"
    assert hub.sessions == 0


async def test_a_peer_that_goes_away_ends_its_session_and_a_second_publisher_replaces_the_first(
    harness: Harness, channels: Channels
) -> None:
    tender, host = await published_tender(harness)
    channel = await channels.open(host)
    desk = await channel.publish(tender, "opening", [PatternVideo(160, 120)])
    await desk.connected()
    await desk.pc.close()  # the peer goes, without a word on the live channel
    ended = await wait_for(harness, tender, "media.session_ended")
    assert ended[0].payload["reason"] == "peer_closed"

    # Camera and screen: both recorded, the screen as a track of its own.
    first = await channel.publish(tender, "opening", [PatternVideo(160, 120), PatternVideo(96, 64)])
    await first.connected()
    await wait_for(harness, tender, "media.segment_closed", having="screen")
    again = await channels.open(host)
    second = await again.publish(tender, "opening", [PatternVideo(160, 120)])
    async with asyncio.timeout(TIMEOUT):
        assert await first.ended == "replaced"
    await second.connected()
    hub = harness.client.app[media_key]
    assert hub.sessions == 1
    await again.end(second)
    async with asyncio.timeout(TIMEOUT):
        await hub.settled()
    closed = await records(harness, tender, "media.segment_closed")
    assert {"video", "screen"} <= {r.payload["track"] for r in closed}


async def test_an_offer_aiortc_can_t_take_is_refused_and_nothing_stays(
    harness: Harness, channels: Channels
) -> None:
    tender, host = await published_tender(harness)
    channel = await channels.open(host)
    sdp = await real_offer("video")
    # It parses, but without its ICE credentials aiortc can't answer it.
    lines = sdp.splitlines(keepends=True)
    anonymous = "".join(line for line in lines if "a=ice-ufrag" not in line)
    with pytest.raises(MediaError) as refused:
        await channel._ask(MediaPublish(tender, "opening", anonymous, ref="no-ufrag"))
    assert refused.value.code == "invalid_request"
    (ended,) = await records(harness, tender, "media.session_ended")
    assert ended.payload["reason"] == "negotiation_failed"
    assert harness.client.app[media_key].sessions == 0
    assert channel.welcome is not None  # the live channel is still up
    await channel.publish(tender, "opening", [PatternVideo(160, 120)])


async def test_a_segment_the_log_missed_is_recorded_when_the_node_starts(
    harness: Harness, channels: Channels, settings: Settings
) -> None:
    tender, closed = await recorded(harness, channels)
    root = settings.recordings_dir
    name = closed[0].payload["name"]
    missed = name.rsplit("/", 1)[0] + "/000099.webm"  # closed, then the node died unlogged
    cut = name.rsplit("/", 1)[0] + "/000100.webm.part"  # being written when it died
    source = await asyncio.to_thread(segment_path, root, name)
    data = await asyncio.to_thread(source.read_bytes)
    await asyncio.to_thread(source.with_name("000099.webm").write_bytes, data)
    await asyncio.to_thread(source.with_name("000100.webm.part").write_bytes, data[:5000])
    await harness.client.app[media_key].recover()
    (late,) = [r for r in await records(harness, tender, "media.segment_closed")
               if r.payload["name"] == missed]  # fmt: skip
    assert late.payload["sha256"] == hashlib.sha256(data).hexdigest()
    (found,) = await records(harness, tender, "media.segment_cut")
    assert found.payload["name"] == cut.replace(".webm.part", ".cut.webm")
    await harness.client.app[media_key].recover()  # twice: nothing more
    assert len(await records(harness, tender, "media.segment_cut")) == 1
