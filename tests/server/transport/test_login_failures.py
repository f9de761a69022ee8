"""Failed logins on record, throttled per claimed id and per address; floods lock no one out."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import aiohttp

from crypto import SigningKey
from server.app import create_app
from server.domain.access import Role
from server.domain.events import AccessRefused
from server.domain.logins import LoginRefused, LoginsThrottled
from server.protocol import answer_challenge
from server.protocol.times import format_time
from tests.conftest import AiohttpClient, Harness, ManualClock, Person

if TYPE_CHECKING:
    from recordings.audit import AuditRecord
    from server.config import Settings

LOGIN_FAILED = "Login failed: the challenge, participant or signature is not valid."


async def harness_with(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock, **changes: Any
) -> Harness:
    app = create_app(replace(settings, **changes), clock=clock, schedule=False)
    return Harness(await aiohttp_client(app), clock)


async def system_records(harness: Harness, event_type: str) -> list[AuditRecord]:
    return [r for r in await harness.node.store.read("system") if r.type == event_type]


async def wrong_key_login(harness: Harness, challenge: dict[str, Any], claimed: str) -> int:
    forged = dict(challenge, participant=claimed)
    body = answer_challenge(forged, SigningKey.generate(), format_time(harness.clock.now()))
    status, reply = await harness.call("POST", "/api/auth/login", body=body)
    if status == 401:
        assert reply["error"] == {"code": "unauthorized", "message": LOGIN_FAILED}
    return status


async def test_wrong_key_logins_are_recorded_with_the_claimed_id_address_and_reason(
    harness: Harness,
) -> None:
    bidder = await harness.enroll(Role.BIDDER)
    challenge = await harness.post_ok("/api/auth/challenge", {"participant": bidder.id})
    statuses = [await wrong_key_login(harness, challenge, bidder.id) for _ in range(20)]
    assert statuses == [401] * 20
    failed = await system_records(harness, "auth.login_failed")
    assert len(failed) == 20
    assert {(r.actor_id, r.address) for r in failed} == {("anonymous", "127.0.0.1")}
    assert failed[0].payload == {
        "participant": bidder.id,
        "address": "127.0.0.1",
        "reason": "bad_signature",
    }


async def test_failed_logins_are_seen_by_those_who_see_access_refusals(harness: Harness) -> None:
    assert LoginRefused.VISIBILITY == LoginsThrottled.VISIBILITY == AccessRefused.VISIBILITY
    challenge = await harness.post_ok("/api/auth/challenge", {"participant": "p-000000000000"})
    assert await wrong_key_login(harness, challenge, "p-000000000000") == 401
    supervisor = await harness.person(Role.SUPERVISOR)
    page = (await harness.call("GET", "/api/system/events", supervisor))[1]
    failed = [e["event"] for e in page["events"] if e["event"]["type"] == "auth.login_failed"]
    assert [e["payload"]["reason"] for e in failed] == ["unknown_participant"]
    bidder = await harness.person(Role.BIDDER)
    assert (await harness.call("GET", "/api/system/events", bidder))[0] == 403


async def test_a_flood_on_one_bidder_writes_at_most_the_limit_and_one_throttled_event(
    harness: Harness,
) -> None:
    bidder = await harness.enroll(Role.BIDDER)
    challenge = await harness.post_ok("/api/auth/challenge", {"participant": bidder.id})
    statuses = [await wrong_key_login(harness, challenge, bidder.id) for _ in range(1_000)]
    assert statuses == [401] * 60 + [429] * 940
    assert len(await system_records(harness, "auth.login_failed")) == 60
    throttled = await system_records(harness, "auth.login_throttled")
    assert [r.payload for r in throttled] == [
        {"participant": bidder.id, "address": "127.0.0.1", "limit": 60, "window_seconds": 60}
    ]
    await harness.login(bidder)  # the real holder of the key still gets in


async def test_spraying_ids_from_one_address_is_throttled_per_address(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    harness = await harness_with(aiohttp_client, settings, clock, max_refusals_per_minute=5)
    challenge = await harness.post_ok("/api/auth/challenge", {"participant": "p-000000000000"})
    claims = [f"p-{secrets.token_hex(6)}" for _ in range(200)]
    statuses = [await wrong_key_login(harness, challenge, claimed) for claimed in claims]
    assert statuses == [401] * 5 + [429] * 195
    failed = await system_records(harness, "auth.login_failed")
    assert [r.payload["reason"] for r in failed] == ["bad_challenge"] * 5
    assert len(await system_records(harness, "auth.login_throttled")) == 1
    clock.advance(60)  # a whole quiet window later, failures are recorded again
    assert await wrong_key_login(harness, challenge, claims[0]) == 401


async def post_from(
    harness: Harness, address: str, path: str, body: object
) -> tuple[int, dict[str, Any]]:
    """POST from a given loopback address (Linux routes all of 127.0.0.0/8 to lo)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(harness.client.make_url(path), json=body) as response,
    ):
        return response.status, await response.json()


async def test_a_flood_from_many_addresses_locks_no_one_out(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    harness = await harness_with(aiohttp_client, settings, clock, max_challenges_per_address=2)
    bidder: Person = await harness.enroll(Role.BIDDER)
    mine = await harness.post_ok("/api/auth/challenge", {"participant": bidder.id})
    flooders = [f"127.0.0.{i}" for i in range(2, 10)]

    async def challenge_from(address: str) -> int:
        return (
            await post_from(harness, address, "/api/auth/challenge", {"participant": bidder.id})
        )[0]

    for address in flooders:
        assert [await challenge_from(address) for _ in range(3)] == [200, 200, 429]
    body = answer_challenge(mine, bidder.key, format_time(clock.now()))
    elsewhere = await post_from(harness, "127.0.0.3", "/api/auth/login", body)
    assert elsewhere == (401, {"error": {"code": "unauthorized", "message": LOGIN_FAILED}})
    assert (await harness.call("POST", "/api/auth/login", body=body))[0] == 200
    failed = await system_records(harness, "auth.login_failed")
    assert [(r.payload["address"], r.payload["reason"]) for r in failed] == [
        ("127.0.0.3", "bad_challenge")
    ]


async def test_a_flood_spread_over_addresses_and_ids_is_bounded_overall(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    harness = await harness_with(
        aiohttp_client, settings, clock, max_refusals_per_minute=3, max_failed_logins_per_minute=5
    )
    bidder = await harness.enroll(Role.BIDDER)
    challenge = await harness.post_ok("/api/auth/challenge", {"participant": bidder.id})
    statuses = []
    for address in (f"127.0.0.{i}" for i in range(2, 6)):  # each within its own limit of 3
        for _ in range(2):
            forged = dict(challenge, participant=f"p-{secrets.token_hex(6)}")
            body = answer_challenge(forged, SigningKey.generate(), format_time(clock.now()))
            statuses.append((await post_from(harness, address, "/api/auth/login", body))[0])
    assert statuses == [401] * 5 + [429] * 3
    assert len(await system_records(harness, "auth.login_failed")) == 5
    assert len(await system_records(harness, "auth.login_throttled")) == 1
    await harness.login(bidder)  # failures are throttled, a correct login never is
