"""The log as a verifiable tree over real sockets: signed tree heads, proofs, a witness."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from crypto import VerifyKey, merkle_root
from evaluator_client.errors import ApiError, ClientError
from evaluator_client.witness import (
    ForkDetected,
    TreeHead,
    Witness,
    latest_tree_head,
    prove_included,
)
from server.app import create_app
from server.domain.access import Role
from tests.conftest import AiohttpClient, Harness, ManualClock
from tests.server.transport.opening_world import World, build_world
from tests.server.transport.test_opening import decrypt, to_opening

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from evaluator_client.session import Session
    from server.config import Settings


async def node_key(harness: Harness) -> VerifyKey:
    return VerifyKey.from_text((await harness.call("GET", "/api/node"))[1]["public_key"])


async def bodies(harness: Harness, stream: str) -> list[bytes]:
    return [r.body.encode() for r in await harness.node.store.read(stream)]


async def test_publication_is_pinned_by_a_signed_tree_head(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    tender = await harness.tender(host)
    await harness.post_ok(f"/api/tenders/{tender}/publish", {}, host)
    status, answer = await harness.call("GET", f"/api/tenders/{tender}/tree-head", host)
    assert status == 200
    head = TreeHead.checked(answer, await node_key(harness))
    assert (head.stream, head.size, answer["seq"]) == (tender, 5, 6)
    assert head.root == merkle_root((await bodies(harness, tender))[:5])
    forged = answer | {"tree_head": answer["tree_head"] | {"size": 4}}
    with pytest.raises(ClientError, match="not signed by the node"):
        TreeHead.checked(forged, await node_key(harness))


async def test_a_tree_head_at_least_every_n_events(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    app = create_app(replace(settings, tree_head_every=4), clock=clock, schedule=False)
    harness = Harness(await aiohttp_client(app), clock)
    host, visitor = await harness.person(Role.HOST), await harness.person(Role.PUBLIC)
    tender = await harness.tender(host)
    for _ in range(9):  # refused on record: one event each
        await harness.call("POST", f"/api/tenders/{tender}/publish", visitor)
    records = await harness.node.store.read(tender)
    sizes = [r.payload["tree_head"]["size"] for r in records if r.type == "audit.tree_head"]
    assert sizes == [4, 9]  # after 4 events, then 4 more past the first tree head
    assert [r.seq for r in records if r.type == "audit.tree_head"] == [5, 10]
    root = merkle_root((await bodies(harness, tender))[:9])
    assert records[9].payload["tree_head"]["root"] == root.hex()


@pytest.fixture
async def world(harness: Harness, tmp_path: Path) -> AsyncIterator[World]:
    built = await build_world(harness, tmp_path, count=3)
    yield built
    await built.close()


async def event_of(session: Session, tender: str, kind: str) -> dict[str, Any]:
    page = await session.get(f"/api/tenders/{tender}/events")
    return next(item["event"] for item in page["events"] if item["event"]["type"] == kind)


async def test_a_bidder_proves_its_receipt_and_the_record_are_in_the_signed_log(
    world: World,
) -> None:
    await to_opening(world)
    for bidder in world.bidders:
        await decrypt(world, bidder)
    await world.harness.post_ok(f"/api/tenders/{world.tender}/opening/record", {}, world.host)
    bidder, key = world.bidders[0], await node_key(world.harness)
    head = await latest_tree_head(bidder.session, world.tender, key)
    sealed = await event_of(bidder.session, world.tender, "lot.sealed")
    assert bidder.receipt in sealed["payload"]["list"]["receipts"]
    record = await event_of(bidder.session, world.tender, "opening.record_published")
    for event in (sealed, record):
        await prove_included(bidder.session, event, head)
    altered = sealed | {"time": "2026-11-21T09:00:00.000000Z"}
    with pytest.raises(ClientError, match="not in the signed log"):
        await prove_included(bidder.session, altered, head)
    # The proof is hashes only: events the bidder may not see stay unseen, and unprovable.
    hidden = next(
        r for r in await world.harness.node.store.read(world.tender)
        if r.type == "bid.sheet_extracted"
    )  # fmt: skip
    path = f"/api/tenders/{world.tender}/proofs/inclusion?seq={hidden.seq}&size={head.size}"
    with pytest.raises(ApiError) as caught:
        await bidder.session.get(path)
    assert caught.value.status == 404
    assert hidden.seq <= head.size  # in the tree all the same


@pytest.mark.parametrize(
    "query",
    ["seq=1", "seq=1&size=0", "size=3", "seq=9&size=3", "seq=1&size=99999"],
)
async def test_impossible_proofs_are_400(world: World, query: str) -> None:
    path = f"/api/tenders/{world.tender}/proofs/inclusion?{query}"
    status, _ = await world.harness.refused("GET", path, world.host)
    assert status in (400, 404)


async def test_consistency_queries_are_checked(world: World) -> None:
    base = f"/api/tenders/{world.tender}/proofs/consistency"
    for query in ("from=1", "from=3&to=2", "from=1&to=99999"):
        assert (await world.harness.refused("GET", f"{base}?{query}", world.host))[0] == 400


async def test_a_witness_follows_the_log_and_catches_a_fork(world: World, tmp_path: Path) -> None:
    harness = world.harness
    supervisor = await harness.person(Role.SUPERVISOR, "监督员")
    session = await world.login(supervisor)
    world.sessions.append(session)
    key, witness = await node_key(harness), Witness(tmp_path / "witness.json")
    first = await latest_tree_head(session, world.tender, key)
    assert await witness.observe(session, first) == "first"
    assert await witness.observe(session, first) == "same"
    await to_opening(world)
    later = await latest_tree_head(session, world.tender, key)
    assert later.size > first.size
    assert await witness.observe(session, later) == f"extends {first.size}"
    # The node shows a different history than the one witnessed: the alarm goes off.
    state = json.loads((tmp_path / "witness.json").read_text())
    state[world.tender] = {"size": first.size, "root": "00" * 32}
    (tmp_path / "witness.json").write_text(json.dumps(state))
    with pytest.raises(ForkDetected, match="does not extend"):
        await witness.observe(session, later)
    state[world.tender] = {"size": later.size + 5, "root": later.root.hex()}
    (tmp_path / "witness.json").write_text(json.dumps(state))
    with pytest.raises(ForkDetected, match="after"):
        await witness.observe(session, later)
    state[world.tender] = {"size": later.size, "root": "11" * 32}
    (tmp_path / "witness.json").write_text(json.dumps(state))
    with pytest.raises(ForkDetected, match="Two different trees"):
        await witness.observe(session, later)


async def test_the_bid_box_has_its_own_signed_tree_for_supervisors(world: World) -> None:
    harness = world.harness
    supervisor = await harness.person(Role.SUPERVISOR, "监督员")
    session = await world.login(supervisor)
    world.sessions.append(session)
    await world.advance_to_deadline()  # the box is sealed: a phase, so a tree head
    head = await latest_tree_head(session, f"{world.tender}-box", await node_key(harness))
    assert head.root == merkle_root((await bodies(harness, f"{world.tender}-box"))[: head.size])
    bidder = world.bidders[0]
    with pytest.raises(ApiError) as caught:
        await bidder.session.get(f"/api/tenders/{world.tender}/bid-box/tree-head")
    assert caught.value.status == 403


async def test_a_tree_head_of_another_stream_or_an_odd_root_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness, key = world.harness, await node_key(world.harness)
    session = world.bidders[0].session
    other = await harness.tender(world.host)
    await harness.post_ok(f"/api/tenders/{other}/publish", {}, world.host)
    theirs = await harness.node.tree_heads.latest(other)
    real = harness.node.tree_heads.latest

    async def lying(stream: str) -> Any:
        return theirs if stream == world.tender else await real(stream)

    monkeypatch.setattr(harness.node.tree_heads, "latest", lying)
    with pytest.raises(ClientError, match="the node sent"):
        await latest_tree_head(session, world.tender, key)
    document = dict(theirs.payload["tree_head"]) | {"root": "ab" * 64}
    signature = harness.node.keys.sign("tree-head", document)
    with pytest.raises(ClientError, match="root or size"):
        TreeHead.checked({"tree_head": document, "signature": signature}, key)


async def test_numbers_too_long_for_a_query_are_400(world: World) -> None:
    path = f"/api/tenders/{world.tender}/proofs/inclusion?seq={'9' * 5000}&size=1"
    status, _ = await world.harness.refused("GET", path, world.host)
    assert status == 400
