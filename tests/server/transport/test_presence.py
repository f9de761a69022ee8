"""Who is online, for supervisors, and an expert's connection closing on record
(docs/sites.md section 8), on a node alone: presence in memory."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, cast

from websockets.asyncio.client import connect

from recordings.vocabulary import EventType
from server.domain.access import Actor, Role
from server.errors import HomeUnavailable
from server.protocol import SYSTEM_STREAM, box_stream
from server.service.commands import actor_json
from server.sites.home import HomeDesk

if TYPE_CHECKING:
    from recordings.audit import AuditRecord
    from tests.conftest import Harness
    from tests.server.transport.evaluation_world import Evaluation

Message = dict[str, Any]


async def online(ev: Evaluation) -> list[Message]:
    status, view = await ev.harness.call("GET", "/api/presence", ev.supervisor)
    assert status == 200, view
    online: list[Message] = view["online"]
    return online


async def departures(ev: Evaluation) -> list[AuditRecord]:
    records = await ev.harness.node.store.read(ev.tender)
    return [record for record in records if record.type == EventType.PRESENCE_LEFT]


async def entry_of(ev: Evaluation, participant: str, tender: str) -> Message:
    """`participant`'s entry once it follows `tender` (the subscription is answered on the
    live channel, which the room client reads on its own)."""
    async with asyncio.timeout(10):
        while True:
            mine = [e for e in await online(ev) if e["participant"] == participant]
            if mine and mine[0]["tender"] == tender:
                return mine[0]
            await asyncio.sleep(0.02)


async def test_supervisors_see_who_is_online_and_an_expert_leaving(evaluation: Evaluation) -> None:
    ev, harness = evaluation, evaluation.harness
    await ev.draw()
    await ev.start()
    await harness.login(ev.supervisor)
    site = harness.node.settings.site
    member = next(m["expert"] for m in (await ev.view())["members"] if m["site"] == site)
    room = await ev.join(member)
    entry = await entry_of(ev, member, ev.tender)
    assert entry == {
        "participant": member, "role": "expert", "site": site, "node": harness.node.id,
        "tender": ev.tender, "workstation": None, "since": entry["since"],
    }  # fmt: skip
    # Names are for supervisors and the admin only.
    expert = await harness.login(ev.experts[member])
    assert await harness.refused("GET", "/api/presence", expert) == (403, "AccessDenied")
    host = await harness.login(ev.world.host)
    assert await harness.refused("GET", "/api/presence", host) == (403, "AccessDenied")
    admin = await harness.person(Role.ADMIN)
    assert (await harness.call("GET", "/api/presence", admin))[0] == 200

    # The supervisor follows the tender live and sees the expert's workstation drop out.
    async with connect(harness.ws_url) as watch:
        await watch.send(json.dumps({"v": 1, "type": "auth", "token": ev.supervisor.token}))
        after = (await harness.node.store.head(ev.tender)).seq
        message = {"v": 1, "type": "subscribe", "tender": ev.tender, "after_seq": after}
        await watch.send(json.dumps(message))
        await room.close()
        del ev.rooms[member]
        event: Message = {}
        async with asyncio.timeout(10):
            while event.get("type") != EventType.PRESENCE_LEFT:
                received = json.loads(await watch.recv())
                event = received.get("event", {}) if received["type"] == "event" else {}
        assert event["payload"]["participant"] == member
        assert event["payload"]["site"] == site
        assert event["payload"]["node"] == harness.node.id
        assert "closed" in event["payload"]["reason"]
        assert event["visibility"] == ["supervisor"]
    # Recorded after the entry was gone: the list no longer names the expert.
    assert [e for e in await online(ev) if e["participant"] == member] == []
    # The supervisor's own connection came and went too, and experts alone are on record.
    records = await harness.node.store.read(ev.tender)
    left = [r.payload["participant"] for r in records if r.type == EventType.PRESENCE_LEFT]
    assert left == [member]


async def test_the_home_records_a_departure_an_edge_forwards(evaluation: Evaluation) -> None:
    ev, harness = evaluation, evaluation.harness
    await ev.draw()
    await ev.start()
    member = next(m["expert"] for m in (await ev.view())["members"] if m["site"] == "sub-1")
    desk = HomeDesk(harness.node)
    actor = Actor(member, Role.EXPERT, "203.0.113.9", site="sub-1")
    reason = "live connection closed (1006)"
    payload = {"actor": actor_json(actor), "tender": ev.tender, "node": "n-edge", "reason": reason}
    reply = await desk.answer("left", payload)
    assert reply.ok
    assert reply.heads == {ev.tender: (await harness.node.store.head(ev.tender)).seq}
    (record,) = await departures(ev)
    assert {**record.payload, "at": None} == {
        "participant": member, "site": "sub-1", "node": "n-edge", "at": None, "reason": reason,
    }  # fmt: skip
    assert (record.actor_id, record.address) == (member, "203.0.113.9")
    # Only an expert's departure, and only from a tender under evaluation, is on record.
    host = Actor(ev.world.host.id, Role.HOST, "203.0.113.9", site="sub-1")
    assert (await desk.answer("left", payload | {"actor": actor_json(host)})).ok
    assert (await desk.answer("left", payload | {"tender": "t-unknown"})).ok
    assert (
        len([r for r in await harness.node.store.read(ev.tender) if r.type == "presence.left"]) == 1
    )
    for wrong in ({"tender": 7}, {"actor": {"id": member}}):
        refused = await desk.answer("left", payload | wrong)
        assert not refused.ok
        assert isinstance(refused.payload, dict)
        assert refused.payload["status"] == 400


class Home:
    """The home as an edge reaches it, for departures only; it can also be away."""

    def __init__(self, *, away: bool = False) -> None:
        self.away = away
        self.departures: list[tuple[str, str, str, str]] = []

    async def left(self, actor: Actor, tender: str, node: str, reason: str) -> None:
        if self.away:
            raise HomeUnavailable("No main-venue node holds the tender now.")
        self.departures.append((actor.id, tender, node, reason))


async def test_an_edge_sends_an_experts_departures_to_its_home(harness: Harness) -> None:
    node = harness.node
    expert = Actor("p-expert", Role.EXPERT, "203.0.113.9", site="sub-1")
    one, two = "t-20261121-000000000001", "t-20261121-000000000002"
    streams = [one, box_stream(one), SYSTEM_STREAM, two]
    home = Home()
    node.remote = cast("Any", home)  # only `left` is reached from here
    try:
        await node.connected(expert)
        await node.disconnected(expert, streams, "gone")
        assert home.departures == [
            ("p-expert", one, node.id, "gone"), ("p-expert", two, node.id, "gone")
        ]  # fmt: skip
        # Anyone else leaves no record; a home away loses the record, never the close.
        await node.disconnected(Actor("p-host", Role.HOST, "203.0.113.9"), streams, "gone")
        node.remote = cast("Any", Home(away=True))
        await node.disconnected(expert, streams, "gone")
    finally:
        node.remote = None
    assert len(home.departures) == 2
    assert await node.attendance.port.online() == []
