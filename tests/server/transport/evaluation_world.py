"""A closed opening, an expert pool in two regions, and a committee that acts over real sockets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evaluator_client import bidding
from evaluator_client.room import RoomClient
from server.domain.access import Role
from tests.server.transport.opening_world import World, build_world

if TYPE_CHECKING:
    from pathlib import Path

    from evaluator_client.session import Session
    from tests.conftest import Harness, Person

MAIN, SUB = "广州", "深圳"
BUILDING, COST = "建筑工程", "工程造价"
# Who sits where: specialty, region, and a tie to an organisation (a bidder's name, or none).
POOL: list[tuple[str, str, str]] = [
    (BUILDING, MAIN, ""), (BUILDING, MAIN, ""), (BUILDING, MAIN, ""), (BUILDING, SUB, ""),
    (BUILDING, SUB, ""), (COST, MAIN, ""), (COST, SUB, ""), (COST, SUB, ""),
    (BUILDING, MAIN, "投标人1 Bidder 1"),  # works for a bidder: never drawn
    (COST, MAIN, "City Urban Management Bureau"),  # works for the tenderer: never drawn
]  # fmt: skip


def draw_request(*, main_address: str | None = "127.0.0.1", standby: int = 2) -> dict[str, Any]:
    """3 building and 2 cost experts; main venue in one region, a secondary one in another."""
    return {
        "quotas": [{"specialty": BUILDING, "count": 3}, {"specialty": COST, "count": 2}],
        "sites": [
            {"site": "main", "region": MAIN,
             "workstations": [{"id": f"M-0{i}", "address": main_address} for i in range(1, 6)]},
            {"site": "sub-1", "region": SUB,
             "workstations": [{"id": f"S-0{i}", "address": None} for i in range(1, 6)]},
        ],
        "standby": standby,
    }  # fmt: skip


@dataclass
class Evaluation:
    world: World
    experts: dict[str, Person]
    supervisor: Person
    rooms: dict[str, RoomClient] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)

    @property
    def harness(self) -> Harness:
        return self.world.harness

    @property
    def tender(self) -> str:
        return self.world.tender

    @property
    def path(self) -> str:
        return f"/api/tenders/{self.tender}"

    async def close(self) -> None:
        for room in self.rooms.values():
            await room.close()
        for session in self.sessions:
            await session.close()
        await self.world.close()

    async def draw(self, request: dict[str, Any] | None = None) -> dict[str, Any]:
        host = await self.harness.login(self.world.host)
        await self.harness.post_ok(f"{self.path}/lots/L1/draw", request or draw_request(), host)
        return await self.harness.post_ok(f"{self.path}/lots/L1/draw/reveal", {}, host)

    async def start(self) -> dict[str, Any]:
        host = await self.harness.login(self.world.host)
        return await self.harness.post_ok(f"{self.path}/evaluation/start", {}, host)

    async def view(self) -> dict[str, Any]:
        """The room as the supervisor sees it (everything, names included)."""
        await self.harness.login(self.supervisor)
        status, view = await self.harness.call("GET", f"{self.path}/lots/L1/room", self.supervisor)
        assert status == 200, view
        return view

    async def members(self) -> list[str]:
        return [m["expert"] for m in (await self.view())["members"]]

    async def session(self, person: Person) -> Session:
        session = await self.world.login(person)
        self.sessions.append(session)
        return session

    async def join(self, expert: str) -> RoomClient:
        """The expert logs in at its workstation and opens its room."""
        session = await self.session(self.experts[expert])
        seats = await RoomClient.seats(session)
        assert [s["lot"] for s in seats] == ["L1"], seats
        room = RoomClient(session, self.tender, seats[0])
        await room.__aenter__()
        self.rooms[expert] = room
        return room

    async def seated(self) -> list[RoomClient]:
        """Every current member, joined, checked in and pledged (no conflicts)."""
        rooms = []
        for member in (await self.view())["members"]:
            room = self.rooms.get(member["expert"]) or await self.join(member["expert"])
            if not member["checked_in"]:
                await room.check_in()
            if not member["pledged"]:
                await room.pledge()
            rooms.append(room)
        return rooms

    async def elect(self, rooms: list[RoomClient], leader: str) -> None:
        for room in rooms:
            await room.wait_stage("election")
            await room.vote(leader)
        for room in rooms:
            await room.wait_stage("compliance")

    async def elect_again(self, rooms: list[RoomClient], leader: str) -> None:
        """A later election round (the leader left): everyone votes, the room carries on."""
        for room in rooms:
            await room.vote(leader)

    async def comply(self, rooms: list[RoomClient], failing: str | None = None) -> None:
        """Every bid passes, except that most members fail `failing` on C1."""
        bidders = [b["bidder"] for b in (await self.view())["bids"]]
        for i, room in enumerate(rooms):
            results = {
                b: {"C1": (b != failing or i == 0, "" if b != failing or i == 0 else "未盖章"),
                    "C2": (True, "")}
                for b in bidders
            }  # fmt: skip
            await room.compliance(results)
        for room in rooms:
            await room.wait_stage("scoring", 1)


async def closed_opening(harness: Harness, tmp: Path, world: World | None = None) -> World:
    """Five bids submitted (or those of `world`), all decrypted, the record confirmed and the
    opening closed."""
    world = world or await build_world(harness, tmp)
    await world.advance_to_sign_in()
    for bidder in world.bidders:
        await bidder.session.post(f"/api/tenders/{world.tender}/opening/sign-in")
    await world.advance_to_deadline()
    await harness.post_ok(f"/api/tenders/{world.tender}/opening/start", {}, world.host)
    for bidder in world.bidders:
        await bidding.decrypt(bidder.session, world.tender, "L1", await world.file_key(bidder))
    await harness.post_ok(f"/api/tenders/{world.tender}/opening/record", {}, world.host)
    for bidder in world.bidders:
        await bidding.confirm(bidder.session, world.tender)
    await harness.login(world.host)
    closed = await harness.post_ok(f"/api/tenders/{world.tender}/opening/close", {}, world.host)
    assert closed["phase"] == "closed", closed
    return world


async def build_evaluation(harness: Harness, tmp: Path, world: World | None = None) -> Evaluation:
    world = await closed_opening(harness, tmp, world)
    experts = {}
    for i, (specialty, region, employer) in enumerate(POOL, start=1):
        attributes = {
            "specialty": specialty,
            "region": region,
            "employer": employer or f"设计院{i}",
        }
        person = await harness.enroll(Role.EXPERT, f"专家{i} Expert {i}", attributes)
        experts[person.id] = person
    supervisor = await harness.person(Role.SUPERVISOR, "监督员 Supervisor")
    return Evaluation(world, experts, supervisor)
