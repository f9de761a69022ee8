"""Shared fixtures: settings on a temporary directory, a manual clock, a running node."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest
from aiohttp.test_utils import TestClient
from blockbuster import BlockBuster, blockbuster_ctx

from crypto import EncryptionKey, SigningKey
from server.app import create_app
from server.config import Settings
from server.demo.scoring import sample_scoring
from server.domain.access import Role
from server.protocol import answer_challenge
from server.protocol.times import format_time
from server.service.node import CONSOLE, Node
from server.transport.app_keys import node_key

if TYPE_CHECKING:
    from pathlib import Path

    from server.domain.participants import Participant

pytest_plugins = ["tests.redis_server", "tests.postgres_server"]

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


AiohttpClient = Callable[..., Awaitable[TestClient[Any, Any]]]


class ManualClock:
    """A clock that moves only when a test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fail any test that blocks the event loop with synchronous I/O."""
    with blockbuster_ctx(["server", "evaluator_client", "recordings", "crypto"]) as detector:
        # Closing an aiortc peer connection joins its receivers' decoder threads: aiortc's
        # own short wait (the thread ends at once, its queue told to stop), not ours.
        detector.functions["threading.Lock.acquire"].can_block_in(
            "aiortc/rtcrtpreceiver.py", "__stop_decoder"
        )
        yield detector


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "node", port=0)


@dataclass
class Person:
    """An enrolled participant with its keys, and a token once logged in."""

    participant: Participant
    key: SigningKey
    token: str = ""
    encryption: EncryptionKey | None = None

    @property
    def id(self) -> str:
        return self.participant.id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Harness:
    """A node behind a real socket, with helpers to enrol and log people in."""

    client: TestClient[Any, Any]
    clock: ManualClock
    custodians: list[Person] = field(default_factory=list)

    @property
    def node(self) -> Node:
        return cast("Node", self.client.app[node_key])

    @property
    def ws_url(self) -> str:
        return str(self.client.make_url("/ws")).replace("http", "ws", 1)

    async def enroll(
        self, role: Role, name: str = "someone", attributes: dict[str, str] | None = None
    ) -> Person:
        key, encryption = SigningKey.generate(), EncryptionKey.generate()
        enrolment: dict[str, Any] = {
            "role": role.value,
            "name": name,
            "public_key": key.verify_key.to_text(),
            "encryption_key": encryption.public_key.to_text(),
        }
        if attributes:
            enrolment["attributes"] = attributes
        participant = await self.node.participants.enroll(CONSOLE, enrolment)
        return Person(participant, key, encryption=encryption)

    async def login(self, person: Person) -> Person:
        challenge = await self.post_ok("/api/auth/challenge", {"participant": person.id})
        answer = answer_challenge(challenge, person.key, format_time(self.clock.now()))
        person.token = (await self.post_ok("/api/auth/login", answer))["token"]
        return person

    async def person(self, role: Role, name: str = "someone") -> Person:
        return await self.login(await self.enroll(role, name))

    async def post_ok(
        self, path: str, body: object = None, person: Person | None = None
    ) -> dict[str, Any]:
        headers = person.headers if person else {}
        response = await self.client.post(path, json=body or {}, headers=headers)
        document: dict[str, Any] = await response.json()
        assert response.status < 300, document
        return document

    async def call(
        self, method: str, path: str, person: Person | None = None, body: object = None
    ) -> tuple[int, dict[str, Any]]:
        headers = person.headers if person else {}
        response = await self.client.request(method, path, json=body, headers=headers)
        return response.status, await response.json()

    async def refused(
        self, method: str, path: str, person: Person | None = None, body: object = None
    ) -> tuple[int, str]:
        """The status and rule of a request the node must refuse."""
        status, document = await self.call(method, path, person, body)
        assert status >= 400, document
        return status, str(document["error"].get("rule", document["error"]["code"]))

    async def tender(self, host: Person, **changes: Any) -> str:
        """A draft tender; its opening key goes to two custodians enrolled on first use."""
        if not self.custodians:
            self.custodians = [await self.person(Role.CUSTODIAN, f"custodian {i}") for i in (1, 2)]
        opening = changes.pop("opening", {})  # changes to the opening section, merged
        spec = tender_spec(self.clock.now(), custodians=[c.id for c in self.custodians], **changes)
        spec["opening"] |= opening
        created = await self.post_ok("/api/tenders", spec, host)
        return str(created["id"])


def tender_spec(
    now: datetime, custodians: list[str] | None = None, **changes: Any
) -> dict[str, Any]:
    """A valid tender: bidding opens in an hour, the deadline is a day later."""
    spec: dict[str, Any] = {
        "title": "Street lighting renovation",
        "tenderer": "City Urban Management Bureau",
        "lots": [{"id": "L1", "name": "Lot 1"}],
        "schedule": {
            "bidding_opens_at": format_time(now + timedelta(hours=1)),
            "deadline": format_time(now + timedelta(days=1)),
            "sign_in_lead_minutes": 30,
            "decryption_window_minutes": 30,
        },
        "committee": {"size": 5, "large": False},
        "min_bids": 3,
        "scoring": sample_scoring(),
        "opening": {
            "custodians": custodians or ["p-custodian01", "p-custodian02"],
            "threshold": 2,
            "wrap_bids": True,
            "confirmation_window_minutes": 15,
            "sheet_fields": [{"name": "warranty_years", "label": "质保期(年) warranty"}],
        },
    }
    spec.update(changes)
    return spec


@pytest.fixture
async def harness(aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock) -> Harness:
    client = await aiohttp_client(create_app(settings, clock=clock, schedule=False))
    return Harness(client, clock)
