"""Whole committees over real sockets: the draw, the room's flow, checks, the signed report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from crypto import SigningKey, VerifyKey, b64url_decode, verify
from evaluator_client import bidding
from evaluator_client.errors import ApiError
from evaluator_client.room import ActRefused, RoomClient
from recordings.documents import report_hash
from recordings.draw import DrawRequest, PoolEntry, draw
from server.service.node import CONSOLE
from tests.server.transport.evaluation_world import Evaluation, draw_request

if TYPE_CHECKING:
    from collections.abc import Mapping


NORMAL = {"T1": "24", "T2": "15", "T3": "16"}


async def records(ev: Evaluation, kind: str) -> list[Mapping[str, Any]]:
    return [r.payload for r in await ev.harness.node.store.read(ev.tender) if r.type == kind]


async def refused(call: Any) -> str | None:
    with pytest.raises(ActRefused) as caught:
        await call
    return caught.value.rule


def sheet(i: int, **changes: str) -> dict[str, str]:
    """A member's usual scores, a little different for each member (subjective only)."""
    return NORMAL | {"T1": str(22 + i)} | changes


async def test_the_draw_reruns_from_its_seed_and_avoids_ties(evaluation: Evaluation) -> None:
    progress = await evaluation.draw()
    lot = progress["lots"][0]
    assert (lot["stage"], lot["members"]) == ("drawn", 5)
    committed = (await records(evaluation, "evaluation.draw_committed"))[0]
    drawn = (await records(evaluation, "evaluation.committee_drawn"))[0]
    assert lot["seed_hash"] == committed["seed_hash"]
    snapshot = tuple(PoolEntry.from_json(e) for e in committed["snapshot"])
    request = DrawRequest.from_json(committed["request"])
    again = draw(bytes.fromhex(drawn["seed"]), snapshot, request, tuple(committed["avoid"]))
    assert [s.to_json() for s in again.members] == drawn["members"]
    assert list(again.standby) == drawn["standby"]
    assert "City Urban Management Bureau" in committed["avoid"]
    assert "投标人1 Bidder 1" in committed["avoid"]
    tied = {e.expert for e in snapshot if e.employer in committed["avoid"]}
    assert len(tied) == 2
    assert not tied & ({m["expert"] for m in drawn["members"]} | set(drawn["standby"]))
    sites = {m["site"]: m["workstation"][0] for m in drawn["members"]}
    assert sites == {"main": "M", "sub-1": "S"}
    # The host sees the progress, never the names (Law 37).
    harness = evaluation.harness
    status, view = await harness.call(
        "GET", f"{evaluation.path}/lots/L1/room", await harness.login(evaluation.world.host)
    )
    assert (status, view["error"]["code"]) == (403, "forbidden")


async def test_a_full_committee(evaluation: Evaluation) -> None:
    ev, harness = evaluation, evaluation.harness
    await ev.draw()
    started = await ev.start()
    assert started["lots"][0]["stage"] == "check_in"
    drawn = await ev.members()

    # Check-in and pledge; one member declares a conflict and is replaced from the standby.
    conflicted = drawn[0]
    room = await ev.join(conflicted)
    await room.check_in()
    await room.pledge([("投标人2 Bidder 2", "曾在该单位任职 worked there until last year")])
    members = await ev.members()
    assert conflicted not in members
    assert len(members) == 5
    with pytest.raises(ActRefused) as caught:
        await room.more_time("还需要时间")
    assert caught.value.rule == "NotACommitteeMember"
    replaced = (await records(ev, "evaluation.member_replaced"))[0]
    assert (replaced["leaving"], replaced["by"]) == (conflicted, "declaration")
    rooms = await ev.seated()
    ids = [r.session.participant for r in rooms]

    # The election needs two rounds: no majority in the first.
    for room, choice in zip(rooms, [ids[0], ids[0], ids[1], ids[1], ids[2]], strict=True):
        await room.wait_stage("election", 1)
        await room.vote(choice)
    for room in rooms:
        await room.wait_stage("election", 2)
    await ev.elect(rooms, ids[1])
    elections = await records(ev, "evaluation.election_held")
    assert [e["leader"] for e in elections] == [None, ids[1]]
    leader = rooms[1]

    # Compliance: most members fail bidder 5 on C1; its bid drops out with the reasons.
    rejected = ev.world.bidders[4].id
    await ev.comply(rooms, failing=rejected)
    decided = (await records(ev, "evaluation.compliance_decided"))[0]
    assert [r["bidder"] for r in decided["rejected"]] == [rejected]
    assert decided["rejected"][0]["failures"][0]["reasons"] == ["未盖章"] * 4

    # A clarification: the leader asks, the bidder answers in writing, signed.
    asked = ev.world.bidders[0]
    await leader.ask(asked.id, "请说明项目经理的社保缴纳情况")
    questions = await bidding.clarifications(asked.session, ev.tender)
    assert [q["question"] for q in questions] == ["请说明项目经理的社保缴纳情况"]
    assert "expert" not in questions[0]
    await bidding.answer_clarification(
        asked.session, ev.tender, "L1", questions[0]["clarification"], "已缴纳，附证明"
    )
    with pytest.raises(ActRefused) as caught:
        await rooms[0].ask(asked.id, "非组长提问")
    assert caught.value.rule == "NotLeader"

    # More than a third ask for more time: the time is extended once (Regs 48).
    before = rooms[0].state.ends_at
    await rooms[0].more_time("材料较多")
    await rooms[2].more_time("需要核对业绩")
    state = await rooms[0].wait_for(lambda s: s.ends_at != before)
    assert state.ends_at is not None
    assert before is not None
    assert state.ends_at > before

    # Scoring: member 0 scores bidder 1 abnormally low, member 3 differs on an objective item.
    compliant = [b.id for b in ev.world.bidders[:4]]
    for i, room in enumerate(rooms):
        for bidder in compliant:
            scores = sheet(i)
            if (i, bidder) == (0, compliant[0]):
                scores = sheet(i, T1="5", T2="3")
            if (i, bidder) == (3, compliant[1]):
                scores = sheet(i, T3="12")
            await room.score(bidder, scores, "按评分细则")
    for room in rooms:
        await room.wait_stage("scoring", 2)
    flags = {(f["expert"], f["bidder"], f["kind"]) for f in rooms[0].state.flags}
    assert flags == {(ids[0], compliant[0], "abnormal"), (ids[3], compliant[1], "objective")}
    assert await refused(rooms[3].confirm(compliant[1], "我坚持")) == "MustRevise"
    await rooms[0].confirm(compliant[0], "该投标施工组织设计缺少关键工序，评分有据")
    await rooms[3].score(compliant[1], sheet(3), "更正业绩数量")
    for room in rooms:
        await room.wait_for(lambda s: s.report_hash is not None)
    ranked = (await records(ev, "evaluation.ranked"))[0]
    assert len(ranked["candidates"]) == 3
    assert rejected not in ranked["candidates"]
    assert ranked["ranking"][0]["bidder"] != compliant[0]  # its low scores stand, confirmed

    # The report: three sign, one dissents, one says nothing and is deemed to agree.
    report = rooms[0].state.report
    assert report is not None
    assert report_hash(report) == rooms[0].state.report_hash
    assert report["clarifications"][0]["answer"] == "已缴纳，附证明"
    assert {f["expert"] for f in report["flags"]} == {ids[0], ids[3]}
    for room in rooms[:3]:
        await room.sign_report()
    await rooms[3].dissent("价格分计算方式应在招标文件中更明确")
    assert await refused(rooms[0].sign_report()) == "AlreadyActed"
    harness.clock.advance(61 * 60)
    await harness.node.scheduler.tick()
    result = (await records(ev, "evaluation.result_published"))[0]
    assert [d["expert"] for d in result["deemed_agreed"]] == [ids[4]]
    assert len(result["signatures"]) == 3
    assert len(result["dissents"]) == 1
    for signed in result["signatures"]:
        key = VerifyKey.from_text(ev.experts[signed["expert"]].participant.public_key)
        verify(key, "report-signature", signed["document"], b64url_decode(signed["signature"]))
    types = [r.type for r in await harness.node.store.read(ev.tender)]
    assert types.index("tender.concluded") > types.index("evaluation.result_published")

    # The result is public, with the names; the page renders in Chinese and in English.
    watcher = ev.world.bidders[2]
    public = await watcher.session.get(f"{ev.path}/lots/L1/result")
    names = {ev.experts[i].participant.name for i in ids}
    assert {m["name"] for m in public["committee"]} == names
    page = await harness.client.get(
        f"{ev.path}/lots/L1/report.html", headers=(await harness.login(ev.world.host)).headers
    )
    text = await page.text()
    assert page.status == 200
    assert "评标报告" in text
    assert "视为同意" in text
    english = await harness.client.get(
        f"{ev.path}/lots/L1/report.html?lang=en", headers=ev.world.host.headers
    )
    assert "deemed to agree" in await english.text()


async def test_supervisors_watch_and_others_are_refused_on_record(evaluation: Evaluation) -> None:
    ev, harness = evaluation, evaluation.harness
    await ev.draw()
    await ev.start()
    members = await ev.members()
    outsider = next(e for e in ev.experts if e not in members)
    session = await ev.session(ev.experts[outsider])
    assert await RoomClient.seats(session) == []
    host = await harness.login(ev.world.host)
    for person, want in ((host, 403), (ev.world.bidders[0].person, 403)):
        await harness.login(person)
        status, _ = await harness.call("GET", f"{ev.path}/lots/L1/room", person)
        assert status == want
    room = RoomClient(session, ev.tender, {"lot": "L1", "workstation": "M-01", "site": "main"})
    with pytest.raises(ApiError) as caught:
        await room.__aenter__()
    assert (caught.value.status, caught.value.rule) == (403, "OutOfScope")
    document = room.document("check-in", site="main")
    body = {"document": document, "signature": session.sign("check-in", document)}
    with pytest.raises(ApiError) as caught:
        await session.post(f"{ev.path}/lots/L1/room/acts", body)
    assert (caught.value.status, caught.value.rule) == (403, "OutOfScope")
    refusals = {
        (r.actor_id, r.payload["action"])
        for r in await harness.node.store.read(ev.tender)
        if r.type == "access.denied"
    }
    assert (outsider, "evaluation.act") in refusals
    assert (host.id, "evaluation.room") in refusals


async def to_scoring(ev: Evaluation) -> list[RoomClient]:
    """A committee drawn, seated, with a leader, bidder 5 rejected: scoring round 1."""
    await ev.draw()
    await ev.start()
    rooms = await ev.seated()
    await ev.elect(rooms, rooms[0].session.participant)
    await ev.comply(rooms, failing=ev.world.bidders[4].id)
    return rooms


async def test_bad_acts_are_refused_typed_on_record_and_change_nothing(
    evaluation: Evaluation,
) -> None:
    ev = evaluation
    rooms = await to_scoring(ev)
    first, other = rooms[0], rooms[1]
    bidder, fresh, rejected = (ev.world.bidders[i].id for i in (0, 1, 4))
    await first.score(bidder, sheet(0), "first version")
    before = (await ev.view())["sheets"]

    def score(room: RoomClient, **changes: Any) -> dict[str, Any]:
        fields = {"round": 1, "version": 2, "bidder": bidder, "scores": sheet(0), "comment": ""}
        return room.document("score-sheet", **(fields | changes))

    document = score(first)
    forged = other.session.sign("score-sheet", document)
    bad = {
        "signed by another expert": first.send_signed(document, forged),
        "naming another expert": first.send(score(other)),
        "a stale round": first.send(score(first, round=2)),
        "a replay": first.send(score(first, version=1)),
        "out of range": first.send(score(first, bidder=fresh, version=1, scores=sheet(0, T1="31"))),
        "off step": first.send(score(first, bidder=fresh, version=1, scores=sheet(0, T3="12.5"))),
        "a rejected bid": first.send(score(first, bidder=rejected, version=1)),
        "another workstation": first.send(score(first, workstation="S-05")),
        "a vote out of its stage": first.send(first.document("leader-vote", round=1,
                                                             candidate=other.session.participant)),
    }  # fmt: skip
    rules = {what: await refused(call) for what, call in bad.items()}
    assert rules == {
        "signed by another expert": "SignatureRejected",
        "naming another expert": "SignatureRejected",
        "a stale round": "StaleRound",
        "a replay": "StaleVersion",
        "out of range": "ScoreOutOfRange",
        "off step": "ScoreOffStep",
        "a rejected bid": "BidNotInReview",
        "another workstation": "WrongWorkstation",
        "a vote out of its stage": "WrongStage",
    }
    assert (await ev.view())["sheets"] == before
    on_record = [
        r.payload["rule"]
        for r in await ev.harness.node.store.read(ev.tender)
        if r.type == "command.rejected" and r.actor_id == first.session.participant
    ]
    assert sorted(on_record) == sorted(map(str, rules.values()))

    # The rest of the committee scores; everyone signs; a sheet after that is refused.
    for room in rooms:
        for b in ev.world.bidders[:4]:
            if (room, b.id) != (first, bidder):
                await room.score(b.id, sheet(rooms.index(room)))
    for room in rooms:
        await room.wait_for(lambda s: s.report_hash is not None)
        await room.sign_report()
    late = await refused(first.send(score(first, version=2)))
    assert late == "WrongStage"
    result = (await records(ev, "evaluation.result_published"))[0]
    assert (len(result["signatures"]), result["deemed_agreed"]) == (5, [])


async def test_votes_count_once_per_round(evaluation: Evaluation) -> None:
    ev = evaluation
    await ev.draw()
    await ev.start()
    rooms = await ev.seated()
    await rooms[0].wait_stage("election", 1)
    await rooms[0].vote(rooms[1].session.participant)
    assert await refused(rooms[0].vote(rooms[2].session.participant)) == "AlreadyActed"
    members = await ev.members()
    outsider = next(e for e in ev.experts if e not in members)
    assert await refused(rooms[1].vote(outsider)) == "UnknownCandidate"
    assert (await ev.view())["voted"] == [rooms[0].session.participant]


async def test_a_member_acts_through_its_site_s_node_whatever_its_address(
    evaluation: Evaluation,
) -> None:
    ev = evaluation
    # The secondary venue has a node of its own: its workstations act through it, not here.
    edge = {"role": "node", "name": "sub-1 node", "attributes": {"site": "sub-1"},
            "public_key": SigningKey.generate().verify_key.to_text()}  # fmt: skip
    await ev.harness.node.participants.enroll(CONSOLE, edge)
    await ev.draw(draw_request(main_address="192.0.2.10"))  # recorded, binding nothing
    await ev.start()
    view = await ev.view()
    at_main = next(m["expert"] for m in view["members"] if m["site"] == "main")
    at_sub = next(m["expert"] for m in view["members"] if m["site"] == "sub-1")
    assert await refused((await ev.join(at_sub)).check_in()) == "WrongWorkstation"
    await (await ev.join(at_main)).check_in()  # this node is the main venue's
    checked = {m["expert"]: m["checked_in"] for m in (await ev.view())["members"]}
    assert (checked[at_main], checked[at_sub]) == (True, False)
