"""Challenge-response login, tokens, and what happens to bad credentials."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from crypto import SigningKey, b64url_decode, b64url_encode, canonical_json, sign
from server.app import create_app
from server.domain.access import Role
from server.protocol import answer_challenge
from server.protocol.times import format_time
from tests.conftest import AiohttpClient, Harness, ManualClock, Person

if TYPE_CHECKING:
    from server.config import Settings


async def answer(
    harness: Harness, person: Person, *, key: SigningKey | None = None, skew: float = 0
) -> tuple[int, dict[str, Any]]:
    challenge = await harness.post_ok("/api/auth/challenge", {"participant": person.id})
    harness.clock.advance(skew)
    client_time = format_time(harness.clock.now())
    harness.clock.advance(-skew)
    body = answer_challenge(challenge, key or person.key, client_time)
    return await harness.call("POST", "/api/auth/login", body=body)


def now(harness: Harness) -> str:
    return format_time(harness.clock.now())


async def test_login_returns_a_token_bound_to_identity_role_and_scopes(harness: Harness) -> None:
    bidder = await harness.enroll(Role.BIDDER)
    status, body = await answer(harness, bidder)
    assert status == 200
    assert body["participant"] == bidder.id
    assert body["role"] == "bidder"
    assert body["scopes"] == ["*"]
    assert body["expires_at"] == "2026-11-21T09:15:00.000000Z"
    claims = harness.node.auth.verify(str(body["token"]))
    assert (claims.participant, claims.role) == (bidder.id, Role.BIDDER)


async def test_experts_get_no_tender_scopes_until_drawn(harness: Harness) -> None:
    status, body = await answer(harness, await harness.enroll(Role.EXPERT))
    assert status == 200
    assert body["scopes"] == []


async def test_logins_are_recorded_in_the_system_log(harness: Harness) -> None:
    bidder = await harness.person(Role.BIDDER)
    records = await harness.node.store.read("system")
    login = [r for r in records if r.type == "participant.logged_in"]
    assert login[-1].actor_id == bidder.id
    assert login[-1].address == "127.0.0.1"


async def test_a_signature_by_another_key_is_refused(harness: Harness) -> None:
    bidder = await harness.enroll(Role.BIDDER)
    status, body = await answer(harness, bidder, key=SigningKey.generate())
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("skew", [31.0, -31.0])
async def test_clock_skew_beyond_the_bound_is_refused(harness: Harness, skew: float) -> None:
    status, body = await answer(harness, await harness.enroll(Role.BIDDER), skew=skew)
    assert status == 401
    assert body["error"]["code"] == "clock_skew"
    assert "31 s away" in body["error"]["message"]


async def test_skew_within_the_bound_is_fine(harness: Harness) -> None:
    status, _ = await answer(harness, await harness.enroll(Role.BIDDER), skew=29.0)
    assert status == 200


async def test_a_challenge_is_used_once(harness: Harness) -> None:
    bidder = await harness.enroll(Role.BIDDER)
    challenge = await harness.post_ok("/api/auth/challenge", {"participant": bidder.id})
    body = answer_challenge(challenge, bidder.key, now(harness))
    assert (await harness.call("POST", "/api/auth/login", body=body))[0] == 200
    assert (await harness.call("POST", "/api/auth/login", body=body))[0] == 401


async def test_an_expired_challenge_is_refused(harness: Harness) -> None:
    bidder = await harness.enroll(Role.BIDDER)
    challenge = await harness.post_ok("/api/auth/challenge", {"participant": bidder.id})
    harness.clock.advance(61)
    body = answer_challenge(challenge, bidder.key, now(harness))
    assert (await harness.call("POST", "/api/auth/login", body=body))[0] == 401


async def test_a_challenge_for_someone_else_is_refused(harness: Harness) -> None:
    alice, mallory = await harness.enroll(Role.BIDDER), await harness.enroll(Role.BIDDER)
    challenge = await harness.post_ok("/api/auth/challenge", {"participant": alice.id})
    forged = dict(challenge, participant=mallory.id)  # Mallory answers Alice's challenge
    body = answer_challenge(forged, mallory.key, now(harness))
    assert (await harness.call("POST", "/api/auth/login", body=body))[0] == 401


async def test_unknown_participants_get_a_challenge_but_cannot_log_in(harness: Harness) -> None:
    ghost = Person(replace((await harness.enroll(Role.BIDDER)).participant, id="p-000000000000"),
                   SigningKey.generate())  # fmt: skip
    status, _ = await answer(harness, ghost)
    assert status == 401


async def test_malformed_participant_ids_are_refused(harness: Harness) -> None:
    status, body = await harness.call("POST", "/api/auth/challenge", body={"participant": "root"})
    assert status == 401
    assert "p-xxxxxxxx" in body["error"]["message"]


async def test_past_its_cap_an_address_gets_429_and_no_challenge_is_dropped(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    app = create_app(replace(settings, max_challenges_per_address=2), clock=clock, schedule=False)
    harness = Harness(await aiohttp_client(app), clock)
    bidder = await harness.enroll(Role.BIDDER)
    oldest, newest = [
        await harness.post_ok("/api/auth/challenge", {"participant": bidder.id}) for _ in range(2)
    ]
    response = await harness.client.post("/api/auth/challenge", json={"participant": bidder.id})
    assert (response.status, response.headers["Retry-After"]) == (429, "60")
    assert (await response.json())["error"]["code"] == "too_many_requests"
    for challenge in (oldest, newest):
        body = answer_challenge(challenge, bidder.key, now(harness))
        assert (await harness.call("POST", "/api/auth/login", body=body))[0] == 200


async def test_failures_look_the_same_for_known_and_unknown_ids(harness: Harness) -> None:
    known = await harness.enroll(Role.BIDDER)
    answers = []
    for participant in (known.id, "p-000000000000"):
        challenge = await harness.post_ok("/api/auth/challenge", {"participant": participant})
        body = {
            "challenge": challenge["challenge"],
            "participant": participant,
            "time": "2020-01-01T00:00:00Z",  # far off, but the signature is checked first
            "signature": b64url_encode(b"\x00" * 64),
        }
        answers.append(await harness.call("POST", "/api/auth/login", body=body))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401
    assert answers[0][1]["error"]["code"] == "unauthorized"


async def test_absurd_times_are_refused_not_crashed_on(harness: Harness) -> None:
    bidder = await harness.enroll(Role.BIDDER)
    challenge = await harness.post_ok("/api/auth/challenge", {"participant": bidder.id})
    body = answer_challenge(challenge, bidder.key, "9999-12-31T23:59:59-23:59")
    status, reply = await harness.call("POST", "/api/auth/login", body=body)
    assert (status, reply["error"]["code"]) == (401, "unauthorized")


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic dXNlcg==", "Bearer v1.garbage", "Bearer v1.a.b.c", "Bearer x"],
)
async def test_bad_tokens_get_401_with_a_challenge_header(harness: Harness, header: str) -> None:
    response = await harness.client.get("/api/tenders", headers={"Authorization": header})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await response.json())["error"]["code"] == "unauthorized"


async def test_expired_tokens_get_401(harness: Harness) -> None:
    bidder = await harness.person(Role.BIDDER)
    harness.clock.advance(15 * 60)
    status, body = await harness.call("GET", "/api/tenders", bidder)
    assert status == 401
    assert "expired" in body["error"]["message"]


async def test_a_token_signed_by_another_key_is_refused(harness: Harness) -> None:
    bidder = await harness.person(Role.BIDDER)
    body, _ = bidder.token[3:].split(".")
    forged = f"v1.{body}.{b64url_encode(sign(SigningKey.generate(), 'token', {}))}"
    response = await harness.client.get(
        "/api/tenders", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status == 401


async def test_a_token_of_another_node_is_refused(harness: Harness) -> None:
    bidder = await harness.person(Role.BIDDER)
    claims = harness.node.auth.verify(bidder.token)
    harness.node.auth._verified.clear()
    other = harness.node.auth.issue(replace(claims, node="n-elsewhere"))
    response = await harness.client.get(
        "/api/tenders", headers={"Authorization": f"Bearer {other}"}
    )
    assert response.status == 401
    assert "another node" in (await response.json())["error"]["message"]


async def test_a_re_encoded_token_is_refused(harness: Harness) -> None:
    bidder = await harness.person(Role.BIDDER)
    body, signature = bidder.token[3:].split(".")
    spaced = b64url_encode(b64url_decode(body).replace(b",", b", "))
    for token in (f"v1.{spaced}.{signature}", f"{bidder.token}."):
        headers = {"Authorization": f"Bearer {token}"}
        assert (await harness.client.get("/api/tenders", headers=headers)).status == 401


async def test_a_token_of_an_unknown_version_is_refused(harness: Harness) -> None:
    bidder = await harness.person(Role.BIDDER)
    claims = json.loads(b64url_decode(bidder.token[3:].split(".")[0]))
    claims["v"] = 2
    signature = b64url_encode(sign(harness.node.key, "token", claims))  # the node's own key
    forged = f"v1.{b64url_encode(canonical_json(claims))}.{signature}"
    headers = {"Authorization": f"Bearer {forged}"}
    assert (await harness.client.get("/api/tenders", headers=headers)).status == 401
