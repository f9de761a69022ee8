"""A tender with bidders who really seal and submit, over real sockets, for opening tests."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from crypto import EncryptionPublicKey
from evaluator_client import bidding
from evaluator_client.session import Session
from server.domain.access import Role
from server.protocol.times import format_time
from tests.conftest import Harness, Person, tender_spec

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class Bidder:
    person: Person
    session: Session
    sealed: Path
    receipt: dict[str, Any] = field(default_factory=dict)
    signature: str = ""

    @property
    def id(self) -> str:
        return self.person.id


@dataclass
class World:
    harness: Harness
    host: Person
    tender: str
    bidders: list[Bidder]
    opening_key: EncryptionPublicKey
    tmp: Path
    deadline: datetime
    supervisor: Person | None = None
    sessions: list[Session] = field(default_factory=list)

    async def close(self) -> None:
        for session in [*(b.session for b in self.bidders), *self.sessions]:
            await session.close()

    async def login(self, person: Person) -> Session:
        base = str(self.harness.client.make_url("")).rstrip("/")
        return await Session.login(base, person.id, person.key, clock=self.harness.clock.now)

    async def seal(
        self, bidder: Person, name: str, price: str = "1000000.00", **options: Any
    ) -> Path:
        """Seal a bid the way a bidder's tool does (off the event loop: it is file work)."""
        return await asyncio.to_thread(self._seal, bidder, name, price, **options)

    def _seal(self, bidder: Person, name: str, price: str, **options: Any) -> Path:
        archive = self.tmp / f"{name}.zip"
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("technical.txt", f"Technical proposal of {name}\n" * 50)
            for file, data in options.get("files", {}).items():  # more documents, deflated
                zipped.writestr(file, data, compress_type=zipfile.ZIP_DEFLATED)
            if options.get("padding"):  # incompressible bytes, for bids of several chunks
                zipped.writestr("drawings.bin", os.urandom(options["padding"]))
        sheet = {
            "price": price, "duration_days": 180, "quality": "合格 pass",
            "project_manager": f"PM of {name}", "extra": {"warranty_years": "2"},
        }  # fmt: skip
        sheet |= options.get("sheet", {})
        sealed = self.tmp / f"{name}-{price}-{len(list(self.tmp.glob('*.sealed')))}.sealed"
        assert bidder.encryption is not None
        bidding.seal_to_file(
            tender=options.get("tender", self.tender), lot=options.get("lot", "L1"),
            bidder=options.get("as_bidder", bidder.id), sheet=sheet, archive=archive,
            own_key=bidder.encryption.public_key,
            opening_key=options.get("opening_key", self.opening_key),
            out=sealed, chunk_size=64 * 1024,
        )  # fmt: skip
        return sealed

    async def file_key(self, bidder: Bidder) -> bytes:
        assert bidder.person.encryption is not None
        return await asyncio.to_thread(bidding.unwrap, bidder.sealed, bidder.person.encryption)

    async def upload(
        self, bidder: Bidder, data: bytes, *, sha256: str | None = None, size: int | None = None
    ) -> str:
        """Announce and send `data` as a sealed bid, without completing it; returns the upload."""
        announced = {
            "size": size or len(data),
            "sha256": sha256 or hashlib.sha256(data).hexdigest(),
        }
        path = f"/api/tenders/{self.tender}/lots/L1/uploads"
        upload = str((await bidder.session.post(path, announced))["upload"])
        await bidder.session.put_bytes(f"/api/uploads/{upload}?offset=0", data)
        return upload

    async def submit(self, bidder: Bidder, sealed: Path) -> dict[str, Any]:
        answer = await bidding.submit(bidder.session, self.tender, "L1", sealed)
        bidder.sealed, bidder.receipt, bidder.signature = (
            sealed,
            answer["receipt"],
            answer["signature"],
        )
        return answer

    async def box_events(self) -> list[dict[str, Any]]:
        """The bid box's log as a supervisor reads it."""
        if self.supervisor is None:
            self.supervisor = await self.harness.person(Role.SUPERVISOR, "监督员 supervisor")
        path = f"/api/tenders/{self.tender}/bid-box/events"
        status, page = await self.harness.call("GET", path, self.supervisor)
        assert status == 200, page
        return [item["event"] for item in page["events"]]

    async def advance_to_sign_in(self) -> None:
        """Ten minutes before the deadline: sign-in is open, bidding still is."""
        await self._advance_to(self.deadline - timedelta(minutes=10))

    async def advance_to_deadline(self) -> None:
        await self._advance_to(self.deadline)

    async def _advance_to(self, moment: datetime) -> None:
        self.harness.clock.advance((moment - self.harness.clock.now()).total_seconds())
        for person in (self.host, *(b.person for b in self.bidders)):
            await self.harness.login(person)
        for bidder in self.bidders:
            await bidder.session.renew()
        await self.harness.node.scheduler.tick()


async def build_world(
    harness: Harness, tmp: Path, count: int = 5, *, submit: bool = True, **changes: Any
) -> World:
    """A published tender in bidding, `count` bidders with sealed (and submitted) bids."""
    host = await harness.person(Role.HOST)
    now = harness.clock.now()
    deadline = now + timedelta(days=1)
    schedule = tender_spec(now)["schedule"] | {
        "bidding_opens_at": format_time(now + timedelta(hours=1)),
        "deadline": format_time(deadline),
    }
    tender = await harness.tender(host, schedule=schedule, **changes)
    view = await harness.post_ok(f"/api/tenders/{tender}/publish", {}, host)
    assert view["state"] == "published"
    harness.clock.advance(3600)
    await harness.login(host)
    await harness.node.scheduler.tick()
    opening = await harness.call("GET", f"/api/tenders/{tender}/opening", host)
    world = World(
        harness,
        host,
        tender,
        [],
        EncryptionPublicKey.from_text(opening[1]["opening_key"]),
        tmp,
        deadline,
    )
    for i in range(count):
        person = await harness.person(Role.BIDDER, f"投标人{i + 1} Bidder {i + 1}")
        session = await world.login(person)
        sealed = await world.seal(person, f"bidder{i + 1}", price=f"{1_000_000 + i * 12_345}.00")
        bidder = Bidder(person, session, sealed)
        if submit:
            await world.submit(bidder, sealed)
        world.bidders.append(bidder)
    return world


def archive_of(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))
