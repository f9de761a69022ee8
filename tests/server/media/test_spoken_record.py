"""The voice 唱标 through a real node: when the host publishes the opening record, the node
speaks exactly the record's text into the opening's audio, records the speech as a segment of
its own, and puts the text's and the audio's hashes in the log."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from typing import TYPE_CHECKING

import av
import pytest

from evaluator_client import bidding
from recordings.segments import probe, segment_path
from server.domain.access import Role
from server.media.speech import spoken_text
from tests.server.media.test_hub import TIMEOUT, Channels, records, wait_for
from tests.server.transport.opening_world import World, build_world

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from server.config import Settings
    from tests.conftest import Harness


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, recording_segment_seconds=1.0)


@pytest.fixture
async def channels(harness: Harness) -> AsyncIterator[Channels]:
    opened = Channels(harness)
    yield opened
    await opened.close()


def loudness(frame: av.AudioFrame) -> int:
    samples = memoryview(bytes(frame.planes[0])).cast("h")
    return max((abs(s) for s in samples), default=0)


async def test_the_record_is_read_out_heard_recorded_and_hashed_on_record(
    harness: Harness, channels: Channels, tmp_path: Path, settings: Settings
) -> None:
    world = await build_world(harness, tmp_path, count=3)
    try:
        await spoken_at(world, harness, channels, settings)
    finally:
        await world.close()


async def spoken_at(world: World, harness: Harness, channels: Channels, settings: Settings) -> None:
    await world.advance_to_sign_in()
    for bidder in world.bidders:
        await bidder.session.post(f"/api/tenders/{world.tender}/opening/sign-in")
    await world.advance_to_deadline()
    await harness.post_ok(f"/api/tenders/{world.tender}/opening/start", {}, world.host)
    for bidder in world.bidders:
        await bidding.decrypt(bidder.session, world.tender, "L1", await world.file_key(bidder))
    visitor = await harness.person(Role.PUBLIC, "访客 Visitor")
    watching = await (await channels.open(visitor)).watch(world.tender, "opening", "host")
    await watching.connected()

    await harness.post_ok(f"/api/tenders/{world.tender}/opening/record", {}, world.host)
    (spoken,) = await wait_for(harness, world.tender, "opening.record_spoken")
    (published,) = await records(harness, world.tender, "opening.record_published")
    assert spoken.payload["spoken"] is True
    assert spoken.payload["record_hash"] == published.payload["record_hash"]
    # The opening sheet's own labels name its extra fields (tests/conftest.py's spec).
    text = spoken_text(published.payload["record"], {"warranty_years": "质保期(年) warranty"})
    assert hashlib.sha256(text.encode()).hexdigest() == spoken.payload["text_sha256"]
    assert spoken.payload["engine"].startswith("espeak-ng")
    # Everyone who may see the record may check what was said.
    assert {"public", "bidder", "supervisor"} <= spoken.visibility

    # The watcher hears it: the program audio carries speech, where it was silent before.
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame = await watching.received["audio"].recv()
            if isinstance(frame, av.AudioFrame) and loudness(frame) > 1000:
                break

    # The speech is a recording of its own, as long as the speech, its hash on record.
    segments = await wait_for(harness, world.tender, "media.segment_closed")
    (speech,) = [s for s in segments if s.payload["track"] == "speech"]
    assert speech.payload["name"] == f"{world.tender}/opening/node/speech/000000.webm"
    path = await asyncio.to_thread(segment_path, settings.recordings_dir, speech.payload["name"])
    data = await asyncio.to_thread(path.read_bytes)
    assert hashlib.sha256(data).hexdigest() == speech.payload["sha256"]
    duration, count = await asyncio.to_thread(probe, path)
    assert count > 0
    assert abs(duration - spoken.payload["duration_ms"]) <= 100
    assert spoken.payload["duration_ms"] > 5_000  # three bids take many seconds to read
