"""Sealed bids arriving over real sockets: uploads, receipts, refusals, the bid box, the seal."""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

import pytest

import server.service.uploads as uploads_module
from crypto import SigningKey, VerifyKey, read_header
from evaluator_client import bidding
from evaluator_client.errors import ApiError, ClientError
from evaluator_client.session import Session
from server.app import create_app
from server.domain.access import Actor, Role
from server.domain.errors import UploadBusy
from server.protocol.times import format_time
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
    rejected = [e["payload"]["rule"] for e in await world.box_events() if "rule" in e["payload"]]
    assert rejected == ["UploadBusy", "UploadIncomplete", "UploadIncomplete"]


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
    # The bidder's refused read is recorded in the box too: in the tender, it would be a gap.
    assert box_types == ["bid.submitted"] * 4 + ["opening.signed_in"] * 3 + ["access.denied"]
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

    node = world.harness.node
    first = asyncio.create_task(node.uploads.write(actor, upload, 0, slow()))
    async with asyncio.timeout(10):
        await started.wait()
    with pytest.raises(UploadBusy, match="Another request"):
        await node.uploads.write(actor, upload, 5, slow())
    with pytest.raises(UploadBusy, match="Another request"):
        await node.submissions.complete(actor, upload)
    release.set()
    async with asyncio.timeout(10):
        assert await first == 10
    rejected = [e["payload"]["rule"] for e in await world.box_events() if "rule" in e["payload"]]
    assert rejected == ["UploadBusy", "UploadBusy"]


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


async def test_a_bidders_refusals_go_to_the_box_until_the_deadline(world: World) -> None:
    harness, tender, bidder = world.harness, world.tender, world.bidders[0]
    path = f"/api/tenders/{tender}/cancel"
    assert await refusal(bidder.session.post(path, {"reason": "x"})) == (
        403,
        "AccessDenied",
        "403 forbidden: The bidder role may not perform tender.cancel.",
    )
    assert [e["type"] for e in await world.box_events()][-1] == "access.denied"
    before = [r.type for r in await harness.node.store.read(tender)]
    assert "access.denied" not in before
    await world.advance_to_deadline()
    assert (await refusal(bidder.session.post(path, {"reason": "x"})))[0] == 403
    after = [r.type for r in await harness.node.store.read(tender)]
    assert after[-1] == "access.denied"  # after the deadline there is nothing left to hide


async def test_simultaneous_announcements_stay_within_the_limit(world: World) -> None:
    bidder = world.bidders[0]
    path = f"/api/tenders/{world.tender}/lots/L1/uploads"
    body = {"size": 4 * 1024**3, "sha256": "0" * 64}
    answers = await asyncio.gather(
        *(bidder.session.post(path, body) for _ in range(10)), return_exceptions=True
    )
    refused = [a for a in answers if isinstance(a, ApiError)]
    assert (len(answers) - len(refused), {a.rule for a in refused}) == (4, {"TooManyUploads"})


async def test_an_abandoned_upload_frees_its_place(world: World) -> None:
    bidder = world.bidders[0]
    uploads = [await world.upload(bidder, b"x", size=10, sha256="0" * 64) for _ in range(4)]
    assert (await refusal(world.upload(bidder, b"x")))[1] == "TooManyUploads"
    answer = await bidder.session.delete(f"/api/uploads/{uploads[0]}")
    assert answer == {"upload": uploads[0], "abandoned": True}
    assert (await refusal(bidder.session.get(f"/api/uploads/{uploads[0]}")))[0] == 404
    await world.upload(bidder, b"x", size=10, sha256="0" * 64)


def stored(world: World) -> set[str]:
    return {path.stem for path in (world.harness.node.settings.data_dir / "bids").iterdir()}


async def test_only_current_bids_are_kept_on_disk(world: World) -> None:
    first, second = world.bidders[0], world.bidders[1]
    replaced = first.receipt["sha256"]
    await world.submit(first, await world.seal(first.person, "again", price="123.00"))
    await bidding.withdraw(second.session, world.tender, "L1")
    kept = await asyncio.to_thread(stored, world)
    assert replaced not in kept
    assert second.receipt["sha256"] not in kept
    assert kept == {b.receipt["sha256"] for b in world.bidders if b is not second}


async def test_bytes_and_bids_after_the_deadline_leave_nothing_behind(world: World) -> None:
    bidder = world.bidders[0]
    late = await world.seal(bidder.person, "late", price="2.00")
    data = await asyncio.to_thread(read_bytes, late)
    upload = await world.upload(bidder, data[:100], size=len(data))
    await world.advance_to_deadline()
    await bidder.session.renew()
    more = bidder.session.put_bytes(f"/api/uploads/{upload}?offset=100", data[100:])
    assert (await refusal(more))[:2] == (422, "DeadlinePassed")
    before = await asyncio.to_thread(stored, world)
    assert hashlib.sha256(data).hexdigest() not in before


async def test_a_completion_that_arrived_in_time_is_in_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.server.transport.test_opening_faults import Hold

    bidder, harness = world.bidders[0], world.harness
    revised = await world.seal(bidder.person, "slow", price="42.00")
    data = await asyncio.to_thread(read_bytes, revised)
    upload = await world.upload(bidder, data)
    hold = Hold()
    monkeypatch.setattr(uploads_module, "read_header", hold.wrap(read_header))
    harness.clock.advance((world.deadline - harness.clock.now()).total_seconds() - 1)
    await bidder.session.renew()
    completing = asyncio.create_task(bidder.session.post(f"/api/uploads/{upload}/complete"))
    await hold.wait_entered()  # the node is checking the file when the deadline passes
    harness.clock.advance(60)
    sealing = asyncio.create_task(harness.node.scheduler.tick())
    await asyncio.sleep(0)
    assert not sealing.done()
    hold.released.set()
    async with asyncio.timeout(10):
        receipt = (await completing)["receipt"]
        await sealing
    assert receipt["received_at"] < format_time(world.deadline)
    await harness.login(world.host)
    sealed = await bidder.session.get(f"/api/tenders/{world.tender}/lots/L1/sealed-list")
    assert receipt in sealed["list"]["receipts"]


def header_with(data: bytes, raw_header: bytes) -> bytes:
    """The sealed file with another header text (its MAC left as it was)."""
    prefix = b"BIDROOM-SEALED-BID/1\n"
    length = int.from_bytes(data[len(prefix) : len(prefix) + 4], "big")
    rest = data[len(prefix) + 4 + length :]
    return prefix + len(raw_header).to_bytes(4, "big") + raw_header + rest


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"tender":"t-', b'"tender":"\\ud800t-'),  # a lone surrogate
        (b'"v":1', b'"v":' + b"[" * 70 + b"1" + b"]" * 70),  # nested past the limit
    ],
)
async def test_a_header_without_a_canonical_form_is_not_a_sealed_bid(
    world: World, old: bytes, new: bytes
) -> None:
    bidder = world.bidders[0]
    data = await asyncio.to_thread(read_bytes, bidder.sealed)
    start = len(b"BIDROOM-SEALED-BID/1\n") + 4
    length = int.from_bytes(data[start - 4 : start], "big")
    raw = data[start : start + length]
    spoiled = raw.replace(old, new, 1)
    assert spoiled != raw
    upload = await world.upload(bidder, header_with(data, spoiled))
    status, rule, _ = await refusal(bidder.session.post(f"/api/uploads/{upload}/complete"))
    assert (status, rule) == (422, "NotASealedBid")


async def test_an_unusable_encryption_key_is_refused_at_enrolment(harness: Harness) -> None:
    admin = await harness.person(Role.ADMIN)
    public_key = SigningKey.generate().verify_key.to_text()
    body = {
        "role": "custodian", "name": "保管人", "public_key": public_key,
        "encryption_key": "x25519:" + "A" * 43,
    }  # fmt: skip
    status, answer = await harness.call("POST", "/api/admin/participants", admin, body)
    assert status == 400
    assert "low-order" in str(answer["error"])
