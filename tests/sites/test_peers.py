"""The node-to-node fetch (docs/sites.md 7): a node logs in to another with its node key and
reads its streams in checked pages; refusals, unreachable nodes and bad pages are typed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from crypto import SigningKey
from recordings.errors import ChainBroken, RecordFormatError
from server.domain.access import Role
from server.errors import BadRequest, HomeUnavailable, NotFound, Unauthorized
from server.service.node import CONSOLE
from server.sites.peers import PeerClient
from tests.conftest import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from aiohttp.test_utils import TestServer

    from recordings.audit import AuditRecord
    from tests.conftest import Harness, ManualClock, Person


def url_of(harness: Harness) -> str:
    return str(harness.client.make_url("/"))


async def enrolled_node_key(harness: Harness) -> SigningKey:
    key = SigningKey.generate()
    enrolment = {"role": "node", "name": "edge", "public_key": key.verify_key.to_text()}
    await harness.node.participants.enroll(CONSOLE, enrolment)
    return key


@pytest.fixture
async def peer(harness: Harness) -> AsyncIterator[PeerClient]:
    key = await enrolled_node_key(harness)
    async with PeerClient(url_of(harness), key, harness.clock, timeout=5) as client:
        yield client


async def box_with_records(harness: Harness, count: int) -> tuple[str, Person]:
    """A draft tender whose bid box holds `count` refusals of a bidder (before the deadline,
    a bidder's refusals go to the box)."""
    host = await harness.person(Role.HOST)
    tender = await harness.tender(host)
    bidder = await harness.person(Role.BIDDER)
    for _ in range(count):
        await harness.refused("POST", f"/api/tenders/{tender}/publish", bidder)
    return tender, bidder


async def read_all(client: PeerClient, stream: str, page: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    while batch := await client.fetch(
        stream, records[-1].seq if records else 0, page,
        after_hash=records[-1].hash if records else None,
    ):  # fmt: skip
        records += batch
    return records


@pytest.mark.parametrize("page", [1, 3, 1000])
async def test_a_node_fetches_every_stream_in_pages(
    harness: Harness, peer: PeerClient, page: int
) -> None:
    tender, _ = await box_with_records(harness, 4)
    streams = await peer.streams()
    assert {"system", tender, f"{tender}-box"} <= set(streams)
    for stream in ("system", tender, f"{tender}-box"):
        stored = await harness.node.store.read(stream)
        assert stored
        fetched = await read_all(peer, stream, page)
        assert [(r.seq, r.hash, r.body) for r in fetched] == [
            (r.seq, r.hash, r.body) for r in stored
        ][: len(fetched)]
        assert len(fetched) >= len(stored)  # the system log grows with the node's own logins


async def test_a_fetch_over_more_than_one_request_page(
    harness: Harness, peer: PeerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(4):
        await harness.enroll(Role.BIDDER)
    monkeypatch.setattr("server.sites.peers.MAX_PAGE", 2)
    records = await peer.fetch("system", 0, 5000)
    assert len(records) > 4
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert await peer.fetch("system", len(records) + 10, 5) == []


async def test_a_page_must_link_to_the_hash_given(harness: Harness, peer: PeerClient) -> None:
    first = await peer.fetch("system", 0, 1)
    assert len(await peer.fetch("system", 1, 1, after_hash=first[0].hash)) == 1
    with pytest.raises(ChainBroken):
        await peer.fetch("system", 1, 1, after_hash="0" * 64)


async def test_an_unenrolled_key_is_refused(harness: Harness) -> None:
    async with PeerClient(url_of(harness), SigningKey.generate(), harness.clock) as stranger:
        with pytest.raises(Unauthorized):
            await stranger.fetch("system", 0, 10)


async def test_a_person_s_key_gets_no_stream(harness: Harness) -> None:
    # A participant of another role logs in as itself (p-...), never as a node: the key
    # names a node id that is not enrolled.
    bidder = await harness.enroll(Role.BIDDER)
    async with PeerClient(url_of(harness), bidder.key, harness.clock) as client:
        with pytest.raises(Unauthorized):
            await client.streams()


async def test_the_token_is_renewed_before_it_expires(harness: Harness, peer: PeerClient) -> None:
    await peer.fetch("system", 0, 1)
    logins = await count_logins(harness, peer)
    harness.clock.advance(60)
    await peer.fetch("system", 0, 1)
    assert await count_logins(harness, peer) == logins  # still good: no new login
    harness.clock.advance(15 * 60 - 60 - 20)  # within the margin of its expiry
    await peer.fetch("system", 0, 1)
    assert await count_logins(harness, peer) == logins + 1


async def test_a_token_refused_is_renewed_once(harness: Harness, peer: PeerClient) -> None:
    await peer.fetch("system", 0, 1)
    logins = await count_logins(harness, peer)
    peer._token = "v1.refused"  # the other node no longer takes it (restarted, say)
    await peer.fetch("system", 0, 1)
    assert await count_logins(harness, peer) == logins + 1


async def count_logins(harness: Harness, peer: PeerClient) -> int:
    records = await harness.node.store.read("system")
    return sum(
        1 for r in records if r.type == "participant.logged_in" and r.actor_id == peer.participant
    )


async def test_a_stream_the_node_does_not_have(peer: PeerClient) -> None:
    with pytest.raises(NotFound):
        await peer.fetch("t-20261121-000000000000", 0, 10)


async def test_arguments_are_checked(peer: PeerClient) -> None:
    for stream, after, limit in [("no such/stream", 0, 1), ("system", -1, 1), ("system", 0, 0)]:
        with pytest.raises(ValueError):  # noqa: PT011 - each says what is wrong
            await peer.fetch(stream, after, limit)


async def test_a_node_that_can_t_be_reached(clock: ManualClock) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with PeerClient(url, SigningKey.generate(), clock, timeout=2) as client:
        with pytest.raises(HomeUnavailable, match="can't be reached"):
            await client.streams()


# Against a node that misbehaves: a fake serving what the test says.

Reply = tuple[int, object]


GRANTED: Reply = (200, {"token": "v1.t", "expires_at": "2026-11-21T10:00:00.000000Z"})


async def fake_node(
    aiohttp_server: Callable[..., Any],
    events: Callable[[], Reply],
    streams: Reply = (200, {}),
    login: Reply = GRANTED,
) -> TestServer:
    async def challenge(request: web.Request) -> web.Response:
        participant = (await request.json())["participant"]
        document = {"challenge": "c", "participant": participant, "nonce": "n", "node": "n-x"}
        return web.json_response(document)

    async def log_in(request: web.Request) -> web.Response:
        return answer(login)

    def answer(reply: Reply) -> web.Response:
        status, body = reply
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(status=status, text=text, content_type="application/json")

    async def read_events(request: web.Request) -> web.Response:
        return answer(events())

    async def list_streams(request: web.Request) -> web.Response:
        return answer(streams)

    app = web.Application()
    app.router.add_post("/api/auth/challenge", challenge)
    app.router.add_post("/api/auth/login", log_in)
    app.router.add_get("/api/system/events", read_events)
    app.router.add_get("/api/streams", list_streams)
    server: TestServer = await aiohttp_server(app)
    return server


async def faked(
    aiohttp_server: Callable[..., Any],
    clock: ManualClock,
    events: Reply,
    streams: Reply = (200, {}),
) -> PeerClient:
    server = await fake_node(aiohttp_server, lambda: events, streams)
    return PeerClient(str(server.make_url("/")), SigningKey.generate(), clock, timeout=5)


async def genuine_page(harness: Harness, peer: PeerClient) -> dict[str, Any]:
    for _ in range(3):
        await harness.enroll(Role.BIDDER)
    records = await peer.fetch("system", 0, 3)
    events = [{"hash": r.hash, "event": json.loads(r.body)} for r in records]
    return {"events": events, "next_after_seq": 3, "more": False}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda page: page["events"].pop(1), ChainBroken),  # a gap
        (lambda page: page["events"][1].update(hash="0" * 64), ChainBroken),  # altered
        (lambda page: page["events"][2]["event"].update(seq=9), ChainBroken),
        (lambda page: page["events"][0]["event"].pop("prev"), RecordFormatError),
        (lambda page: page["events"][0].pop("hash"), HomeUnavailable),
        (lambda page: page["events"][0].update(event=1.5), RecordFormatError),
        (lambda page: page["events"][0].update(event="\ud800"), HomeUnavailable),
        (lambda page: page.update(events=None), HomeUnavailable),
    ],
)
async def test_a_page_that_does_not_chain_is_refused(
    aiohttp_server: Callable[..., Any],
    harness: Harness,
    peer: PeerClient,
    change: Callable[[dict[str, Any]], object],
    error: type[Exception],
) -> None:
    page = await genuine_page(harness, peer)
    change(page)
    async with await faked(aiohttp_server, harness.clock, (200, page)) as client:
        with pytest.raises(error):
            await client.fetch("system", 0, 3)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ((500, {"error": {"message": "boom"}}), HomeUnavailable),
        ((503, {"error": {"message": "home_unavailable"}}), HomeUnavailable),
        ((429, {"error": {}}), HomeUnavailable),
        ((403, {"error": {"message": "no"}}), Unauthorized),
        ((400, {"error": {"message": "odd"}}), BadRequest),
        ((502, "<html>bad gateway</html>"), HomeUnavailable),
        ((200, []), HomeUnavailable),
    ],
)
async def test_refusals_and_failures_are_typed(
    aiohttp_server: Callable[..., Any], clock: ManualClock, reply: Reply, error: type[Exception]
) -> None:
    async with await faked(aiohttp_server, clock, reply, reply) as client:
        with pytest.raises(error):
            await client.fetch("system", 0, 3)
        with pytest.raises(error):
            await client.streams()


async def test_a_list_of_streams_that_is_not_one(
    aiohttp_server: Callable[..., Any], clock: ManualClock
) -> None:
    async with await faked(aiohttp_server, clock, (200, {}), (200, {"streams": [1]})) as client:
        with pytest.raises(HomeUnavailable, match="no list of streams"):
            await client.streams()


async def test_a_login_answered_oddly(
    aiohttp_server: Callable[..., Any], clock: ManualClock
) -> None:
    server = await fake_node(aiohttp_server, lambda: (200, {}), login=(200, {"token": "v1.t"}))
    async with PeerClient(str(server.make_url("/")), SigningKey.generate(), clock) as client:
        with pytest.raises(HomeUnavailable, match="login"):
            await client.streams()
