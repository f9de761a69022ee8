"""The live channel over real sockets: auth, replay then live, resume, limits, slow clients."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server.app import create_app
from server.domain.access import Role
from server.domain.events import CommandRejected
from server.protocol import CloseCode
from server.transport.app_keys import hub_key
from tests.conftest import AiohttpClient, Harness, ManualClock, Person

if TYPE_CHECKING:
    from server.config import Settings

Message = dict[str, Any]
UPGRADE_HEADERS = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}
MakeHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
def make_harness(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> MakeHarness:
    async def make(**changes: Any) -> Harness:
        schedule = changes.pop("schedule", False)
        app = create_app(replace(settings, **changes), clock=clock, schedule=schedule)
        return Harness(await aiohttp_client(app), clock)

    return make


async def receive(ws: ClientConnection) -> Message:
    async with asyncio.timeout(10):
        message: Message = json.loads(await ws.recv())
    return message


async def send(ws: ClientConnection, **message: Any) -> None:
    await ws.send(json.dumps({"v": 1, **message}))


async def open_live(harness: Harness, person: Person, **options: Any) -> ClientConnection:
    ws = await connect(harness.ws_url, **options)
    await send(ws, type="auth", token=person.token)
    welcome = await receive(ws)
    assert welcome["type"] == "welcome", welcome
    return ws


async def closed_with(ws: ClientConnection) -> int | None:
    """Read until the node closes the connection; return the close code it sent."""
    async with asyncio.timeout(30):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None


async def until(ws: ClientConnection, kind: str) -> tuple[list[Message], Message]:
    """Messages up to and including the first of type `kind`."""
    before: list[Message] = []
    while True:
        message = await receive(ws)
        if message["type"] == kind:
            return before, message
        before.append(message)


@pytest.fixture
async def setup(harness: Harness) -> tuple[Harness, Person, str]:
    host = await harness.person(Role.HOST)
    tender_id = await harness.tender(host)
    await harness.post_ok(f"/api/tenders/{tender_id}/publish", {}, host)
    return harness, host, tender_id


async def note(
    harness: Harness, tender_id: str, count: int, size: int = 10, *, one_by_one: bool = False
) -> None:
    """Append `count` supervisor-visible events to a tender: all at once, or one commit each."""
    await harness.node.ledger.load(tender_id)
    event = CommandRejected("test.note", "Note", "x" * size)
    if one_by_one:
        for _ in range(count):
            await harness.node.ledger.emit(tender_id, harness.node.origin, [event])
        return
    pending = [
        harness.node.ledger.emit(tender_id, harness.node.origin, [event]) for _ in range(count)
    ]
    await asyncio.gather(*pending)


async def test_auth_message_gets_a_welcome(harness: Harness) -> None:
    bidder = await harness.person(Role.BIDDER)
    ws = await connect(harness.ws_url)
    await send(ws, type="auth", token=bidder.token, id="a1")
    welcome = await receive(ws)
    assert welcome["participant"] == bidder.id
    assert (welcome["role"], welcome["node"], welcome["id"]) == ("bidder", harness.node.id, "a1")
    await ws.close()


async def test_a_bearer_header_authenticates_the_upgrade(harness: Harness) -> None:
    bidder = await harness.person(Role.BIDDER)
    async with connect(harness.ws_url, additional_headers=bidder.headers) as ws:
        assert (await receive(ws))["type"] == "welcome"


async def test_a_bad_token_gets_an_error_then_4001(harness: Harness) -> None:
    async with connect(harness.ws_url) as ws:
        await send(ws, type="auth", token="v1.forged.token")
        error = await receive(ws)
        assert (error["type"], error["code"]) == ("error", "unauthorized")
        assert await closed_with(ws) == CloseCode.UNAUTHORIZED


async def test_nothing_but_auth_and_ping_before_authenticating(harness: Harness) -> None:
    async with connect(harness.ws_url) as ws:
        await send(ws, type="subscribe", tender="system", id="s")
        error = await receive(ws)
        assert (error["code"], error["id"]) == ("unauthorized", "s")
        await send(ws, type="ping", id="p")
        assert (await receive(ws))["type"] == "pong"


async def test_silent_clients_are_closed_4001(make_harness: MakeHarness) -> None:
    harness = await make_harness(ws_auth_timeout_seconds=0.2)
    async with connect(harness.ws_url) as ws:
        assert await closed_with(ws) == CloseCode.UNAUTHORIZED


async def upgrade_refused(harness: Harness, address: str) -> tuple[int, str]:
    """Ask for the upgrade from `address`; the status and error code of the refusal."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(harness.client.make_url("/ws"), headers=UPGRADE_HEADERS) as response,
    ):
        return response.status, (await response.json())["error"]["code"]


async def test_live_connections_are_capped_per_address_and_in_total(
    make_harness: MakeHarness,
) -> None:
    harness = await make_harness(ws_max_connections=3, ws_max_connections_per_address=2)
    # Unauthenticated connections take their place as soon as they are upgraded.
    first = [await connect(harness.ws_url) for _ in range(2)]
    assert await upgrade_refused(harness, "127.0.0.1") == (429, "too_many_connections")
    other = await connect(harness.ws_url, local_addr=("127.0.0.2", 0))
    assert await upgrade_refused(harness, "127.0.0.3") == (503, "node_full")
    for ws in [*first, other]:
        await ws.close()


async def test_a_connection_ends_when_its_token_expires(make_harness: MakeHarness) -> None:
    harness = await make_harness(token_ttl_seconds=1)
    ws = await open_live(harness, await harness.person(Role.BIDDER))
    assert await closed_with(ws) == CloseCode.UNAUTHORIZED


async def test_reauthentication_must_be_the_same_participant(harness: Harness) -> None:
    alice, bob = await harness.person(Role.BIDDER), await harness.person(Role.BIDDER)
    ws = await open_live(harness, alice)
    await harness.login(alice)
    await send(ws, type="auth", token=alice.token)
    assert (await receive(ws))["type"] == "welcome"  # a fresh token for the same person is fine
    await send(ws, type="auth", token=bob.token)
    assert (await receive(ws))["code"] == "unauthorized"
    assert await closed_with(ws) == CloseCode.UNAUTHORIZED


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "malformed_json"),
        ('{"v": 9, "type": "ping"}', "unsupported_version"),
        ('{"v": 1, "type": "teleport"}', "unknown_type"),
        ('{"v": 1, "type": "subscribe", "tender": 7}', "invalid_message"),
    ],
)
async def test_bad_messages_get_an_error_and_the_connection_stays(
    setup: tuple[Harness, Person, str], text: str, code: str
) -> None:
    harness, host, _ = setup
    ws = await open_live(harness, host)
    await ws.send(text)
    assert (await receive(ws))["code"] == code
    await send(ws, type="ping", id="still-there")
    assert (await receive(ws))["id"] == "still-there"
    await ws.close()


async def test_binary_frames_get_an_error(harness: Harness) -> None:
    ws = await open_live(harness, await harness.person(Role.BIDDER))
    await ws.send(b"\x00\x01")
    assert (await receive(ws))["code"] == "unsupported_frame"
    await ws.close()


async def test_messages_over_the_limit_close_1009(harness: Harness) -> None:
    ws = await open_live(harness, await harness.person(Role.BIDDER))
    await send(ws, type="ping", id="x", padding="y" * (64 * 1024))
    assert await closed_with(ws) == CloseCode.MESSAGE_TOO_BIG


async def test_subscribe_replays_then_goes_live(setup: tuple[Harness, Person, str]) -> None:
    harness, host, tender_id = setup
    ws = await open_live(harness, host)
    await send(ws, type="subscribe", tender=tender_id, after_seq=0, id="s1")
    subscribed = await receive(ws)
    assert (subscribed["type"], subscribed["head_seq"], subscribed["id"]) == ("subscribed", 6, "s1")
    replayed, caught_up = await until(ws, "caught_up")
    # The host sees the draft, its publication, the opening key and the signed tree head,
    # not the custodians' shares.
    assert [m["event"]["seq"] for m in replayed] == [1, 2, 3, 6]
    assert replayed[0]["event"]["type"] == "tender.created"
    assert len(replayed[0]["hash"]) == 64
    assert caught_up["seq"] == 6
    await harness.post_ok(f"/api/tenders/{tender_id}/cancel", {"reason": "budget cut"}, host)
    live = [await receive(ws), await receive(ws)]
    assert [(m["event"]["seq"], m["event"]["type"]) for m in live] == [
        (7, "tender.cancelled"),
        (8, "audit.tree_head"),
    ]
    await ws.close()


async def test_live_events_are_filtered_by_role(setup: tuple[Harness, Person, str]) -> None:
    harness, host, tender_id = setup
    bidder, supervisor = await harness.person(Role.BIDDER), await harness.person(Role.SUPERVISOR)
    seen: dict[str, list[str]] = {}
    sockets = {}
    for person in (bidder, supervisor):
        ws = await open_live(harness, person)
        await send(ws, type="subscribe", tender=tender_id)
        await until(ws, "caught_up")
        sockets[person.participant.role.value] = ws
    visitor = await harness.person(Role.PUBLIC)
    await harness.call("POST", f"/api/tenders/{tender_id}/cancel", visitor, {"reason": "no"})
    await harness.post_ok(f"/api/tenders/{tender_id}/cancel", {"reason": "budget cut"}, host)
    for role, ws in sockets.items():
        await send(ws, type="ping", id="end")
        before, _ = await until(ws, "pong")
        seen[role] = [m["event"]["type"] for m in before]
        await ws.close()
    assert seen["bidder"] == ["tender.cancelled", "audit.tree_head"]
    assert seen["supervisor"] == ["access.denied", "tender.cancelled", "audit.tree_head"]


async def test_subscription_refusals(setup: tuple[Harness, Person, str]) -> None:
    harness, host, tender_id = setup
    bidder = await harness.person(Role.BIDDER)
    draft = await harness.tender(host)
    ws = await open_live(harness, bidder)
    cases = [("t-unknown", "not_found"), (draft, "not_found"), ("system", "forbidden")]
    for tender, code in cases:
        await send(ws, type="subscribe", tender=tender, id=tender)
        error = await receive(ws)
        assert (error["type"], error["code"], error["id"]) == ("error", code, tender)
    denied = [r for r in await harness.node.store.read("system") if r.type == "access.denied"]
    assert denied[-1].payload["action"] == "system.read"
    await send(ws, type="subscribe", tender=tender_id)
    await until(ws, "caught_up")
    await send(ws, type="subscribe", tender=tender_id, id="again")
    assert (await receive(ws))["code"] == "already_subscribed"
    await ws.close()


async def test_subscriptions_per_connection_are_limited(make_harness: MakeHarness) -> None:
    harness = await make_harness(ws_max_subscriptions=1)
    supervisor = await harness.person(Role.SUPERVISOR)
    host = await harness.person(Role.HOST)
    first, second = await harness.tender(host), await harness.tender(host)
    ws = await open_live(harness, supervisor)
    await send(ws, type="subscribe", tender=first)
    await until(ws, "caught_up")
    await send(ws, type="subscribe", tender=second)
    assert (await receive(ws))["code"] == "too_many_subscriptions"
    await ws.close()


async def test_unsubscribe_stops_the_events(setup: tuple[Harness, Person, str]) -> None:
    harness, host, tender_id = setup
    ws = await open_live(harness, host)
    await send(ws, type="subscribe", tender=tender_id)
    await until(ws, "caught_up")
    await send(ws, type="unsubscribe", tender=tender_id, id="u")
    assert (await receive(ws))["type"] == "unsubscribed"
    assert harness.client.app is not None
    await harness.post_ok(f"/api/tenders/{tender_id}/cancel", {"reason": "budget cut"}, host)
    await send(ws, type="ping", id="end")
    before, _ = await until(ws, "pong")
    assert before == []
    await ws.close()


async def test_resume_has_no_gap_and_no_duplicate_under_concurrent_appends(
    setup: tuple[Harness, Person, str],
) -> None:
    """Reconnect again and again while the log grows; the union must be exactly 1..N."""
    harness, _, tender_id = setup
    supervisor = await harness.person(Role.SUPERVISOR)
    total = 2 + 1500
    writer = asyncio.create_task(note(harness, tender_id, 1500))
    seen: list[int] = []
    chunk = 97
    while not seen or seen[-1] < total:
        ws = await open_live(harness, supervisor)
        await send(ws, type="subscribe", tender=tender_id, after_seq=seen[-1] if seen else 0)
        assert (await receive(ws))["type"] == "subscribed"
        for _ in range(chunk):  # some from the replay, some live, then drop the connection
            message = await receive(ws)
            if message["type"] == "event":
                seen.append(message["event"]["seq"])
            if seen and seen[-1] == total:
                break
        ws.transport.abort()  # a dropped connection, as on a flaky network
        await ws.wait_closed()
    await writer
    assert seen == list(range(1, total + 1))


async def test_many_subscribers_joining_during_appends_all_see_everything(
    setup: tuple[Harness, Person, str],
) -> None:
    harness, _, tender_id = setup
    supervisor = await harness.person(Role.SUPERVISOR)
    total = 2 + 600

    async def follow() -> list[int]:
        ws = await open_live(harness, supervisor)
        await send(ws, type="subscribe", tender=tender_id)
        seqs: list[int] = []
        while not seqs or seqs[-1] < total:
            message = await receive(ws)
            if message["type"] == "event":
                seqs.append(message["event"]["seq"])
        await ws.close()
        return seqs

    followers = [asyncio.create_task(follow()) for _ in range(8)]
    await note(harness, tender_id, 600)
    for result in await asyncio.gather(*followers):
        assert result == list(range(1, total + 1))


async def test_a_slow_client_is_dropped_and_never_delays_the_others(
    make_harness: MakeHarness,
) -> None:
    # Dropped at once past 2 MiB of backlog; the grace timer is kept out of the way.
    harness = await make_harness(
        ws_backlog_bytes=1024 * 1024,
        ws_backlog_seconds=60,
        ws_send_buffer_bytes=2 * 1024 * 1024,
        ws_close_timeout_seconds=30,
    )
    host = await harness.person(Role.HOST)
    tender_id = await harness.tender(host)
    supervisors = [await harness.person(Role.SUPERVISOR) for _ in range(4)]
    # A modest receive buffer, fixed before connecting so the kernel can't grow it to 32 MiB.
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    raw.connect(("127.0.0.1", harness.client.port))
    raw.setblocking(False)
    slow = await connect(harness.ws_url, sock=raw)
    await send(slow, type="auth", token=supervisors[0].token)
    await receive(slow)
    await send(slow, type="subscribe", tender=tender_id)
    await until(slow, "caught_up")
    fast = []
    for person in supervisors[1:]:
        ws = await open_live(harness, person)
        await send(ws, type="subscribe", tender=tender_id)
        await until(ws, "caught_up")
        fast.append(ws)
    count = 250  # 8 MB: more than the kernel buffers (4 MiB + 256 KiB) plus the 2 MiB cap

    async def read_all(ws: ClientConnection) -> list[int]:
        return [(await receive(ws))["event"]["seq"] for _ in range(count)]

    slow.transport.pause_reading()  # the slow client stops reading altogether
    readers = [asyncio.create_task(read_all(ws)) for ws in fast]
    # One commit per event, so that clients that keep up never hold more than one frame.
    await note(harness, tender_id, count, size=32 * 1024, one_by_one=True)
    for seqs in await asyncio.gather(*readers):  # the others got everything meanwhile
        assert seqs == list(range(2, count + 2))
    slow.transport.resume_reading()
    assert await closed_with(slow) == CloseCode.SLOW_CONSUMER
    assert harness.client.app[hub_key].subscribers(tender_id) == 3
    for ws in fast:
        await ws.close()


async def test_shutdown_closes_live_connections_with_1001(make_harness: MakeHarness) -> None:
    harness = await make_harness()
    ws = await open_live(harness, await harness.person(Role.BIDDER))
    closing = asyncio.create_task(closed_with(ws))
    await harness.client.close()
    assert await closing == CloseCode.GOING_AWAY


async def test_the_background_schedule_opens_bidding(make_harness: MakeHarness) -> None:
    harness = await make_harness(schedule=True)
    host = await harness.person(Role.HOST)
    spec_time = harness.clock.now()
    tender_id = await harness.tender(host)
    await harness.node.ledger.load(tender_id)
    ws = await open_live(harness, host)
    await send(ws, type="subscribe", tender=tender_id)
    await until(ws, "caught_up")
    harness.clock.advance(3600)  # bidding opens now; publishing wakes the scheduler
    await harness.login(host)
    await harness.post_ok(f"/api/tenders/{tender_id}/publish", {}, host)
    types = []
    while "tender.bidding_opened" not in types:
        types.append((await receive(ws))["event"]["type"])
    assert types == [
        "tender.published", "opening.key_issued", "audit.tree_head", "tender.bidding_opened"
    ]  # fmt: skip
    assert spec_time < harness.clock.now()
    await ws.close()


async def test_heartbeats_ping_and_drop_a_client_that_never_answers(
    make_harness: MakeHarness,
) -> None:
    harness = await make_harness(ws_heartbeat_seconds=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", harness.client.port)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        received = await reader.read()  # everything until the node closes the socket
    opcodes = [received[0] & 0x0F]  # the first frame the node sent unprompted
    assert opcodes == [0x9]  # a ping; the client never answers, so the node hangs up
    writer.close()
    await writer.wait_closed()


async def test_a_repeated_subscribe_is_refused_even_while_the_first_replays(
    setup: tuple[Harness, Person, str],
) -> None:
    harness, host, tender_id = setup
    ws = await open_live(harness, host)
    for ref in ("first", "second"):  # sent back to back: the first is still replaying
        await send(ws, type="subscribe", tender=tender_id, id=ref)
    replies = [await receive(ws) for _ in range(6)]  # 5 for the first, an error for the second
    kinds = [(m["type"], m.get("id")) for m in replies if m["type"] != "event"]
    assert ("error", "second") in kinds
    assert next(m for m in replies if m["type"] == "subscribed")["id"] == "first"
    assert harness.client.app[hub_key].subscribers(tender_id) == 1
    await harness.post_ok(f"/api/tenders/{tender_id}/cancel", {"reason": "once"}, host)
    await send(ws, type="ping", id="end")
    before, _ = await until(ws, "pong")
    assert [m["event"]["type"] for m in before if m["type"] == "event"] == [
        "tender.cancelled",
        "audit.tree_head",
    ]
    await ws.close()
