"""The opening when things overlap or go wrong: work in flight at a window's end, floods, races
between custodians, a bidder's broken tool. Slowness is injected by holding a worker thread."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

import crypto._sealed as sealed_format
import server.service.decrypt as decrypt_module
from crypto._box import _seal_with as seal_box_with
from evaluator_client import bidding
from server.domain.access import Role
from tests.server.transport.opening_world import World, build_world
from tests.server.transport.test_opening import (
    close_window,
    decrypt,
    opening_view,
    refusal,
    share_of,
    statuses,
    to_opening,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from tests.conftest import Harness

R = TypeVar("R")


class Hold:
    """Holds a function running in a worker thread until the test lets it go."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.calls = 0

    def wrap(self, function: Callable[..., R]) -> Callable[..., R]:
        def held(*args: Any) -> R:
            self.calls += 1
            self.entered.set()
            if not self.released.wait(30):
                raise TimeoutError("the test never let the call go")
            return function(*args)

        return held

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10)


@pytest.fixture
async def world(harness: Harness, tmp_path: Path) -> AsyncIterator[World]:
    built = await build_world(harness, tmp_path, opening={"wrap_bids": False})
    yield built
    await built.close()


@pytest.fixture
def hold(monkeypatch: pytest.MonkeyPatch) -> Hold:
    held = Hold()
    monkeypatch.setattr(decrypt_module, "open_bid_file", held.wrap(decrypt_module.open_bid_file))
    return held


async def test_a_key_sent_in_time_counts_though_the_window_ends_meanwhile(
    world: World, hold: Hold
) -> None:
    await to_opening(world)
    harness, late = world.harness, world.bidders[0]
    harness.clock.advance(30 * 60 - 5)  # five seconds before the window ends
    await late.session.renew()
    sent = asyncio.create_task(decrypt(world, late))
    await hold.wait_entered()
    harness.clock.advance(10)  # the window ends while the node decrypts
    closing = asyncio.create_task(harness.node.scheduler.tick())
    await asyncio.sleep(0)  # let the tick start: it must wait for the decryption in flight
    assert not closing.done()
    assert harness.node.opening.decryptions.in_flight.busy(world.tender) == 1
    hold.released.set()
    async with asyncio.timeout(10):
        assert (await sent)["status"] == "decrypted"
        assert await closing >= 1
    types = [r.type for r in await harness.node.store.read(world.tender)]
    assert types.index("bid.decrypted") < types.index("opening.decryption_closed")
    view = statuses(await opening_view(world))
    assert view[late.id] == ("decrypted", "bidder")
    assert view[world.bidders[1].id] == ("revoked", "bidder")  # never sent its key


async def test_one_decryption_per_bid_at_a_time(world: World, hold: Hold) -> None:
    await to_opening(world)
    bidder = world.bidders[0]
    first = asyncio.create_task(decrypt(world, bidder))
    await hold.wait_entered()
    assert await refusal(decrypt(world, bidder)) == (409, "DecryptionRunning")
    hold.released.set()
    async with asyncio.timeout(10):
        assert (await first)["status"] == "decrypted"
    assert hold.calls == 1  # the second request never reached the file
    rejected = [
        r.payload["rule"]
        for r in await world.harness.node.store.read(world.tender)
        if r.type == "command.rejected"
    ]
    assert rejected == ["DecryptionRunning"]


async def test_a_pause_waits_for_the_keys_already_sent(world: World, hold: Hold) -> None:
    await to_opening(world)
    harness, bidder = world.harness, world.bidders[0]
    sent = asyncio.create_task(decrypt(world, bidder))
    await hold.wait_entered()
    path = f"/api/tenders/{world.tender}/opening/pause"
    pausing = asyncio.create_task(harness.post_ok(path, {"reason": "断网 outage"}, world.host))
    await asyncio.sleep(0)
    assert not pausing.done()
    assert await refusal(decrypt(world, world.bidders[1])) == (422, "OpeningNotReady")
    hold.released.set()
    async with asyncio.timeout(10):
        assert (await sent)["status"] == "decrypted"
        assert (await pausing)["phase"] == "paused"


async def test_a_broken_opening_stanza_is_the_bidders_fault_and_stops_nothing(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(harness, tmp_path, count=4)
    try:
        cheat = world.bidders[3]
        real = seal_box_with  # what crypto._sealed wraps file keys with

        def wrong_key_for_the_opening(ephemeral: Any, key: Any, file_key: bytes, **kw: Any) -> Any:
            if key == world.opening_key:  # a broken tool: the stanza wraps some other key
                file_key = os.urandom(32)
            return real(ephemeral, key, file_key, **kw)

        monkeypatch.setattr(sealed_format, "_box_with", wrong_key_for_the_opening)
        broken = await world.seal(cheat.person, "cheat", price="9.00")
        monkeypatch.setattr(sealed_format, "_box_with", real)
        await world.submit(cheat, broken)
        await to_opening(world)
        await decrypt(world, world.bidders[0])  # the other three are left to the custodians
        await close_window(world)
        first, second = harness.custodians
        assert first.encryption is not None
        assert second.encryption is not None
        await bidding.submit_share(await share_of(world, first), world.tender, first.encryption)
        view = await bidding.submit_share(
            await share_of(world, second), world.tender, second.encryption
        )
        assert [statuses(view)[b.id] for b in world.bidders] == [
            ("decrypted", "bidder"),
            ("decrypted", "custodians"),
            ("decrypted", "custodians"),
            ("revoked", "bidder"),
        ]
        reason = next(b["reason"] for b in view["bids"] if b["bidder"] == cheat.id)
        assert "opening-key stanza does not open it" in reason
    finally:
        await world.close()


async def test_the_last_two_shares_at_once_open_each_bid_once(
    harness: Harness, tmp_path: Path
) -> None:
    harness.custodians = [await harness.person(Role.CUSTODIAN, f"保管人{i}") for i in (1, 2, 3)]
    world = await build_world(harness, tmp_path, count=3)
    try:
        await to_opening(world)
        await close_window(world)
        sessions = [await share_of(world, c) for c in harness.custodians]
        keys = [c.encryption for c in harness.custodians]
        assert keys[0] is not None
        assert keys[1] is not None
        assert keys[2] is not None
        await bidding.submit_share(sessions[0], world.tender, keys[0])
        answers = await asyncio.gather(
            bidding.submit_share(sessions[1], world.tender, keys[1]),
            bidding.submit_share(sessions[2], world.tender, keys[2]),
            return_exceptions=True,
        )
        refused = [a for a in answers if isinstance(a, Exception)]
        assert [getattr(a, "rule", None) for a in refused] == ["AlreadyResponded"]
        opened = [
            r.payload["bidder"]
            for r in await harness.node.store.read(world.tender)
            if r.type == "bid.decrypted"
        ]
        assert sorted(opened) == sorted(b.id for b in world.bidders)  # each exactly once
    finally:
        await world.close()


async def test_a_node_starting_afresh_asks_for_the_shares_only_its_memory_held(
    harness: Harness, tmp_path: Path
) -> None:
    """docs/sites.md section 10: a restarted or standby home lost the shares it held; it asks
    their custodians on record to send them again, and what they resend opens the bids."""
    harness.custodians = [await harness.person(Role.CUSTODIAN, f"保管人{i}") for i in (1, 2)]
    world = await build_world(harness, tmp_path, count=3)
    try:
        await to_opening(world)
        await close_window(world)
        first, second = harness.custodians
        assert first.encryption is not None
        assert second.encryption is not None
        await bidding.submit_share(await share_of(world, first), world.tender, first.encryption)
        assert await harness.node.opening.ask_to_resend() == []  # nothing lost yet
        harness.node.homes.of(world.tender).shares.clear()  # the memory a crash takes
        assert await harness.node.opening.ask_to_resend() == [world.tender]
        asked = [
            r.payload
            for r in await harness.node.store.read(world.tender)
            if r.type == "opening.resend_requested"
        ]
        assert asked == [{"node": harness.node.id, "custodians": [first.id], "bidders": [],
                          "at": asked[0]["at"]}]  # fmt: skip
        await bidding.submit_share(await share_of(world, first), world.tender, first.encryption)
        view = await bidding.submit_share(
            await share_of(world, second), world.tender, second.encryption
        )
        assert {status for status, _ in statuses(view).values()} == {"decrypted"}
    finally:
        await world.close()
