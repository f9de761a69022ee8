"""Sealed bids arriving over real sockets: uploads, receipts, refusals, the bid box, the seal."""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

import pytest

from crypto import VerifyKey, read_header
from evaluator_client import bidding
from evaluator_client.errors import ApiError, ClientError
from evaluator_client.session import Session
from server.app import create_app
from server.domain.access import Actor, Role
from server.errors import ConflictError
from tests.conftest import AiohttpClient, Harness, ManualClock
from tests.server.transport.opening_world import Bidder, World, build_world

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable
    from pathlib import Path

    from server.config import Settings


@pytest.fixture
async def world(harness: Harness, tmp_path: Path) -> AsyncIterator[World]:
    built = await build_world(harness, tmp_path, count=4)
    yield built
    await built.close()


async def node_key(harness: Harness) -> VerifyKey:
    return VerifyKey.from_text((await harness.call("GET", "/api/node"))[1]["public_key"])


async def refusal(call: Awaitable[Any]) -> tuple[int, str | None, str]:
    with pytest.raises(ApiError) as caught:
        await call
    return caught.value.status, caught.value.rule, str(caught.value)


def read_bytes(path: Path) -> bytes:
    return path.read_bytes()


async def test_a_receipt_is_the_nodes_signed_word(world: World) -> None:
    bidder = world.bidders[0]
    receipt = bidder.receipt
    bidding.check_receipt(receipt, bidder.signature, await node_key(world.harness))
    data = await asyncio.to_thread(read_bytes, bidder.sealed)
    assert receipt | {"received_at": "-"} == {
        "v": 1, "type": "bid-receipt", "tender": world.tender, "lot": "L1",
        "bidder": bidder.id, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
        "received_at": "-", "seq": 1,
    }  # fmt: skip
    forged = receipt | {"size": receipt["size"] + 1}
    with pytest.raises(Exception, match="signature"):
        bidding.check_receipt(forged, bidder.signature, await node_key(world.harness))


async def test_a_revision_replaces_the_bid_and_both_receipts_are_kept(world: World) -> None:
    bidder = world.bidders[0]
    first = bidder.receipt
    same = bidding.submit(bidder.session, world.tender, "L1", bidder.sealed)
    assert (await refusal(same))[:2] == (422, "DuplicateBid")
    revised = await world.seal(bidder.person, "bidder1", price="999999.99")
    second = (await world.submit(bidder, revised))["receipt"]
    assert (second["seq"], second["sha256"] != first["sha256"]) == (2, True)
    mine = await bidder.session.get(f"/api/tenders/{world.tender}/bids/mine")
    assert mine["bids"] == [{"lot": "L1", "current": second, "receipts": [first, second]}]
    await world.advance_to_deadline()
    listed = await bidder.session.get(f"/api/tenders/{world.tender}/lots/L1/sealed-list")
    key = await node_key(world.harness)
    bidding.check_inclusion(second, listed["list"], listed["signature"], key)
    with pytest.raises(ClientError, match="not in the sealed list"):
        bidding.check_inclusion(first, listed["list"], listed["signature"], key)


async def test_a_withdrawn_bid_is_not_sealed(world: World) -> None:
    bidder = world.bidders[1]
    path = f"/api/tenders/{world.tender}/lots/L1/withdraw"
    assert await bidder.session.post(path) == {"withdrawn": True}
    assert (await refusal(bidder.session.post(path)))[:2] == (422, "NoBid")
    mine = await bidder.session.get(f"/api/tenders/{world.tender}/bids/mine")
    assert mine["bids"][0]["current"] is None
    await world.advance_to_deadline()
    listed = await bidder.session.get(f"/api/tenders/{world.tender}/lots/L1/sealed-list")
    assert sorted(r["bidder"] for r in listed["list"]["receipts"]) == sorted(
        b.id for b in world.bidders if b is not bidder
    )


async def test_after_the_deadline_nothing_gets_in_or_out(world: World) -> None:
    bidder = world.bidders[0]
    late = await world.seal(bidder.person, "late", price="1.00")
    data = await asyncio.to_thread(read_bytes, late)
    upload = await world.upload(bidder, data)  # started in time, completed too late
    await world.advance_to_deadline()
    tender = world.tender
    for call in (
        bidder.session.post(f"/api/uploads/{upload}/complete"),
        bidding.submit(bidder.session, tender, "L1", late),
        bidder.session.post(f"/api/tenders/{tender}/lots/L1/withdraw"),
    ):
        status, rule, message = await refusal(call)
        assert (status, rule) == (422, "DeadlinePassed"), message
    listed = await bidder.session.get(f"/api/tenders/{tender}/lots/L1/sealed-list")
    assert [r["sha256"] for r in listed["list"]["receipts"] if r["bidder"] == bidder.id] == [
        bidder.receipt["sha256"]
    ]
    rejected = [e for e in await world.box_events() if e["type"] == "command.rejected"]
    assert [e["payload"]["rule"] for e in rejected] == ["DeadlinePassed"] * 3


async def bad_file(world: World, bidder: Bidder, kind: str) -> tuple[bytes, str | None]:
    """A file the node must refuse, and the SHA-256 to announce (None: the file's own)."""
    other = world.bidders[1]
    if kind == "a plain zip, not sealed":
        return b"PK\x03\x04" + bytes(2000), None
    variants: dict[str, dict[str, Any]] = {
        "sealed in another bidder's name": {"as_bidder": other.id},
        "sealed for another tender": {"tender": "t-20261121-0000000000ff"},
        "not sealed to the opening key": {"opening_key": None},
    }
    options = variants.get(kind, {})
    path = await world.seal(bidder.person, "x", **options) if options else bidder.sealed
    data = await asyncio.to_thread(read_bytes, path)
    if kind == "cut inside its header":
        return data[:60], None
    return data, ("0" * 64 if kind == "not the announced file" else None)


@pytest.mark.parametrize(
    ("kind", "rule", "says"),
    [
        ("a plain zip, not sealed", "NotASealedBid", "not a sealed bid"),
        ("sealed in another bidder's name", "NotASealedBid", "another tender, lot or bidder"),
        ("sealed for another tender", "NotASealedBid", "another tender, lot or bidder"),
        ("not sealed to the opening key", "NotASealedBid", "opening key"),
        ("cut inside its header", "NotASealedBid", "header"),
        ("not the announced file", "ChecksumMismatch", "SHA-256"),
    ],
)
async def test_bad_files_are_refused_saying_why(
    world: World, kind: str, rule: str, says: str
) -> None:
    bidder = world.bidders[0]
    data, sha256 = await bad_file(world, bidder, kind)
    upload = await world.upload(bidder, data, sha256=sha256)
    status, got, message = await refusal(bidder.session.post(f"/api/uploads/{upload}/complete"))
    assert (status, got) == (422, rule)
    assert says in message
    gone = await refusal(bidder.session.get(f"/api/uploads/{upload}"))
    assert gone[0] == 404  # refused files are not kept
    rejected = [e for e in await world.box_events() if e["type"] == "command.rejected"]
    assert [(e["payload"]["rule"], e["actor"]["id"]) for e in rejected] == [(rule, bidder.id)]
    mine = await bidder.session.get(f"/api/tenders/{world.tender}/bids/mine")
    assert mine["bids"][0]["current"] == bidder.receipt  # the bid in place is untouched


async def test_an_upload_resumes_where_it_stood(world: World) -> None:
    bidder = world.bidders[0]
    sealed = await world.seal(bidder.person, "big", price="2.00", padding=300_000)
    data = await asyncio.to_thread(read_bytes, sealed)
    half = len(data) // 2
    upload = await world.upload(
        bidder, data[:half], sha256=hashlib.sha256(data).hexdigest(), size=len(data)
    )
    unplaced = await refusal(bidder.session.put_bytes(f"/api/uploads/{upload}", b"x"))
    assert unplaced[0] == 400  # where do these bytes go?
    status, _, message = await refusal(
        bidder.session.put_bytes(f"/api/uploads/{upload}?offset=0", data[half:])
    )
    assert status == 409
    assert f"stands at byte {half}" in message
    early = await refusal(bidder.session.post(f"/api/uploads/{upload}/complete"))
    assert early[:2] == (422, "UploadIncomplete")
    too_much = bidder.session.put_bytes(f"/api/uploads/{upload}?offset={half}", data[half:] + b"!")
    assert (await refusal(too_much))[:2] == (422, "UploadIncomplete")
    assert (await bidder.session.get(f"/api/uploads/{upload}"))["received"] == half
    answer = await bidding.submit(bidder.session, world.tender, "L1", sealed, upload=upload)
    assert answer["receipt"]["sha256"] == hashlib.sha256(data).hexdigest()


async def test_uploads_belong_to_their_bidder(world: World) -> None:
    owner, other = world.bidders[0], world.bidders[1]
    upload = await world.upload(owner, b"partial")
    for call in (
        other.session.get(f"/api/uploads/{upload}"),
        other.session.put_bytes(f"/api/uploads/{upload}?offset=7", b"more"),
        other.session.post(f"/api/uploads/{upload}/complete"),
    ):
        assert (await refusal(call))[0] == 404
    status, rule = await world.harness.refused("GET", f"/api/uploads/{upload}", world.host)
    assert (status, rule) == (403, "AccessDenied")
    headers = owner.person.headers | {"Content-Type": "text/plain"}
    await world.harness.login(owner.person)
    wrong_type = await world.harness.client.put(
        f"/api/uploads/{upload}?offset=7", data=b"more", headers=headers
    )
    assert (wrong_type.status, (await wrong_type.json())["error"]["code"]) == (
        400,
        "bad_request",
    )


async def test_open_uploads_per_bidder_are_limited(world: World) -> None:
    bidder = world.bidders[0]
    for _ in range(4):
        await world.upload(bidder, b"abc")
    status, rule, _ = await refusal(world.upload(bidder, b"abc"))
    assert (status, rule) == (422, "TooManyUploads")


async def test_nobody_but_supervisors_learns_who_bid_before_the_deadline(world: World) -> None:
    harness, tender = world.harness, world.tender
    await world.advance_to_sign_in()
    for bidder in world.bidders[:3]:
        await bidder.session.post(f"/api/tenders/{tender}/opening/sign-in")
    public = await harness.person(Role.PUBLIC, "旁观者 visitor")
    supervisor = await harness.person(Role.SUPERVISOR, "监督员 supervisor")
    page = (await harness.call("GET", f"/api/tenders/{tender}/events", supervisor))[1]
    everything = {item["event"]["seq"]: item["event"]["type"] for item in page["events"]}
    assert "bid.submitted" not in everything.values()  # the box is a stream of its own
    for reader in [world.host, public, world.bidders[0].person]:
        await harness.login(reader)
        page = (await harness.call("GET", f"/api/tenders/{tender}/events", reader))[1]
        seen = {item["event"]["seq"] for item in page["events"]}
        # A gap in the sequence is an event the reader may not see: never one about bidders.
        hidden = {everything[seq] for seq in set(everything) - seen}
        assert hidden <= {"tender.created", "opening.key_share_issued"}, hidden
        box = await harness.refused("GET", f"/api/tenders/{tender}/bid-box/events", reader)
        assert box == (403, "AccessDenied")
    view = (await harness.call("GET", f"/api/tenders/{tender}/opening", world.host))[1]
    assert (view["bids"], view["signed_in"]) == ([], [])
    box_types = [e["type"] for e in await world.box_events()]
    assert box_types == ["bid.submitted"] * 4 + ["opening.signed_in"] * 3
    await world.advance_to_deadline()
    await harness.login(world.host)
    view = (await harness.call("GET", f"/api/tenders/{tender}/opening", world.host))[1]
    assert view["signed_in"] == sorted(b.id for b in world.bidders[:3])
    _status, page = await harness.call("GET", f"/api/tenders/{tender}/events", public)
    sealed = [i["event"] for i in page["events"] if i["event"]["type"] == "lot.sealed"]
    assert len(sealed[0]["payload"]["list"]["receipts"]) == 4  # after the deadline, it is known


async def test_a_bid_of_many_chunks_keeps_its_header(world: World) -> None:
    bidder = world.bidders[2]
    sealed = await world.seal(bidder.person, "chunky", price="3.00", padding=200_000)
    await world.submit(bidder, sealed)

    def header_chunks() -> int:
        with sealed.open("rb") as handle:
            header = read_header(handle)
            return header.check_payload(sealed.stat().st_size - header.size)

    assert await asyncio.to_thread(header_chunks) >= 3


async def test_one_request_at_a_time_writes_an_upload(world: World) -> None:
    bidder = world.bidders[0]
    upload = await world.upload(bidder, b"", size=10, sha256="0" * 64)
    actor = Actor(bidder.id, Role.BIDDER, "127.0.0.1")
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"12345"
        started.set()
        await release.wait()
        yield b"67890"

    bids = world.harness.node.bids
    first = asyncio.create_task(bids.write(actor, upload, 0, slow()))
    async with asyncio.timeout(10):
        await started.wait()
    with pytest.raises(ConflictError, match="Another request"):
        await bids.write(actor, upload, 5, slow())
    with pytest.raises(ConflictError, match="Another request"):
        await bids.complete(actor, upload)
    release.set()
    async with asyncio.timeout(10):
        assert await first == 10


async def test_an_upload_goes_on_after_a_node_restart(
    world: World, aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    bidder = world.bidders[0]
    sealed = await world.seal(bidder.person, "restart", price="7.00", padding=100_000)
    data = await asyncio.to_thread(read_bytes, sealed)
    half = len(data) // 2
    sha256 = hashlib.sha256(data).hexdigest()
    upload = await world.upload(bidder, data[:half], sha256=sha256, size=len(data))
    # A node started anew on the same data directory knows the upload, not its running hash.
    restarted = Harness(await aiohttp_client(create_app(settings, clock=clock)), clock)
    base = str(restarted.client.make_url("")).rstrip("/")
    async with await Session.login(base, bidder.id, bidder.person.key, clock=clock.now) as again:
        assert (await again.get(f"/api/uploads/{upload}"))["received"] == half
        answer = await bidding.submit(again, world.tender, "L1", sealed, upload=upload)
    assert answer["receipt"]["sha256"] == sha256
