"""Every view a client reads matches the JSON Schema the node publishes for it, in every phase,
and says the position in the tender's log it reflects; a client joins a room from its view."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from jsonschema import Draft202012Validator

from evaluator_client import bidding
from evaluator_client.room import RoomClient
from server.domain.access import Role
from server.service.views import CATALOGUE
from tests.server.transport.opening_world import World, build_world

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.conftest import Harness, Person
    from tests.server.transport.evaluation_world import Evaluation

WAIT = 10.0


class Views:
    """Reads views over HTTP and checks each against the schema the node serves for it."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.validators: dict[str, Draft202012Validator] = {}
        self.seen: set[str] = set()

    async def check(self, name: str, document: dict[str, Any]) -> dict[str, Any]:
        if name not in self.validators:
            status, schema = await self.harness.call("GET", f"/api/schema/{name}")
            assert status == 200, schema
            Draft202012Validator.check_schema(schema)
            self.validators[name] = Draft202012Validator(schema)
        errors = [e.message for e in self.validators[name].iter_errors(document)]
        assert errors == [], (name, errors)
        self.seen.add(name)
        return document

    async def get(self, name: str, path: str, person: Person | None) -> dict[str, Any]:
        status, document = await self.harness.call("GET", path, person)
        assert status == 200, document
        return await self.check(name, document)

    async def head(self, tender: str) -> int:
        return (await self.harness.node.store.head(tender)).seq


@pytest.fixture
async def world(harness: Harness, tmp_path: Path) -> AsyncIterator[World]:
    built = await build_world(harness, tmp_path)
    yield built
    await built.close()


async def test_the_schema_index_names_every_view(harness: Harness) -> None:
    status, index = await harness.call("GET", "/api/schema")
    assert (status, set(index["views"])) == (200, set(CATALOGUE))
    for name, path in index["views"].items():
        status, schema = await harness.call("GET", path)
        assert (status, schema["$id"], schema["title"]) == (200, path, CATALOGUE[name].__name__)
        Draft202012Validator.check_schema(schema)
    status, missing = await harness.call("GET", "/api/schema/nothing")
    assert (status, missing["error"]["code"]) == (404, "not_found")


async def test_tender_and_opening_views_match_their_schemas(world: World) -> None:
    harness, tender, host = world.harness, world.tender, world.host
    views = Views(harness)
    public = await harness.person(Role.PUBLIC, "visitor")
    supervisor = await harness.person(Role.SUPERVISOR, "监督员")
    bidder = world.bidders[0]
    path = f"/api/tenders/{tender}"

    view = await views.get("tender", path, host)
    assert view["seq"] == view["head_seq"] == await views.head(tender)
    listed = await views.get("tenders", "/api/tenders", bidder.person)
    assert [t["seq"] for t in listed["tenders"]] == [view["seq"]]
    assert "head_seq" not in listed["tenders"][0]
    # The bidder is told whether it signed in, the host who did, the public nothing.
    for person, signed_in in ((host, []), (bidder.person, False), (public, None)):
        opening = await views.get("opening", f"{path}/opening", person)
        assert (opening["phase"], opening["seq"]) == ("not_started", await views.head(tender))
        assert opening.get("signed_in") == signed_in

    await world.advance_to_sign_in()
    for each in world.bidders:
        await views.check("opening", await each.session.post(f"{path}/opening/sign-in"))
    await world.advance_to_deadline()
    await harness.login(supervisor)
    started = await harness.post_ok(f"{path}/opening/start", {}, host)
    assert "seq" not in started  # a command's answer is the tender as it left it
    await views.check("tender", started)
    status = await bidding.decrypt(bidder.session, tender, "L1", await world.file_key(bidder))
    await views.check("opening-bid", status)
    running = await views.get("opening", f"{path}/opening", supervisor)
    assert (running["phase"], running["signed_in"]) == ("decrypting", sorted(running["signed_in"]))
    assert "ends_at" in running
    paused = await harness.post_ok(f"{path}/opening/pause", {"reason": "网络中断"}, host)
    assert "ends_at" not in await views.check("opening", paused)
    await views.check("opening", await harness.post_ok(f"{path}/opening/resume", {}, host))
    for other in world.bidders[1:]:
        await bidding.decrypt(other.session, tender, "L1", await world.file_key(other))
    record = await harness.post_ok(f"{path}/opening/record", {}, host)
    assert "confirm_until" in await views.check("opening", record)
    own = await views.get("opening", f"{path}/opening", bidder.person)
    assert own["signed_in"] is True
    for each in world.bidders:
        await bidding.confirm(each.session, tender)
    closed = await harness.post_ok(f"{path}/opening/close", {}, host)
    assert (await views.check("opening", closed))["phase"] == "closed"
    final = await views.get("opening", f"{path}/opening", host)
    assert final["seq"] == await views.head(tender)


async def test_evaluation_views_match_their_schemas(evaluation: Evaluation) -> None:
    ev, harness = evaluation, evaluation.harness
    views = Views(harness)
    host, supervisor = ev.world.host, ev.supervisor
    await views.check("progress", await ev.draw())
    await views.check("progress", await ev.start())
    await views.get("overview", "/api/overview", await harness.login(supervisor))
    rooms = await ev.seated()
    ids = [room.session.participant for room in rooms]
    present = await views.get("presence", "/api/presence", supervisor)
    assert set(ids) <= {entry["participant"] for entry in present["online"]}
    await ev.elect(rooms, ids[0])
    await ev.comply(rooms)
    for i, room in enumerate(rooms):
        for bidder in ev.world.bidders:
            scores = {"T1": str(22 + i), "T2": "15", "T3": "16"}
            await room.score(bidder.id, scores, "按评分细则")
    async with asyncio.timeout(WAIT):
        for room in rooms:
            await room.wait_for(lambda s: s.report_hash is not None)
    lot = f"{ev.path}/lots/L1"
    member = await views.check("room", await rooms[1].view())
    assert {s["expert"] for s in member["sheets"]} == {ids[1]}
    assert "standby" not in member
    watched = await views.get("room", f"{lot}/room", await harness.login(supervisor))
    assert (watched["seq"], len(watched["standby"])) == (await views.head(ev.tender), 2)
    for room in rooms:
        await room.sign_report()
    harness.clock.advance(61 * 60)
    await harness.node.scheduler.tick()
    for person in (host, supervisor):
        await harness.login(person)
    result = await views.get("result", f"{lot}/result", host)
    assert (result["lot"], result["seq"]) == ("L1", await views.head(ev.tender))
    await views.get("room", f"{lot}/room", supervisor)
    progress = await views.get("progress", f"{ev.path}/evaluation", host)
    overview = await views.get("overview", "/api/overview", supervisor)
    (tender,) = overview["tenders"]
    assert (tender["id"], tender["seq"], tender["rooms"]) == (
        ev.tender, progress["seq"], progress["lots"]
    )  # fmt: skip
    assert tender["bids"] == {"decrypted": 5}
    assert (await views.get("overview", "/api/overview", host))["tenders"] == [tender]
    expert = await harness.login(ev.experts[ids[0]])
    assert await harness.refused("GET", "/api/overview", expert) == (403, "AccessDenied")
    assert views.seen == {"progress", "overview", "room", "result", "presence"}


async def test_a_member_joins_from_the_view_and_misses_nothing(evaluation: Evaluation) -> None:
    ev = evaluation
    await ev.draw()
    await ev.start()
    rooms = await ev.seated()
    ids = [room.session.participant for room in rooms]
    await ev.elect(rooms, ids[0])
    # A second workstation of the same member opens the room after the election.
    session = await ev.session(ev.experts[ids[1]])
    late = RoomClient(session, ev.tender, (await RoomClient.seats(session))[0])
    ev.rooms["late"] = late
    await late.__aenter__()
    view = await late.view()
    async with asyncio.timeout(WAIT):
        await late.caught_up.wait()
    assert (late.state.stage, late.state.leader, late.state.events) == ("compliance", ids[0], [])
    await ev.comply(rooms)
    async with asyncio.timeout(WAIT):
        state = await late.wait_stage("scoring", 1)
    assert state.events
    assert all(event.seq > view["seq"] for event in state.events)
