"""The public's read-only token (docs/pages.md 3): no key, no enrolment, the role `public`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import aiohttp

from server.domain.access import Role
from tests.server.media.test_hub import published_tender

if TYPE_CHECKING:
    from tests.conftest import Harness


async def visitor_headers(harness: Harness) -> tuple[str, dict[str, str]]:
    granted = await harness.post_ok("/api/auth/visitor")
    assert granted["role"] == "public"
    assert granted["scopes"] == ["*"]
    assert re.fullmatch(r"v-[0-9a-f]{16}", granted["participant"])
    return granted["participant"], {"Authorization": f"Bearer {granted['token']}"}


async def test_a_visitor_reads_what_the_public_may_read_and_nothing_more(
    harness: Harness,
) -> None:
    tender, host = await published_tender(harness)
    draft = await harness.tender(host)
    me, headers = await visitor_headers(harness)
    other, _ = await visitor_headers(harness)
    assert me != other  # every visit is its own

    client = harness.client
    listed = await (await client.get("/api/tenders", headers=headers)).json()
    assert [t["id"] for t in listed["tenders"]] == [tender]  # drafts stay internal
    assert (await client.get(f"/api/tenders/{tender}/opening", headers=headers)).status == 200
    assert (await client.get(f"/api/tenders/{draft}", headers=headers)).status == 404
    for method, path in [
        ("POST", f"/api/tenders/{tender}/opening/sign-in"),
        ("POST", f"/api/tenders/{tender}/publish"),
        ("GET", "/api/admin/participants"),
        ("GET", "/api/presence"),
    ]:
        response = await client.request(method, path, headers=headers, json={})
        assert response.status == 403, path
        assert (await response.json())["error"]["rule"] == "AccessDenied"


async def test_a_visitor_follows_a_public_tender_live(harness: Harness) -> None:
    tender, _host = await published_tender(harness)
    _me, headers = await visitor_headers(harness)
    token = headers["Authorization"].removeprefix("Bearer ")
    async with aiohttp.ClientSession() as session, session.ws_connect(harness.ws_url) as ws:
        await ws.send_json({"v": 1, "type": "auth", "token": token})
        welcome = await ws.receive_json(timeout=5)
        assert (welcome["type"], welcome["role"]) == ("welcome", Role.PUBLIC.value)
        await ws.send_json({"v": 1, "type": "subscribe", "tender": tender, "after_seq": 0})
        kinds = []
        while (message := await ws.receive_json(timeout=5))["type"] != "caught_up":
            kinds.append(message["type"])
        assert kinds[0] == "subscribed"
        assert "event" in kinds
        await ws.send_json({"v": 1, "type": "subscribe", "tender": "system", "id": "s"})
        refused = await ws.receive_json(timeout=5)
        assert (refused["type"], refused["code"]) == ("error", "forbidden")


async def test_visitors_from_one_address_share_one_allowance_of_recorded_refusals(
    harness: Harness,
) -> None:
    """A visitor mints a fresh id with every token, so its refusals also count by address:
    fresh tokens can't buy a fresh allowance to fill the log with."""
    limit = harness.node.settings.max_refusals_per_minute
    statuses = []
    for _ in range(limit + 2):
        _me, headers = await visitor_headers(harness)
        response = await harness.client.get("/api/presence", headers=headers)
        statuses.append(response.status)
    assert statuses == [403] * limit + [429, 429]
    system = await harness.node.store.read("system", 0, 10_000)
    kinds = [r.type for r in system if r.actor_role == "public"]
    assert kinds == ["access.denied"] * limit + ["access.throttled"]
