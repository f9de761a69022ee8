"""Weak Ed25519 keys over HTTP: refused at enrolment, and never a way in at login.

Under the identity point A = 01 00..00, the signature R = 01 00..00, S = 0 verifies for every
message under a cofactorless verifier that accepts small-order points (OpenSSL does): whoever
enrolled such a key could log in, and sign anything, with no private key at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import pytest

from crypto import b64url_encode
from server.domain.access import Role
from server.domain.participants import Enrolment, Registry
from server.protocol import SYSTEM_STREAM
from server.protocol.times import format_time
from server.service.ledger import Origin

if TYPE_CHECKING:
    from tests.conftest import Harness

IDENTITY: Final = (1).to_bytes(32, "little")
FORGED: Final = b64url_encode(IDENTITY + bytes(32))  # R = identity, S = 0
VECTORS: Final = Path(__file__).parents[2] / "crypto" / "vectors" / "ed25519-small-order.json"
WEAK: Final = [bytes.fromhex(v["encoding"]) for v in json.loads(VECTORS.read_text())["points"]]


def enrolment(raw: bytes, name: str = "Shell Co") -> dict[str, Any]:
    return {"role": "bidder", "name": name, "public_key": "ed25519:" + b64url_encode(raw)}


async def forged_login(harness: Harness, participant: str) -> tuple[int, dict[str, Any]]:
    challenge = await harness.post_ok("/api/auth/challenge", {"participant": participant})
    body = {
        "challenge": challenge["challenge"],
        "participant": participant,
        "time": format_time(harness.clock.now()),
        "signature": FORGED,
    }
    return await harness.call("POST", "/api/auth/login", body=body)


@pytest.mark.parametrize("raw", WEAK, ids=[raw.hex()[:8] + ".." + raw.hex()[-4:] for raw in WEAK])
async def test_enrolling_a_weak_key_is_refused_with_a_clear_error(
    harness: Harness, raw: bytes
) -> None:
    admin = await harness.person(Role.ADMIN)
    status, body = await harness.call("POST", "/api/admin/participants", admin, enrolment(raw))
    assert status == 400, body
    assert body["error"]["code"] == "invalid_request"
    [problem] = body["error"]["problems"]
    assert problem["path"] == "public_key"
    assert "weak key" in problem["message"]


async def test_the_identity_key_gives_no_way_in(harness: Harness) -> None:
    """The attack as found: enrol A = identity, then log in with R = identity, S = 0."""
    admin = await harness.person(Role.ADMIN)
    status, body = await harness.call("POST", "/api/admin/participants", admin, enrolment(IDENTITY))
    assert status == 400, body
    assert "small order" in body["error"]["problems"][0]["message"]
    # A node that took the key before this check keeps it on record: the login still fails.
    participant = await enrolled_before_the_check(harness, IDENTITY)
    status, body = await forged_login(harness, participant)
    assert status == 401, body
    assert body["error"]["code"] == "unauthorized"
    records = await harness.node.store.read(SYSTEM_STREAM)
    logins = [r for r in records if r.type == "participant.logged_in"]
    assert [r.actor_id for r in logins] == [admin.id]


async def enrolled_before_the_check(harness: Harness, raw: bytes) -> str:
    """Append an enrolment straight to the system log, as an older node would have."""
    record = Enrolment.parse(enrolment(raw))
    await harness.node.ledger.execute(
        SYSTEM_STREAM,
        Origin("console", "admin", "local"),
        lambda registry: cast("Registry", registry).enroll("p-weak00000001", record),
    )
    return "p-weak00000001"


@pytest.mark.parametrize("raw", WEAK[:8], ids=[raw.hex()[:8] for raw in WEAK[:8]])
async def test_any_weak_key_on_record_fails_login_with_the_normal_401(
    harness: Harness, raw: bytes
) -> None:
    participant = await enrolled_before_the_check(harness, raw)
    status, body = await forged_login(harness, participant)
    assert status == 401, body
    assert body["error"]["code"] == "unauthorized"
