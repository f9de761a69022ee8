"""The opening over real sockets: sealed bids in, decrypted remotely, read out, confirmed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from crypto import VerifyKey, b64url_decode, b64url_encode, read_header, verify
from evaluator_client import bidding
from evaluator_client.errors import ApiError, ClientError
from recordings.documents import CONFIRMATION_LABEL, confirmation_document
from server.domain.access import Role
from tests.server.transport.opening_world import Bidder, World, archive_of, build_world
from tests.server.transport.test_ws import open_live, send, until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable
    from pathlib import Path

    from evaluator_client.session import Session
    from tests.conftest import Harness, Person


@pytest.fixture
async def world(harness: Harness, tmp_path: Path) -> AsyncIterator[World]:
    built = await build_world(harness, tmp_path)
    yield built
    await built.close()


async def node_key(world: World) -> VerifyKey:
    info = (await world.harness.call("GET", "/api/node"))[1]
    return VerifyKey.from_text(info["public_key"])


async def test_a_whole_opening(world: World) -> None:
    harness, tender, host = world.harness, world.tender, world.host
    key = await node_key(world)
    await world.advance_to_sign_in()
    for bidder in world.bidders:
        bidding.check_receipt(bidder.receipt, bidder.signature, key)
        await bidder.session.post(f"/api/tenders/{tender}/opening/sign-in")
    await world.advance_to_deadline()
    for bidder in world.bidders:
        sealed = await bidder.session.get(f"/api/tenders/{tender}/lots/L1/sealed-list")
        bidding.check_inclusion(bidder.receipt, sealed["list"], sealed["signature"], key)
    started = await harness.post_ok(f"/api/tenders/{tender}/opening/start", {}, host)
    assert started["state"] == "opening"
    for bidder in world.bidders[:4]:
        file_key = await world.file_key(bidder)
        status = await bidding.decrypt(bidder.session, tender, "L1", file_key)
        assert (status["status"], status["by"]) == ("decrypted", "bidder")
    last = world.bidders[4]
    for left in ("2 attempt(s) left", "1 attempt(s) left", "No attempts left"):
        with pytest.raises(ApiError) as caught:
            await bidding.decrypt(last.session, tender, "L1", bytes(32))
        assert (caught.value.rule, left in str(caught.value)) == ("WrongFileKey", True)
    with pytest.raises(ApiError) as caught:  # three wrong keys: the bid counts as revoked
        await bidding.decrypt(last.session, tender, "L1", await world.file_key(last))
    assert caught.value.rule == "BidNotPending"
    view = await harness.post_ok(f"/api/tenders/{tender}/opening/record", {}, host)
    bids = {b["bidder"]: b for b in view["record"]["lots"][0]["bids"]}
    assert bids[last.id]["status"] == "revoked"
    assert bids[world.bidders[0].id]["sheet"]["price"] == "1000000.00"
    for bidder in world.bidders[:3]:
        await bidding.confirm(bidder.session, tender)
    await bidding.object_to(world.bidders[3].session, tender, "报价大写与小写不一致")
    refused = await harness.refused("POST", f"/api/tenders/{tender}/opening/close", host)
    assert refused == (422, "OpeningStillOpen")
    await harness.post_ok(
        f"/api/tenders/{tender}/opening/objections/o1/answer", {"answer": "以大写为准"}, host
    )
    harness.clock.advance(16 * 60)  # the confirmation window ends; silence counts as accepting
    await harness.login(host)
    closed = await harness.post_ok(f"/api/tenders/{tender}/opening/close", {}, host)
    assert closed["phase"] == "closed"
    # Closing it again says so, not that the record has not been read out.
    code, again = await harness.call("POST", f"/api/tenders/{tender}/opening/close", host, {})
    assert (code, again["error"]["rule"]) == (422, "OpeningAlreadyClosed")
    assert again["error"]["message"] == "The opening is already closed."
    final = next(r for r in await harness.node.store.read(tender) if r.type == "opening.closed")
    verify(
        key, "opening-record", final.payload["record"], b64url_decode(final.payload["signature"])
    )
    assert final.payload["record"]["deemed_accepted"] == [last.id]
    assert final.payload["record"]["objections"][0]["answer"] == "以大写为准"


# Helpers for the paths below.


async def to_opening(world: World, signed_in: int | None = None) -> None:
    """Sign in (all bidders, or the first `signed_in`), pass the deadline, start the opening."""
    await world.advance_to_sign_in()
    for bidder in world.bidders[:signed_in]:
        await bidder.session.post(f"/api/tenders/{world.tender}/opening/sign-in")
    await world.advance_to_deadline()
    started = await world.harness.post_ok(
        f"/api/tenders/{world.tender}/opening/start", {}, world.host
    )
    assert started["state"] == "opening"


async def decrypt(world: World, bidder: Bidder, key: bytes | None = None) -> dict[str, Any]:
    return await bidding.decrypt(
        bidder.session, world.tender, "L1", key if key is not None else await world.file_key(bidder)
    )


async def refusal(call: Awaitable[Any]) -> tuple[int, str | None]:
    with pytest.raises(ApiError) as caught:
        await call
    return caught.value.status, caught.value.rule


async def opening_view(world: World, person: Person | None = None) -> dict[str, Any]:
    await world.harness.login(person or world.host)
    status, view = await world.harness.call(
        "GET", f"/api/tenders/{world.tender}/opening", person or world.host
    )
    assert status == 200, view
    return view


def statuses(view: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {b["bidder"]: (b["status"], b.get("by") or b.get("fault")) for b in view["bids"]}


async def test_fewer_bids_than_the_minimum_fail_the_opening(
    harness: Harness, tmp_path: Path
) -> None:
    world = await build_world(harness, tmp_path, count=2)
    try:
        await world.advance_to_deadline()
        path = f"/api/tenders/{world.tender}/opening/start"
        failed = await harness.post_ok(path, {}, world.host)
        assert failed["state"] == "failed"
        assert "Only 2 valid bids; at least 3 are needed (Regs 44)" in failed["ended_reason"]
    finally:
        await world.close()


async def test_only_signed_in_bidders_decrypt(world: World) -> None:
    await to_opening(world, signed_in=4)
    late = world.bidders[4]
    assert await refusal(decrypt(world, late)) == (422, "NotSignedIn")
    await late.session.post(f"/api/tenders/{world.tender}/opening/sign-in")  # not too late
    assert (await decrypt(world, late))["status"] == "decrypted"
    assert (await opening_view(world))["signed_in"] == sorted(b.id for b in world.bidders)


async def test_a_key_for_another_bid_is_a_wrong_key(world: World) -> None:
    await to_opening(world)
    mine, theirs = world.bidders[0], world.bidders[1]
    assert await refusal(decrypt(world, mine, await world.file_key(theirs))) == (
        422,
        "WrongFileKey",
    )
    assert (await decrypt(world, mine))["attempts"] == 1
    invalid = mine.session.post(
        f"/api/tenders/{world.tender}/lots/L1/decrypt", {"file_key": "short"}
    )
    assert (await refusal(invalid))[0] == 400


async def test_decryption_pauses_and_resumes_with_its_time_left(world: World) -> None:
    await to_opening(world)
    harness, tender, host = world.harness, world.tender, world.host
    harness.clock.advance(600)
    await harness.login(host)
    path = f"/api/tenders/{tender}/opening"
    assert await harness.refused("POST", f"{path}/pause", host, {}) == (400, "invalid_request")
    paused = await harness.post_ok(f"{path}/pause", {"reason": "网络中断 network down"}, host)
    assert (paused["phase"], paused["remaining_seconds"]) == ("paused", 1200.0)
    assert await refusal(decrypt(world, world.bidders[0])) == (422, "OpeningNotReady")
    bidder_pause = world.bidders[0].session.post(f"{path}/pause", {"reason": "x"})
    assert await refusal(bidder_pause) == (403, "AccessDenied")
    harness.clock.advance(3600)  # a long outage: the window does not run while paused
    await harness.login(host)
    assert await harness.node.scheduler.tick() == 0
    resumed = await harness.post_ok(f"{path}/resume", {}, host)
    assert (resumed["phase"], resumed["remaining_seconds"]) == ("decrypting", 1200.0)
    assert await harness.refused("POST", f"{path}/resume", host) == (422, "OpeningNotReady")
    assert (await decrypt(world, world.bidders[0]))["status"] == "decrypted"


async def close_window(world: World) -> None:
    world.harness.clock.advance(31 * 60)
    for person in (world.host, *world.harness.custodians):
        await world.harness.login(person)
    for bidder in world.bidders:
        await bidder.session.renew()
    assert await world.harness.node.scheduler.tick() >= 1


async def share_of(world: World, custodian: Person) -> Session:
    session = await world.login(custodian)
    world.sessions.append(session)
    return session


async def test_custodians_open_what_remains_after_the_window(world: World) -> None:
    harness, tender = world.harness, world.tender
    await to_opening(world)
    first, second = harness.custodians
    assert first.encryption is not None
    assert second.encryption is not None
    one, two = await share_of(world, first), await share_of(world, second)
    early = bidding.submit_share(one, tender, first.encryption)
    assert await refusal(early) == (422, "OpeningNotReady")  # bidders decrypt first
    for bidder in world.bidders[:3]:
        await decrypt(world, bidder)
    await close_window(world)
    view = await opening_view(world)
    assert view["phase"] == "decryption_closed"
    assert await refusal(decrypt(world, world.bidders[3])) == (422, "DecryptionWindowClosed")
    stranger = await harness.person(Role.CUSTODIAN, "另一保管人 another custodian")
    strange = await share_of(world, stranger)
    body = {"index": 1, "value": b64url_encode(bytes(32))}
    shares = f"/api/tenders/{tender}/opening/shares"
    assert await refusal(strange.post(shares, body)) == (422, "NotACustodian")
    assert await refusal(two.post(shares, {"index": 2, "value": b64url_encode(bytes(32))})) == (
        422,
        "NotACustodian",
    )
    assert await refusal(world.bidders[0].session.post(shares, body)) == (403, "AccessDenied")
    await bidding.submit_share(one, tender, first.encryption)
    assert await refusal(bidding.submit_share(one, tender, first.encryption)) == (
        422,
        "AlreadyResponded",
    )
    assert statuses(await opening_view(world))[world.bidders[3].id] == ("pending", None)
    await bidding.submit_share(two, tender, second.encryption)  # the quorum: 2 of 2
    after = statuses(await opening_view(world))
    assert [after[b.id] for b in world.bidders] == [("decrypted", "bidder")] * 3 + [
        ("decrypted", "custodians")
    ] * 2
    record = await harness.post_ok(f"/api/tenders/{tender}/opening/record", {}, world.host)
    prices = [b["sheet"]["price"] for b in record["record"]["lots"][0]["bids"]]
    assert sorted(prices) == sorted(f"{1_000_000 + i * 12_345}.00" for i in range(5))


async def test_without_wrapping_the_window_end_revokes_what_remains(
    harness: Harness, tmp_path: Path
) -> None:
    world = await build_world(harness, tmp_path, count=3, opening={"wrap_bids": False})
    try:
        await to_opening(world)
        await decrypt(world, world.bidders[0])
        await close_window(world)
        view = await opening_view(world)
        assert [statuses(view)[b.id] for b in world.bidders] == [
            ("decrypted", "bidder"),
            ("revoked", "bidder"),
            ("revoked", "bidder"),
        ]
        custodian = harness.custodians[0]
        assert custodian.encryption is not None
        session = await share_of(world, custodian)
        share = bidding.submit_share(session, world.tender, custodian.encryption)
        assert await refusal(share) == (422, "OpeningNotReady")
    finally:
        await world.close()


def damage(path: Path, how: str) -> None:
    """Spoil a sealed file the way a broken tool (or a failing disk) would."""
    data = bytearray(path.read_bytes())
    with path.open("rb") as handle:
        start = read_header(handle).size
    chunk = 64 * 1024 + 16
    if how == "a bit flipped":
        data[-20] ^= 0x01
    elif how == "chunks swapped":
        first, second = data[start : start + chunk], data[start + chunk : start + 2 * chunk]
        data[start : start + 2 * chunk] = second + first
    else:
        assert how == "cut at a chunk boundary"
        del data[start + chunk :]
    path.write_bytes(bytes(data))


def stored_part(world: World, sha256: str, part: str) -> Path:
    """Where the node keeps part of a stored bid ("head" or "body"; docs/spec/at-rest.md)."""
    return world.harness.node.settings.data_dir / "bids" / f"{sha256}.{part}"


def flip_a_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["a bit flipped", "chunks swapped", "cut at a chunk boundary"])
async def test_a_broken_bid_is_the_bidders_fault_a_damaged_copy_the_platforms(
    world: World, how: str
) -> None:
    broken, damaged = world.bidders[0], world.bidders[1]
    sealed = await world.seal(broken.person, "broken", price="5.00", padding=200_000)
    await asyncio.to_thread(damage, sealed, how)
    await world.submit(broken, sealed)  # the node can't tell: it can't read the bid
    large = await world.seal(damaged.person, "large", padding=200_000)
    await world.submit(damaged, large)  # a bid larger than the head the node keeps sealed
    await to_opening(world)
    await asyncio.to_thread(flip_a_bit, stored_part(world, damaged.receipt["sha256"], "body"))
    for bidder in world.bidders:
        await decrypt(world, bidder)  # a broken bid fails at once: no retries to waste
    view = await opening_view(world)
    assert [statuses(view)[b.id] for b in world.bidders] == [
        ("revoked", "bidder"),
        ("withdrawn", "platform"),
    ] + [("decrypted", "bidder")] * 3
    reasons = {b["bidder"]: b["reason"] for b in view["bids"] if "reason" in b}
    assert "no longer matches its receipt" in reasons[damaged.id]
    assert "broken" in reasons[broken.id]


async def test_a_copy_whose_sealed_head_does_not_open_is_the_platforms_fault(world: World) -> None:
    await to_opening(world)
    damaged = world.bidders[0]
    await asyncio.to_thread(flip_a_bit, stored_part(world, damaged.receipt["sha256"], "head"))
    status = await decrypt(world, damaged)
    assert (status["status"], status["fault"]) == ("withdrawn", "platform")
    assert "sealed head does not open" in status["reason"]


async def test_responses_to_the_record_are_signed_by_their_bidder(world: World) -> None:
    harness, tender = world.harness, world.tender
    await to_opening(world)
    for bidder in world.bidders:
        await decrypt(world, bidder)
    path = f"/api/tenders/{tender}/opening"
    view = await harness.post_ok(f"{path}/record", {}, world.host)
    assert await harness.refused("POST", f"{path}/record", world.host) == (422, "OpeningNotReady")
    mine, other = world.bidders[0], world.bidders[1]
    document = confirmation_document(tender, view["record_hash"])
    forged = other.session.sign(CONFIRMATION_LABEL, document)
    assert await refusal(mine.session.post(f"{path}/confirm", {"signature": forged})) == (
        422,
        "SignatureRejected",
    )
    stale = mine.session.sign(CONFIRMATION_LABEL, confirmation_document(tender, "0" * 64))
    assert await refusal(mine.session.post(f"{path}/confirm", {"signature": stale})) == (
        422,
        "SignatureRejected",
    )
    await bidding.confirm(mine.session, tender)
    assert await refusal(bidding.confirm(mine.session, tender)) == (422, "AlreadyResponded")
    assert await refusal(bidding.object_to(mine.session, tender, "晚了 too late")) == (
        422,
        "AlreadyResponded",
    )
    answer = {"answer": "无此异议"}
    refused = await harness.refused("POST", f"{path}/objections/o9/answer", world.host, answer)
    assert refused == (422, "UnknownObjection")
    harness.clock.advance(16 * 60)
    await other.session.renew()
    assert await refusal(bidding.confirm(other.session, tender)) == (
        422,
        "ConfirmationWindowClosed",
    )
    rejected = [
        (e.actor_id, e.payload["rule"])
        for e in await harness.node.store.read(tender)
        if e.type == "command.rejected"
    ]
    assert (mine.id, "SignatureRejected") in rejected
    assert (other.id, "ConfirmationWindowClosed") in rejected


async def test_decrypted_bids_are_read_by_supervisors_on_record(world: World) -> None:
    harness, tender = world.harness, world.tender
    await to_opening(world)
    opened = world.bidders[0]
    await decrypt(world, opened)
    supervisor = await harness.person(Role.SUPERVISOR, "监督员 supervisor")
    session = await world.login(supervisor)
    world.sessions.append(session)
    path = f"/api/tenders/{tender}/lots/L1/bids/{opened.id}/document"
    package = await session.get_bytes(path)
    assert package.startswith(b"BIDROOM-BID-PACKAGE/1\n")
    sheet_length = int.from_bytes(package[22:26], "big")
    with archive_of(package[26 + sheet_length :]) as archive:
        assert archive.read("technical.txt").startswith(b"Technical proposal of bidder1")
    reads = [e for e in await harness.node.store.read(tender) if e.type == "bid.document_read"]
    assert [(e.actor_id, e.payload["bidder"]) for e in reads] == [(supervisor.id, opened.id)]
    assert await refusal(opened.session.get_bytes(path)) == (403, "AccessDenied")
    await harness.login(world.host)
    assert (await harness.call("GET", path, world.host))[0] == 403
    pending = f"/api/tenders/{tender}/lots/L1/bids/{world.bidders[1].id}/document"
    assert await refusal(session.get_bytes(pending)) == (404, None)


def plaintext_at_rest(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {n!r}" for n in needles if n in data]
    return found


async def test_nothing_readable_is_kept_at_rest(world: World) -> None:
    await to_opening(world)
    keys = [await world.file_key(bidder) for bidder in world.bidders]
    for bidder in world.bidders:
        await decrypt(world, bidder)
    root = world.harness.node.settings.data_dir
    needles = [b"Technical proposal", *keys, *(b64url_encode(k).encode() for k in keys)]
    assert await asyncio.to_thread(plaintext_at_rest, root, needles) == []


async def test_signed_in_bidders_watch_the_opening_live(world: World) -> None:
    await to_opening(world)
    watcher = world.bidders[4]
    await world.harness.login(watcher.person)
    ws = await open_live(world.harness, watcher.person)
    try:
        await send(ws, type="subscribe", tender=world.tender)
        await until(ws, "caught_up")
        await decrypt(world, world.bidders[0])
        _, message = await until(ws, "event")
        assert (message["event"]["type"], message["event"]["payload"]["bidder"]) == (
            "bid.decrypted",
            world.bidders[0].id,
        )
    finally:
        await ws.close()


async def test_a_lost_copy_is_the_platforms_fault(world: World) -> None:
    await to_opening(world)
    lost = world.bidders[0]
    stored = stored_part(world, lost.receipt["sha256"], "body")
    await asyncio.to_thread(stored.unlink)
    status = await decrypt(world, lost)
    assert (status["status"], status["fault"]) == ("withdrawn", "platform")
    assert "could not be read" in status["reason"]
    assert (await decrypt(world, world.bidders[1]))["status"] == "decrypted"  # the rest go on


async def test_a_bidder_signs_only_a_record_it_could_check(world: World) -> None:
    await to_opening(world)
    bidder = world.bidders[0]
    with pytest.raises(ClientError, match="not been read out"):
        await bidding.confirm(bidder.session, world.tender)
    for each in world.bidders:
        await decrypt(world, each)
    await world.harness.post_ok(f"/api/tenders/{world.tender}/opening/record", {}, world.host)
    record, record_hash = await bidding.read_record(bidder.session, world.tender)
    assert {b["status"] for b in record["lots"][0]["bids"]} == {"decrypted"}
    assert (await opening_view(world))["record_hash"] == record_hash
