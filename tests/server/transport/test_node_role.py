"""Another node of the deployment as a participant: enrolled under its node id, it reads every
stream in full and nothing else, and the tokens it issues are accepted here (docs/sites.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from crypto import SigningKey
from server.domain.access import Role
from server.errors import Unauthorized
from server.service.auth import Authenticator, Claims
from server.service.node import CONSOLE
from server.service.node_keys import node_id
from tests.conftest import Harness, Person


async def enroll_node(harness: Harness, key: SigningKey | None = None) -> Person:
    key = key or SigningKey.generate()
    enrolment = {"role": "node", "name": "secondary venue", "public_key": key.verify_key.to_text()}
    return Person(await harness.node.participants.enroll(CONSOLE, enrolment), key)


async def test_a_node_is_enrolled_under_its_node_id(harness: Harness) -> None:
    key = SigningKey.generate()
    peer = await enroll_node(harness, key)
    assert peer.id == node_id(key.verify_key)
    assert len(peer.id) == len("n-") + 16
    assert peer.participant.role is Role.NODE


async def test_a_node_key_is_enrolled_once(harness: Harness) -> None:
    key = SigningKey.generate()
    await enroll_node(harness, key)
    status, document = await harness.call(
        "POST",
        "/api/admin/participants",
        await harness.person(Role.ADMIN),
        {"role": "node", "name": "again", "public_key": key.verify_key.to_text()},
    )
    assert status == 409, document


async def test_a_node_reads_every_stream_in_full(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    tender = await harness.tender(host)  # a draft: only host and supervisors see it
    peer = await harness.login(await enroll_node(harness))
    for stream, path in [
        ("system", "/api/system/events"),
        (tender, f"/api/tenders/{tender}/events"),
        (f"{tender}-box", f"/api/tenders/{tender}/bid-box/events"),
    ]:
        status, page = await harness.call("GET", path + "?limit=1000", peer)
        assert status == 200, page
        stored = await harness.node.store.read(stream)
        assert [e["hash"] for e in page["events"]] == [r.hash for r in stored]
    status, listing = await harness.call("GET", "/api/streams", peer)
    assert status == 200
    assert {"system", tender} <= set(listing["streams"])


async def test_a_node_does_nothing_else(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    tender = await harness.tender(host)
    peer = await harness.login(await enroll_node(harness))
    for method, path in [
        ("GET", "/api/tenders"),
        ("GET", f"/api/tenders/{tender}"),
        ("POST", f"/api/tenders/{tender}/publish"),
        ("GET", "/api/admin/participants"),
        ("GET", "/api/overview"),
    ]:
        assert await harness.refused(method, path, peer) == (403, "AccessDenied"), path


async def test_only_nodes_list_the_streams(harness: Harness) -> None:
    supervisor = await harness.person(Role.SUPERVISOR)
    assert await harness.refused("GET", "/api/streams", supervisor) == (403, "AccessDenied")


def token_from(harness: Harness, key: SigningKey, **changes: object) -> str:
    """A token another node (holding `key`) issues to one of its own clients."""
    now = harness.clock.now()
    issuer = Authenticator(harness.node.settings, harness.clock, key, node_id(key.verify_key))
    claims = Claims(
        "p-elsewhere1", Role.BIDDER, frozenset({"*"}), now, now + timedelta(minutes=15),
        issuer.node_id,
    )  # fmt: skip
    return issuer.issue(replace(claims, **changes))  # type: ignore[arg-type]


async def test_a_token_of_an_enrolled_node_is_accepted(harness: Harness) -> None:
    key = SigningKey.generate()
    await enroll_node(harness, key)
    token = token_from(harness, key)
    response = await harness.client.get(
        "/api/tenders", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200
    claims = harness.node.auth.verify(token)
    assert (claims.participant, claims.role, claims.node) == (
        "p-elsewhere1",
        Role.BIDDER,
        node_id(key.verify_key),
    )


async def test_a_token_of_an_unenrolled_node_is_refused(harness: Harness) -> None:
    token = token_from(harness, SigningKey.generate())
    response = await harness.client.get(
        "/api/tenders", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 401
    assert "another node" in (await response.json())["error"]["message"]


async def test_a_token_naming_an_enrolled_node_but_signed_by_another_key_is_refused(
    harness: Harness,
) -> None:
    enrolled = SigningKey.generate()
    await enroll_node(harness, enrolled)
    forged = token_from(harness, SigningKey.generate(), node=node_id(enrolled.verify_key))
    response = await harness.client.get(
        "/api/tenders", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status == 401


async def test_a_token_of_a_person_posing_as_a_node_is_refused(harness: Harness) -> None:
    # Only participants of the role node sign tokens: a bidder's key names no node.
    bidder = await harness.enroll(Role.BIDDER)
    token = token_from(harness, bidder.key, node=bidder.id)
    response = await harness.client.get(
        "/api/tenders", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 401


async def test_a_peer_token_expires_like_any_other(harness: Harness) -> None:
    key = SigningKey.generate()
    await enroll_node(harness, key)
    token = token_from(harness, key)
    harness.node.auth.verify(token)  # cached now
    harness.clock.advance(15 * 60)
    response = await harness.client.get(
        "/api/tenders", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 401


async def test_without_a_peer_lookup_only_its_own_tokens_are_taken(harness: Harness) -> None:
    key = SigningKey.generate()
    alone = Authenticator(harness.node.settings, harness.clock, key, node_id(key.verify_key))
    with pytest.raises(Unauthorized, match="another node"):
        alone.verify(token_from(harness, SigningKey.generate()))
