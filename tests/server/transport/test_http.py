"""The HTTP API: bad input, the role table with audited refusals, the tender lifecycle."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from crypto import SigningKey
from server.app import create_app
from server.domain.access import Role
from server.protocol.times import format_time
from tests.conftest import AiohttpClient, Harness, ManualClock, tender_spec

if TYPE_CHECKING:
    from server.config import Settings


async def test_node_info_and_health_are_public(harness: Harness) -> None:
    status, body = await harness.call("GET", "/api/node")
    assert status == 200
    assert body["node"] == harness.node.id
    assert body["public_key"].startswith("ed25519:")
    assert (await harness.call("GET", "/healthz"))[1] == {"status": "ok"}


async def test_malformed_json_is_400_with_a_code(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    response = await harness.client.post(
        "/api/tenders",
        data=b'{"title": ',
        headers=host.headers | {"Content-Type": "application/json"},
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "malformed_json"


async def test_duplicate_members_are_malformed(harness: Harness) -> None:
    response = await harness.client.post(
        "/api/auth/challenge",
        data=b'{"participant": "p-00000001", "participant": "p-00000002"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "malformed_json"


async def test_other_content_types_are_400(harness: Harness) -> None:
    response = await harness.client.post("/api/auth/challenge", data=b"participant=p-1")
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "bad_request"


async def test_invalid_fields_are_listed_together(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    spec = tender_spec(harness.clock.now(), title="", min_bids=1)
    status, body = await harness.call("POST", "/api/tenders", host, spec)
    assert status == 400
    assert body["error"]["code"] == "invalid_request"
    assert {p["path"] for p in body["error"]["problems"]} == {"title", "min_bids"}


async def test_invalid_commands_are_recorded_too(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    await harness.call("POST", "/api/tenders", host, {"title": ""})
    records = await harness.node.store.read("system")
    rejected = [r for r in records if r.type == "command.rejected"]
    assert rejected[-1].payload["command"] == "tender.create"
    assert rejected[-1].payload["rule"] == "InvalidFields"
    assert rejected[-1].actor_id == host.id


async def test_oversized_bodies_are_413(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    big = io.BytesIO(b'{"title": "' + b"x" * (1024 * 1024) + b'"}')
    response = await harness.client.post(
        "/api/tenders", data=big, headers=host.headers | {"Content-Type": "application/json"}
    )
    assert response.status == 413
    body = await response.json()
    assert body["error"]["code"] == "payload_too_large"
    assert "1048576 bytes" in body["error"]["message"]


async def test_unknown_routes_and_methods_answer_in_json(harness: Harness) -> None:
    status, body = await harness.call("GET", "/api/nothing-here")
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = await harness.call("DELETE", "/api/tenders")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    ("role", "method", "path"),
    [
        (Role.BIDDER, "POST", "/api/tenders"),
        (Role.SUPERVISOR, "POST", "/api/tenders"),
        (Role.EXPERT, "POST", "/api/admin/participants"),
        (Role.HOST, "GET", "/api/admin/participants"),
        (Role.BIDDER, "GET", "/api/system/events"),
        (Role.ADMIN, "GET", "/api/tenders"),
    ],
)
async def test_wrong_roles_get_403_and_an_audit_entry(
    harness: Harness, role: Role, method: str, path: str
) -> None:
    person = await harness.person(role)
    status, body = await harness.call(method, path, person, {} if method == "POST" else None)
    assert status == 403
    assert body["error"]["rule"] == "AccessDenied"
    denied = [r for r in await harness.node.store.read("system") if r.type == "access.denied"]
    assert denied[-1].actor_id == person.id
    assert denied[-1].actor_role == role.value
    assert denied[-1].address == "127.0.0.1"
    assert denied[-1].visibility == {"admin", "supervisor"}


async def test_refusals_about_a_tender_go_into_its_log(harness: Harness) -> None:
    host, visitor = await harness.person(Role.HOST), await harness.person(Role.PUBLIC)
    tender_id = await harness.tender(host)
    status, _ = await harness.call("POST", f"/api/tenders/{tender_id}/publish", visitor)
    assert status == 403
    records = await harness.node.store.read(tender_id)
    assert [r.type for r in records] == ["tender.created", "access.denied"]
    assert records[-1].payload["action"] == "tender.publish"


async def test_the_lifecycle_through_the_api(harness: Harness) -> None:
    host, bidder = await harness.person(Role.HOST), await harness.person(Role.BIDDER)
    tender_id = await harness.tender(host)
    assert (await harness.call("GET", f"/api/tenders/{tender_id}", bidder))[0] == 404
    assert (await harness.call("GET", "/api/tenders", bidder))[1] == {"tenders": []}
    published = await harness.post_ok(f"/api/tenders/{tender_id}/publish", {}, host)
    assert published["state"] == "published"
    listing = (await harness.call("GET", "/api/tenders", bidder))[1]["tenders"]
    assert [t["id"] for t in listing] == [tender_id]
    harness.clock.advance(3600)
    await harness.login(host)  # tokens last 15 minutes
    await harness.login(bidder)
    assert await harness.node.scheduler.tick() == 1
    status, body = await harness.call("POST", f"/api/tenders/{tender_id}/opening/start", host)
    assert status == 422
    assert (body["error"]["rule"], body["error"]["cite"]) == (
        "OpeningTimeNotReached",
        "E-Measures 29",
    )
    harness.clock.advance(24 * 3600)
    await harness.login(host)
    await harness.login(bidder)
    # The deadline: closed, lot L1 sealed, and a signed tree head over the log so far.
    assert await harness.node.scheduler.tick() == 3
    opened = await harness.post_ok(f"/api/tenders/{tender_id}/opening/start", {}, host)
    # Regs 44: with fewer than three bids there is no opening, and the record says why.
    assert (opened["state"], opened["bids_closed"]) == ("failed", True)
    assert "Only 0 valid bids; at least 3 are needed (Regs 44)" in opened["ended_reason"]
    view = (await harness.call("GET", f"/api/tenders/{tender_id}", bidder))[1]
    assert view["head_seq"] == 13
    types = [r.type for r in await harness.node.store.read(tender_id)]
    assert types == [
        "tender.created",
        "tender.published",
        "opening.key_issued",
        "opening.key_share_issued",
        "opening.key_share_issued",
        "audit.tree_head",  # each phase change is pinned by a signed tree head
        "tender.bidding_opened",
        "command.rejected",
        "tender.bidding_closed",
        "lot.sealed",
        "audit.tree_head",
        "tender.failed",
        "audit.tree_head",
    ]


async def test_invalid_transitions_are_409_and_recorded(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    tender_id = await harness.tender(host)
    status, body = await harness.call("POST", f"/api/tenders/{tender_id}/opening/start", host)
    assert (status, body["error"]["rule"]) == (409, "InvalidTransition")
    assert (await harness.node.store.read(tender_id))[-1].type == "command.rejected"


async def test_cancel_needs_a_reason(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    tender_id = await harness.tender(host)
    status, body = await harness.call(
        "POST", f"/api/tenders/{tender_id}/cancel", host, {"reason": " "}
    )
    assert (status, body["error"]["rule"]) == (422, "ReasonRequired")
    done = await harness.post_ok(
        f"/api/tenders/{tender_id}/cancel", {"reason": "budget withdrawn"}, host
    )
    assert (done["state"], done["ended_reason"]) == ("cancelled", "budget withdrawn")


async def test_publishing_after_the_deadline_is_refused(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    tender_id = await harness.tender(host)
    harness.clock.advance(2 * 24 * 3600)
    await harness.login(host)
    status, body = await harness.call("POST", f"/api/tenders/{tender_id}/publish", host)
    assert (status, body["error"]["rule"]) == (422, "ScheduleInPast")


@pytest.mark.parametrize("tender", ["t-missing", "SYSTEM", "system", "x" * 80])
async def test_unknown_tenders_are_404(harness: Harness, tender: str) -> None:
    host = await harness.person(Role.HOST)
    assert (await harness.call("GET", f"/api/tenders/{tender}", host))[0] == 404
    assert (await harness.call("POST", f"/api/tenders/{tender}/publish", host))[0] == 404


async def test_event_reads_are_filtered_by_role(harness: Harness) -> None:
    host, bidder = await harness.person(Role.HOST), await harness.person(Role.BIDDER)
    supervisor, visitor = await harness.person(Role.SUPERVISOR), await harness.person(Role.PUBLIC)
    tender_id = await harness.tender(host)
    await harness.post_ok(f"/api/tenders/{tender_id}/publish", {}, host)
    await harness.call("POST", f"/api/tenders/{tender_id}/cancel", visitor, {"reason": "x"})
    path = f"/api/tenders/{tender_id}/events"
    seen = {}
    for person in (host, bidder, supervisor):
        events = (await harness.call("GET", path, person))[1]["events"]
        seen[person.participant.role] = [e["event"]["type"] for e in events]
    published = ["tender.published", "opening.key_issued"]
    shares = ["opening.key_share_issued"] * 2  # each sealed to its custodian
    signed = "audit.tree_head"  # everyone sees the signed tree heads
    assert seen[Role.BIDDER] == [*published, signed]
    assert seen[Role.HOST] == ["tender.created", *published, signed]
    assert seen[Role.SUPERVISOR] == [
        "tender.created", *published, *shares, signed, "access.denied"
    ]  # fmt: skip
    page = (await harness.call("GET", f"{path}?after_seq=1&limit=1", supervisor))[1]["events"]
    assert [e["event"]["seq"] for e in page] == [2]


@pytest.mark.parametrize("query", ["after_seq=-1", "after_seq=x", "limit=0", "limit=100000"])
async def test_bad_query_parameters_are_400(harness: Harness, query: str) -> None:
    supervisor = await harness.person(Role.SUPERVISOR)
    status, body = await harness.call("GET", f"/api/system/events?{query}", supervisor)
    assert (status, body["error"]["code"]) == (400, "bad_request")


async def test_the_admin_api_enrols_and_lists(harness: Harness) -> None:
    admin, supervisor = await harness.person(Role.ADMIN), await harness.person(Role.SUPERVISOR)
    key = (await harness.enroll(Role.BIDDER)).key  # reuse of a key is refused below
    bad = {"role": "expert", "name": "Expert", "public_key": "ed25519:" + "B" * 43}
    status, body = await harness.call("POST", "/api/admin/participants", admin, bad)
    assert (status, body["error"]["problems"][0]["path"]) == (400, "public_key")
    fresh_key = SigningKey.generate().verify_key.to_text()
    fresh = {"role": "expert", "name": "Expert", "public_key": fresh_key}
    status, created = await harness.call("POST", "/api/admin/participants", admin, fresh)
    assert status == 201
    assert created["role"] == "expert"
    dup = {"role": "bidder", "name": "Copy", "public_key": key.verify_key.to_text()}
    status, body = await harness.call("POST", "/api/admin/participants", admin, dup)
    assert (status, body["error"]["rule"]) == (409, "DuplicatePublicKey")
    listed = (await harness.call("GET", "/api/admin/participants", supervisor))[1]["participants"]
    assert created["id"] in {p["id"] for p in listed}


async def test_the_schedule_opens_bidding_in_the_tenders_own_log(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    schedule = tender_spec(harness.clock.now())["schedule"]
    schedule["bidding_opens_at"] = format_time(harness.clock.now() - timedelta(seconds=1))
    tender_id = await harness.tender(host, schedule=schedule)
    await harness.post_ok(f"/api/tenders/{tender_id}/publish", {}, host)
    assert await harness.node.scheduler.tick() == 1
    opened = (await harness.node.store.read(tender_id))[-1]
    assert (opened.type, opened.actor_role, opened.actor_id) == (
        "tender.bidding_opened",
        "node",
        harness.node.id,
    )
    assert await harness.node.scheduler.tick() == 0


async def test_a_cancelled_draft_stays_internal(harness: Harness) -> None:
    host, bidder = await harness.person(Role.HOST), await harness.person(Role.BIDDER)
    tender_id = await harness.tender(host, title="Secret draft title")
    await harness.post_ok(f"/api/tenders/{tender_id}/cancel", {"reason": "withdrawn"}, host)
    assert (await harness.call("GET", f"/api/tenders/{tender_id}", bidder))[0] == 404
    assert (await harness.call("GET", "/api/tenders", bidder))[1] == {"tenders": []}
    assert (await harness.call("GET", f"/api/tenders/{tender_id}/events", bidder))[0] == 404
    records = await harness.node.store.read(tender_id)
    cancelled = next(r for r in records if r.type == "tender.cancelled")
    assert set(cancelled.visibility) == {"host", "supervisor"}
    assert (await harness.call("GET", f"/api/tenders/{tender_id}", host))[1]["state"] == "cancelled"


async def test_a_cancelled_published_tender_stays_public(harness: Harness) -> None:
    host, bidder = await harness.person(Role.HOST), await harness.person(Role.BIDDER)
    tender_id = await harness.tender(host)
    await harness.post_ok(f"/api/tenders/{tender_id}/publish", {}, host)
    await harness.post_ok(f"/api/tenders/{tender_id}/cancel", {"reason": "re-tender"}, host)
    status, body = await harness.call("GET", f"/api/tenders/{tender_id}", bidder)
    assert (status, body["state"]) == (200, "cancelled")
    assert "bidder" in (await harness.node.store.read(tender_id))[-1].visibility


async def test_a_deadline_beyond_the_calendar_is_400(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    spec = tender_spec(harness.clock.now())
    spec["schedule"]["deadline"] = "9999-12-31T23:59:59-01:00"
    status, body = await harness.call("POST", "/api/tenders", host, spec)
    assert (status, body["error"]["problems"][0]["path"]) == (400, "schedule.deadline")


async def test_event_pages_say_how_far_they_read(harness: Harness) -> None:
    host, bidder = await harness.person(Role.HOST), await harness.person(Role.BIDDER)
    tender_id = await harness.tender(host)
    await harness.post_ok(f"/api/tenders/{tender_id}/publish", {}, host)
    for _ in range(3):  # events the bidder may not see
        await harness.call("POST", f"/api/tenders/{tender_id}/opening/start", host)
    await harness.post_ok(f"/api/tenders/{tender_id}/cancel", {"reason": "re-tender"}, host)
    path = f"/api/tenders/{tender_id}/events"  # 1-6: created, published, key, 2 shares, STH
    page = (await harness.call("GET", f"{path}?after_seq=6&limit=3", bidder))[1]
    assert page == {"events": [], "next_after_seq": 9, "more": True}
    page = (await harness.call("GET", f"{path}?after_seq=9&limit=3", bidder))[1]
    assert [e["event"]["type"] for e in page["events"]] == ["tender.cancelled", "audit.tree_head"]
    assert (page["next_after_seq"], page["more"]) == (11, False)


async def test_refusals_are_recorded_up_to_a_limit_then_throttled(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    app = create_app(replace(settings, max_refusals_per_minute=3), clock=clock, schedule=False)
    harness = Harness(await aiohttp_client(app), clock)
    host, visitor = await harness.person(Role.HOST), await harness.person(Role.PUBLIC)
    tender_id = await harness.tender(host)
    await harness.post_ok(f"/api/tenders/{tender_id}/publish", {}, host)
    statuses = [
        (await harness.call("POST", f"/api/tenders/{tender_id}/publish", visitor))[0]
        for _ in range(6)
    ]
    assert statuses == [403, 403, 403, 429, 429, 429]
    types = [r.type for r in await harness.node.store.read(tender_id)]
    assert types.count("access.denied") == 3
    assert types.count("access.throttled") == 1
    clock.advance(60)
    await harness.login(visitor)
    assert (await harness.call("POST", f"/api/tenders/{tender_id}/publish", visitor))[0] == 403


@pytest.mark.parametrize(
    ("path", "body", "stream"),
    [
        (
            "/api/admin/participants",
            {"role": "expert", "name": "x", "public_key": "ed25519:AAAA"},
            None,
        ),
        ("/cancel", {"reason": 42}, "tender"),
    ],
)
async def test_every_invalid_body_is_refused_on_record(
    harness: Harness, path: str, body: dict[str, object], stream: str | None
) -> None:
    admin, host = await harness.person(Role.ADMIN), await harness.person(Role.HOST)
    tender_id = await harness.tender(host)
    actor, url = (admin, path) if stream is None else (host, f"/api/tenders/{tender_id}{path}")
    status, reply = await harness.call("POST", url, actor, body)
    assert (status, reply["error"]["code"]) == (400, "invalid_request")
    log = "system" if stream is None else tender_id
    rejected = (await harness.node.store.read(log))[-1]
    assert (rejected.type, rejected.payload["rule"], rejected.actor_id) == (
        "command.rejected",
        "InvalidFields",
        actor.id,
    )
