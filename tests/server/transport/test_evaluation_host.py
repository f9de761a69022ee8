"""The host's side of the evaluation over real sockets: the draw's rules, replacements, reads."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from evaluator_client.room import ActRefused
from server.domain.access import Role
from tests.server.transport.evaluation_world import (
    BUILDING,
    COST,
    Evaluation,
    build_evaluation,
    draw_request,
)
from tests.server.transport.opening_world import build_world

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Harness


async def host_refused(ev: Evaluation, path: str, body: object = None) -> tuple[int, str]:
    host = await ev.harness.login(ev.world.host)
    return await ev.harness.refused("POST", f"{ev.path}{path}", host, body or {})


async def test_a_draw_must_fit_the_tender_and_the_pool(evaluation: Evaluation) -> None:
    ev = evaluation
    assert await host_refused(ev, "/lots/L1/draw/reveal") == (422, "DrawNotReady")
    four = draw_request() | {"quotas": [{"specialty": BUILDING, "count": 4}]}
    assert await host_refused(ev, "/lots/L1/draw", four) == (422, "CommitteeRuleBroken")
    assert await host_refused(ev, "/lots/L1/draw", {"quotas": []}) == (400, "invalid_request")
    # Four cost experts can't be found outside the tenderer's employ: the draw fails on record.
    short = draw_request() | {
        "quotas": [{"specialty": BUILDING, "count": 1}, {"specialty": COST, "count": 4}]
    }
    host = await ev.harness.login(ev.world.host)
    await ev.harness.post_ok(f"{ev.path}/lots/L1/draw", short, host)
    assert await host_refused(ev, "/lots/L1/draw", short) == (422, "DrawNotReady")
    assert await host_refused(ev, "/lots/L1/draw/reveal") == (422, "NotEnoughExperts")
    failed = [r for r in await ev.harness.node.store.read(ev.tender) if r.type.endswith("failed")]
    assert [r.type for r in failed] == ["evaluation.draw_failed"]
    assert failed[0].payload["seed"]  # the seed is revealed even so: the failure is checkable
    progress = await ev.draw()  # a new commitment is allowed after a failed draw
    assert progress["lots"][0]["stage"] == "drawn"
    assert await host_refused(ev, "/lots/L1/draw", draw_request()) == (422, "DrawNotReady")


async def test_no_draw_before_the_opening_is_closed(harness: Harness, tmp_path: Path) -> None:
    world = await build_world(harness, tmp_path)
    try:
        refused = await harness.refused(
            "POST", f"/api/tenders/{world.tender}/lots/L1/draw", world.host, draw_request()
        )
        assert refused == (422, "DrawNotReady")
    finally:
        await world.close()


async def test_the_host_replaces_an_absent_member_by_workstation(evaluation: Evaluation) -> None:
    ev = evaluation
    await ev.draw()
    await ev.start()
    drawn = await ev.view()
    seat, standby = drawn["members"][0], drawn["standby"]
    before = {m["expert"] for m in drawn["members"]}
    absent = seat["expert"]
    room = await ev.join(absent)
    body = {"workstation": seat["workstation"], "reason": "专家未按时到场 absent at the start"}
    host = await ev.harness.login(ev.world.host)
    progress = await ev.harness.post_ok(f"{ev.path}/lots/L1/evaluation/replace", body, host)
    assert progress["lots"][0]["replacements"] == 1
    view = await ev.view()
    now = {m["expert"] for m in view["members"]}
    assert now - before == {view["replaced"][0]["seat"]["expert"]} <= set(standby)
    assert before - now == {absent}
    assert view["replaced"][0]["reason"].startswith("专家未按时到场")
    with pytest.raises(ActRefused) as caught:
        await room.check_in()
    assert caught.value.rule == "NotACommitteeMember"
    nobody = {"workstation": "X-99", "reason": "无"}
    assert await host_refused(ev, "/lots/L1/evaluation/replace", nobody) == (
        403,
        "WrongWorkstation",
    )
    # Two standby entries: after them, the lot must be drawn again.
    for member in view["members"][1:3]:
        body = {"workstation": member["workstation"], "reason": "身体不适 unwell"}
        host = await ev.harness.login(ev.world.host)
        await ev.harness.call("POST", f"{ev.path}/lots/L1/evaluation/replace", host, body)
    last = (await ev.view())["members"][3]
    body = {"workstation": last["workstation"], "reason": "身体不适 unwell"}
    assert (await host_refused(ev, "/lots/L1/evaluation/replace", body))[1] == "NoStandbyLeft"


async def test_members_read_bids_once_pledged_and_acts_post_over_http(
    evaluation: Evaluation,
) -> None:
    ev, harness = evaluation, evaluation.harness
    await ev.draw()
    await ev.start()
    expert = (await ev.members())[0]
    room = await ev.join(expert)
    bidder = ev.world.bidders[0].id
    path = f"{ev.path}/lots/L1/bids/{bidder}/document"
    person = await harness.login(ev.experts[expert])
    response = await harness.client.get(path, headers=person.headers)
    assert (response.status, (await response.json())["error"]["rule"]) == (422, "NotCheckedIn")
    await room.check_in()
    pledge = room.document("pledge", conflicts=[])
    signed = {"document": pledge, "signature": room.session.sign("pledge", pledge)}
    ack = await harness.post_ok(f"{ev.path}/lots/L1/room/acts", signed, person)
    assert (ack["type"], len(ack["hash"])) == ("evaluation.pledged", 64)
    record = next(r for r in await harness.node.store.read(ev.tender) if r.seq == ack["seq"])
    assert record.hash == ack["hash"]
    response = await harness.client.get(path, headers=person.headers)
    assert response.status == 200
    assert len(await response.read()) > 0
    reads = [r for r in await harness.node.store.read(ev.tender) if r.type == "bid.document_read"]
    assert [r.actor_id for r in reads] == [expert]
    members = await ev.members()
    outsider = next(e for e in ev.experts if e not in members)
    other = await harness.login(ev.experts[outsider])
    response = await harness.client.get(path, headers=other.headers)
    assert response.status == 403


async def test_the_room_survives_a_node_restart(harness: Harness, tmp_path: Path) -> None:
    ev = await build_evaluation(harness, tmp_path)
    try:
        await ev.draw()
        await ev.start()
        rooms = await ev.seated()
        await rooms[0].wait_stage("election", 1)
        node = harness.node
        await node.evaluation.resume()  # nothing undone: no step is taken twice
        types = [r.type for r in await node.store.read(ev.tender)]
        assert types.count("evaluation.stage_opened") == 3  # committed, check-in, election
        progress: dict[str, Any] = await ev.view()
        assert (progress["stage"], progress["round"]) == ("election", 1)
    finally:
        await ev.close()


async def test_bidders_see_only_their_questions_and_the_result(evaluation: Evaluation) -> None:
    ev, harness = evaluation, evaluation.harness
    await ev.draw()
    bidder = ev.world.bidders[0]
    status, _ = await harness.call(
        "GET", f"{ev.path}/lots/L1/result", await harness.login(bidder.person)
    )
    assert status == 404
    visitor = await harness.person(Role.PUBLIC, "visitor")
    status, page = await harness.call("GET", f"{ev.path}/events", visitor)
    assert status == 200
    assert not [e for e in page["events"] if e["event"]["type"].startswith("evaluation.")]


async def test_the_host_sees_what_the_pool_can_give_never_who_is_in_it(harness: Harness) -> None:
    """GET /api/evaluation/pool: experts counted by specialty and region, for planning quotas;
    no id or name (the host never learns who evaluates)."""
    pool = [("建筑工程", "广州"), ("建筑工程", "广州"), ("建筑工程", "深圳"), ("工程造价", "广州")]
    experts = [
        await harness.enroll(
            Role.EXPERT, f"专家{i}", {"specialty": s, "region": r, "employer": f"单位{i}"}
        )
        for i, (s, r) in enumerate(pool)
    ]
    host = await harness.person(Role.HOST, "host")
    status, found = await harness.call("GET", "/api/evaluation/pool", host)
    assert status == 200
    assert found == {
        "pool": [
            {"specialty": "工程造价", "region": "广州", "count": 1},
            {"specialty": "建筑工程", "region": "广州", "count": 2},
            {"specialty": "建筑工程", "region": "深圳", "count": 1},
        ]
    }
    text = json.dumps(found, ensure_ascii=False)
    assert not any(e.id in text or e.participant.name in text for e in experts)
    for role in (Role.BIDDER, Role.EXPERT, Role.PUBLIC):
        someone = await harness.person(role, "someone")
        assert await harness.refused("GET", "/api/evaluation/pool", someone) == (
            403,
            "AccessDenied",
        )
