"""The opening's message box over real sockets: on record, and read only by whom it concerns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from server.domain.access import Role
from tests.server.transport.opening_world import World, build_world

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.conftest import Harness, Person


@pytest.fixture
async def world(harness: Harness, tmp_path: Path) -> AsyncIterator[World]:
    built = await build_world(harness, tmp_path, count=3)
    yield built
    await built.close()


async def messages(world: World, person: Person) -> list[dict[str, Any]]:
    """The message events `person` reads in the tender's log."""
    await world.harness.login(person)
    path = f"/api/tenders/{world.tender}/events?after_seq=0&limit=1000"
    status, page = await world.harness.call("GET", path, person)
    assert status == 200, page
    return [
        item["event"]["payload"]
        for item in page["events"]
        if item["event"]["type"] == "opening.message_sent"
    ]


async def test_messages_between_the_host_and_bidders(world: World) -> None:
    harness, tender, host = world.harness, world.tender, world.host
    first, second, third = (b.person for b in world.bidders)
    path = f"/api/tenders/{tender}/opening/messages"
    await world.advance_to_sign_in()
    # Before the deadline who bid is secret: no message, either way (E-Measures 21).
    assert await harness.refused("POST", path, first, {"text": "在吗"}) == (422, "MessagesClosed")
    refused = await harness.refused("POST", path, host, {"text": "hi", "to": first.id})
    assert refused == (422, "MessagesClosed")
    await world.bidders[0].session.post(f"/api/tenders/{tender}/opening/sign-in")
    await world.advance_to_deadline()
    status, sent = await harness.call("POST", path, first, {"text": "<b>解密</b>失败怎么办"})
    assert status == 201, sent
    assert sent["message"]["text"] == "<b>解密</b>失败怎么办"
    assert (sent["message"]["sender"], sent["message"]["to"]) == (first.id, [])
    await harness.post_ok(path, {"text": "请稍候", "to": first.id}, host)
    await harness.post_ok(path, {"text": "五分钟后开标"}, host)  # to every signed-in bidder
    host_reads = [m["text"] for m in await messages(world, host)]
    assert host_reads == ["<b>解密</b>失败怎么办", "请稍候", "五分钟后开标"]
    assert [m["text"] for m in await messages(world, first)] == host_reads
    supervisor = await harness.person(Role.SUPERVISOR, "监督员 supervisor")
    assert [m["text"] for m in await messages(world, supervisor)] == host_reads
    assert await messages(world, second) == []  # not signed in: no broadcast either
    public = await harness.person(Role.PUBLIC, "visitor")
    assert await messages(world, public) == []
    # Refusals are typed.
    refused = await harness.refused("POST", path, second, {"text": "x", "to": third.id})
    assert refused == (422, "UnknownRecipient")
    assert await harness.refused("POST", path, host, {"text": "x", "to": "p-nobody"}) == (
        422,
        "UnknownRecipient",
    )
    assert await harness.refused("POST", path, second, {"text": "长" * 2001}) == (
        400,
        "invalid_request",
    )
    assert await harness.refused("POST", path, second, {"text": "   "}) == (400, "invalid_request")
    custodian = harness.custodians[0]
    await harness.login(custodian)
    assert await harness.refused("POST", path, custodian, {"text": "x"}) == (403, "AccessDenied")
