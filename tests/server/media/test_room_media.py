"""Media in an expert-only evaluation room: the intercom among members, supervisors watching,
everyone else refused on record (GP87 66, GP87 40), and no stream naming an expert.

A real committee is drawn and the evaluation started (the transport tests' world); members
publish and watch through real aiortc peers over the node's live channel.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

import pytest

from evaluator_client.errors import MediaError
from evaluator_client.media import MediaChannel
from evaluator_client.room import RoomClient
from server.transport.app_keys import media_key
from tests.media_peers import PatternVideo, ToneAudio, frames
from tests.server.media.test_hub import TIMEOUT, records, wait_for
from tests.server.transport.evaluation_world import Evaluation, build_evaluation

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from aiortc.mediastreams import MediaStreamTrack

    from evaluator_client.session import Session
    from server.config import Settings
    from tests.conftest import Harness


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, recording_segment_seconds=1.0)


@pytest.fixture
async def evaluating(harness: Harness, tmp_path: Path) -> AsyncIterator[Evaluation]:
    """A drawn committee, the evaluation started (check-in open)."""
    built = await build_evaluation(harness, tmp_path)
    await built.draw()
    await built.start()
    yield built
    await built.close()


class Opened:
    def __init__(self) -> None:
        self.channels: list[MediaChannel] = []

    async def __call__(self, session: Session) -> MediaChannel:
        channel = MediaChannel(session.live_url, session.token)
        await channel.connect()
        self.channels.append(channel)
        return channel


@pytest.fixture
async def opened() -> AsyncIterator[Opened]:
    made = Opened()
    yield made
    for channel in made.channels:
        await channel.close()


async def test_members_see_and_hear_each_other_and_supervisors_watch(
    evaluating: Evaluation, opened: Opened
) -> None:
    ev = evaluating
    first, second = (await ev.members())[:2]
    speaker, listener = await ev.session(ev.experts[first]), await ev.session(ev.experts[second])
    (seat,) = await RoomClient.seats(speaker)
    desk = await (await opened(speaker)).publish(
        ev.tender, "L1", [PatternVideo(160, 120), ToneAudio()]
    )
    # The node names the source by the seat's workstation, never by the expert.
    assert (desk.room, desk.source) == ("L1", seat["workstation"])
    assert first not in desk.source

    heard = await (await opened(listener)).watch(ev.tender, "L1", desk.source)
    async with asyncio.timeout(TIMEOUT):
        assert await frames(heard.received["video"], 3)
        assert await frames(heard.received["audio"], 3)
    supervisor = await ev.session(ev.supervisor)
    watched = await (await opened(supervisor)).watch(ev.tender, "L1", desk.source)
    async with asyncio.timeout(TIMEOUT):
        assert await frames(watched.received["video"], 3)

    started = await records(ev.harness, ev.tender, "media.session_started")
    assert [(r.payload["direction"], r.payload["participant"]) for r in started] == [
        ("publish", first), ("watch", second), ("watch", ev.supervisor.id),
    ]  # fmt: skip
    # Who sits where is for supervisors: the records of sessions are theirs alone.
    assert all(r.visibility == frozenset({"supervisor"}) for r in started)

    # The speaker leaves: everyone watching its desk is told, and it is on record.
    await opened.channels[0].end(desk)
    async with asyncio.timeout(TIMEOUT):
        assert await heard.ended == "source_ended"
        assert await watched.ended == "source_ended"
    ended = await wait_for(ev.harness, ev.tender, "media.session_ended", 3)
    assert sorted(r.payload["reason"] for r in ended) == ["closed", "source_ended", "source_ended"]
    assert ev.harness.client.app[media_key].sessions == 0


async def test_nobody_else_enters_the_room_and_each_refusal_is_on_record(
    evaluating: Evaluation, opened: Opened
) -> None:
    ev = evaluating
    members = await ev.members()
    member = await ev.session(ev.experts[members[0]])
    (seat,) = await RoomClient.seats(member)
    await (await opened(member)).publish(ev.tender, "L1", [PatternVideo(160, 120)])
    host = await ev.session(ev.world.host)
    outsider = next(e for e in ev.experts if e not in members)
    bidder = await ev.session(ev.world.bidders[0].person)
    attempts = [
        # The host sees the room's progress, never who sits in it (GP87 66).
        (await opened(host), "L1", seat["workstation"], "NotACommitteeMember"),
        (await opened(bidder), "L1", seat["workstation"], "NotACommitteeMember"),
        # An expert not drawn for this tender has no scope on it at all.
        (await opened(await ev.session(ev.experts[outsider])), "L1", seat["workstation"],
         "OutOfScope"),
        # A member may not watch the opening (GP87 40).
        (await opened(member), "opening", "host", "NotAtTheOpening"),
        # A member's seat that publishes nothing.
        (await opened(await ev.session(ev.experts[members[1]])), "L1", "S-05", "MediaNotLive"),
    ]  # fmt: skip
    for channel, room, source, rule in attempts:
        with pytest.raises(MediaError) as refused:
            await channel.watch(ev.tender, room, source)
        assert refused.value.rule == rule, (room, source)
    with pytest.raises(MediaError) as refused:
        await (await opened(host)).publish(ev.tender, "L1", [PatternVideo(160, 120)])
    assert refused.value.rule == "NotACommitteeMember"
    refusals = await records(ev.harness, ev.tender, "command.rejected")
    refused_media = [r for r in refusals if r.payload["command"].startswith("media.")]
    assert len(refused_media) >= 5
    assert ev.harness.client.app[media_key].sessions == 1  # only the member's own


class FarAway:
    """Another node, as the hub sees it through its directory and cascade: the network part
    of a cascade is tested with real processes (tests/sites/test_media_sites.py); here the
    upstream's tracks are real tracks made in this process."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.asked: list[tuple[str, str, str, str]] = []
        self.closed = 0
        self.upstream: Relayed | None = None

    async def announce(self, tender: str, room: str, source: str) -> None:
        return None

    async def withdraw(self, tender: str, room: str, source: str) -> None:
        return None

    async def find(self, tender: str, room: str, source: str) -> str | None:
        return "http://venue.example:8080" if source == self.source else None

    async def close(self) -> None:
        return None

    async def watch(self, url: str, tender: str, room: str, source: str) -> Relayed:
        self.asked.append((url, tender, room, source))
        self.upstream = Relayed(self)
        return self.upstream


class Relayed:
    def __init__(self, far: FarAway) -> None:
        self._far = far
        self.received: dict[str, MediaStreamTrack] = {
            "video": PatternVideo(160, 120), "audio": ToneAudio(),
        }  # fmt: skip
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def close(self) -> None:
        self._far.closed += 1
        for track in self.received.values():
            track.stop()


async def test_a_seat_published_at_another_site_is_watched_through_this_node(
    evaluating: Evaluation, opened: Opened
) -> None:
    ev = evaluating
    members = await ev.members()
    remote_seat = next(m["workstation"] for m in (await ev.view())["members"][1:])
    hub = ev.harness.client.app[media_key]
    far = FarAway(remote_seat)
    hub._directory, hub._cascade = far, far
    supervisor = await ev.session(ev.supervisor)
    member = await ev.session(ev.experts[members[0]])
    first = await (await opened(supervisor)).watch(ev.tender, "L1", remote_seat)
    second = await (await opened(member)).watch(ev.tender, "L1", remote_seat)
    async with asyncio.timeout(TIMEOUT):
        assert await frames(first.received["video"], 3)
        assert await frames(second.received["video"], 3)
    assert len(far.asked) == 1  # one upstream serves every watcher here
    await opened.channels[0].end(first)
    await wait_for(ev.harness, ev.tender, "media.session_ended")
    assert far.closed == 0  # the member still watches
    assert far.upstream is not None
    far.upstream.ended.set_result("source_ended")  # the seat stops publishing over there
    async with asyncio.timeout(TIMEOUT):
        assert await second.ended == "source_ended"
    assert far.closed == 1
    assert hub.sessions == 0
