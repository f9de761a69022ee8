"""The room's edges over real sockets: replacements at awkward moments, repeated questions,
late signatures, and what the host and bidders can learn from the records they read."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from evaluator_client.room import ActRefused, RoomClient
from tests.server.transport.evaluation_world import Evaluation, draw_request
from tests.server.transport.test_evaluation import refused, sheet, to_scoring

if TYPE_CHECKING:
    from tests.conftest import Person


async def replace(ev: Evaluation, workstation: str, reason: str = "身体不适 unwell") -> None:
    host = await ev.harness.login(ev.world.host)
    body = {"workstation": workstation, "reason": reason}
    await ev.harness.post_ok(f"{ev.path}/lots/L1/evaluation/replace", body, host)


async def test_two_conflicts_at_once_never_need_more_standby_than_there_is(
    evaluation: Evaluation,
) -> None:
    ev = evaluation
    await ev.draw(draw_request(standby=1))
    await ev.start()
    view = await ev.view()
    specialty = ev.experts[view["standby"][0]].participant.attributes["specialty"]
    same = [m["expert"] for m in view["members"] if m["specialty"] == specialty]
    first, second = [await ev.join(e) for e in same[:2]]  # the one standby fits either
    await first.check_in()
    await second.check_in()
    declared = [("投标人3 Bidder 3", "近三年内曾有合作")]
    outcomes = await asyncio.gather(
        first.pledge(declared), second.pledge(declared), return_exceptions=True
    )
    rules = sorted(o.rule or "" if isinstance(o, ActRefused) else "ok" for o in outcomes)
    assert rules == ["NoStandbyLeft", "ok"]
    view = await ev.view()
    assert (len(view["members"]), len(view["replaced"]), view["standby"]) == (5, 1, [])
    rooms = await ev.seated()  # the room goes on
    assert {r.state.stage for r in rooms} <= {"check_in", "election"}


async def replaceable(ev: Evaluation, rooms: list[RoomClient]) -> RoomClient:
    """A member whom a standby expert can replace (one of the same specialty is left)."""
    view = await ev.view()
    specialty = ev.experts[view["standby"][0]].participant.attributes["specialty"]
    seats = {m["expert"]: m["specialty"] for m in view["members"]}
    return next(r for r in rooms if seats[r.session.participant] == specialty)


async def test_a_replaced_leader_is_succeeded_by_a_new_election(evaluation: Evaluation) -> None:
    ev = evaluation
    await ev.draw()
    await ev.start()
    rooms = await ev.seated()
    leader = await replaceable(ev, rooms)
    rooms.remove(leader)
    rooms.insert(0, leader)
    await ev.elect(rooms, leader.session.participant)
    await ev.comply(rooms, failing=ev.world.bidders[4].id)
    assert leader.state.leader == leader.session.participant
    await replace(ev, leader.workstation)
    successor = next(e for e in await ev.members() if e not in ev.rooms)
    rooms = [*rooms[1:], await ev.join(successor)]
    await rooms[-1].check_in()
    await rooms[-1].pledge()
    for room in rooms:
        await room.wait_stage("election")
    assert rooms[0].state.round == 2
    await ev.elect_again(rooms, rooms[0].session.participant)
    for room in rooms:
        await room.wait_stage("scoring", 1)
    assert rooms[1].state.leader == rooms[0].session.participant


async def test_votes_for_a_member_who_leaves_are_cast_again(evaluation: Evaluation) -> None:
    ev = evaluation
    await ev.draw()
    await ev.start()
    rooms = await ev.seated()
    target = await replaceable(ev, rooms)
    rooms.remove(target)
    await rooms[0].wait_stage("election", 1)
    await rooms[0].vote(target.session.participant)
    await rooms[1].vote(rooms[2].session.participant)
    await replace(ev, target.workstation)
    assert (await ev.view())["voted"] == [rooms[1].session.participant]
    await rooms[0].vote(rooms[1].session.participant)  # its first vote is void


async def test_a_question_waiting_for_its_answer_is_not_asked_twice(
    evaluation: Evaluation,
) -> None:
    ev = evaluation
    rooms = await to_scoring(ev)
    bidder = ev.world.bidders[1].id
    await rooms[0].ask(bidder, "请补充业绩证明")
    assert await refused(rooms[0].ask(bidder, "请补充业绩证明")) == "AlreadyActed"
    await rooms[0].ask(bidder, "请说明工期安排")  # another question is fine


async def test_a_signature_after_the_signing_time_is_refused(evaluation: Evaluation) -> None:
    ev, harness = evaluation, evaluation.harness
    rooms = await to_scoring(ev)
    for i, room in enumerate(rooms):
        for bidder in ev.world.bidders[:4]:
            await room.score(bidder.id, sheet(i))
    for room in rooms:
        await room.wait_for(lambda s: s.report_hash is not None)
    await rooms[0].sign_report()
    harness.clock.advance(60 * 60)  # the deadline, before the scheduler has run
    await rooms[1].session.renew()
    assert await refused(rooms[1].sign_report()) == "WrongStage"
    await harness.node.scheduler.tick()
    records = await harness.node.store.read(ev.tender)
    result = next(r.payload for r in records if r.type == "evaluation.result_published")
    assert len(result["deemed_agreed"]) == 4


async def test_the_host_and_bidders_never_read_a_members_id(evaluation: Evaluation) -> None:
    ev, harness = evaluation, evaluation.harness
    rooms = await to_scoring(ev)
    await rooms[0].ask(ev.world.bidders[0].id, "请说明")
    members = set(await ev.members())

    async def read(person: Person) -> str:
        await harness.login(person)
        status, page = await harness.call("GET", f"{ev.path}/events?limit=1000", person)
        assert status == 200
        return json.dumps(page, ensure_ascii=False)

    for person in (ev.world.host, ev.world.bidders[0].person):
        seen = await read(person)
        assert "evaluation.stage_opened" in seen or person is not ev.world.host
        assert not [m for m in members if m in seen]
    assert "evaluation.clarification_sent" in await read(ev.world.bidders[0].person)
