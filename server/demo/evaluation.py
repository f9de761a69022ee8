"""The demo's second act: experts drawn at random evaluate the opened bids (远程异地评标).

Five experts sit in two venues (the main venue in one city, a secondary one in another),
joined in one room that only they act in. Each step is an act signed on the expert's
workstation and acknowledged by the node with its place in the log.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from crypto import SigningKey
from evaluator_client.room import RoomClient
from recordings.documents import report_hash
from recordings.draw import DrawRequest, PoolEntry, draw
from recordings.vocabulary import EventType

if TYPE_CHECKING:
    from evaluator_client.session import Session
    from server.demo import Demo, Person

MAIN, SUB = "广州 Guangzhou", "深圳 Shenzhen"
BUILDING, COST = "建筑工程 building", "工程造价 cost"
# name: (display, specialty, region, employer)
EXPERTS: Final = {
    "expert-1": ("张工 Expert Zhang", BUILDING, MAIN, "省建筑设计研究院"),
    "expert-2": ("李工 Expert Li", BUILDING, MAIN, "市政工程设计院"),
    "expert-3": ("王工 Expert Wang", BUILDING, SUB, "深圳建工集团"),
    "expert-4": ("赵工 Expert Zhao", BUILDING, SUB, "华南理工大学"),
    "expert-5": ("陈工 Expert Chen", COST, MAIN, "广东造价咨询公司"),
    "expert-6": ("刘工 Expert Liu", COST, SUB, "深圳造价事务所"),
    "expert-7": ("杨工 Expert Yang", COST, SUB, "鹏城审计师事务所"),
    "expert-8": ("周工 Expert Zhou", BUILDING, MAIN, "甲建设有限公司 Bidder A"),  # avoided
}
REQUEST: Final[dict[str, Any]] = {
    "quotas": [{"specialty": BUILDING, "count": 3}, {"specialty": COST, "count": 2}],
    "sites": [
        {"site": "main", "region": MAIN,
         "workstations": [{"id": f"M-0{i}", "address": "127.0.0.1"} for i in range(1, 5)]},
        {"site": "sub-1", "region": SUB,
         "workstations": [{"id": f"S-0{i}", "address": None} for i in range(1, 5)]},
    ],
    "standby": 2,
}  # fmt: skip
STEP_TIMEOUT: Final = 30.0
LOT: Final = "L1"  # the lot evaluated, and so the room its workstations publish in


class Evaluation:
    def __init__(self, demo: Demo, people: dict[str, Person], tender: str) -> None:
        self.demo = demo
        self.people = people
        self.tender = tender
        self.host = people["host"].session
        self.supervisor = people["supervisor"].session
        self.keys: dict[str, SigningKey] = {}
        self.ids: dict[str, str] = {}  # participant id -> demo name
        self.sites: dict[str, str] = {}  # demo name -> the site of its seat
        self.rooms: list[RoomClient] = []
        self.path = f"/api/tenders/{tender}"

    def say(self, text: str) -> None:
        self.demo.say(text)

    def line(self, text: str) -> None:
        self.demo.line(text)

    async def run(self) -> None:
        try:
            async with asyncio.timeout(STEP_TIMEOUT * 4):
                await self.enrol_pool()
                await self.draw()
                await self.seat()
                await self.on_camera()
                await self.elect()
                await self.review()
                await self.score()
                await self.sign()
                await self.off_camera()
        finally:
            for room in self.rooms:
                await room.close()

    async def enrol_pool(self) -> None:
        self.say("专家库 The expert pool: specialty, region and employer of each")
        admin = self.people["admin"].session
        for name, (display, specialty, region, employer) in EXPERTS.items():
            self.keys[name] = SigningKey.generate()
            body = {
                "role": "expert", "name": display,
                "public_key": self.keys[name].verify_key.to_text(),
                "attributes": {"specialty": specialty, "region": region, "employer": employer},
            }  # fmt: skip
            enrolled = await admin.post("/api/admin/participants", body)
            self.ids[str(enrolled["id"])] = name
            self.line(f"{name:<9} {enrolled['id']}  {specialty}, {region}, {employer}")

    async def draw(self) -> None:
        self.say("抽取 The host draws 5 experts: commit to a seed, then reveal it")
        request = {**REQUEST, "sites": self.demo.draw_sites()}
        committed = await self.host.post(f"{self.path}/lots/L1/draw", request)
        self.line(f"seed hash committed before the draw: {committed['lots'][0]['seed_hash'][:16]}…")
        revealed = (await self.host.post(f"{self.path}/lots/L1/draw/reveal"))["lots"][0]
        self.line(f"seed revealed: {revealed['seed'][:16]}…; the host sees no names")
        log = await self.supervisor.get(f"{self.path}/events?limit=1000")
        events = {e["event"]["type"]: e["event"]["payload"] for e in log["events"]}
        commitment = events[EventType.EVALUATION_DRAW_COMMITTED]
        again = draw(
            bytes.fromhex(revealed["seed"]),
            tuple(PoolEntry.from_json(e) for e in commitment["snapshot"]),
            DrawRequest.from_json(commitment["request"]),
            tuple(commitment["avoid"]),
        )
        drawn = events[EventType.EVALUATION_COMMITTEE_DRAWN]
        same = [s.to_json() for s in again.members] == drawn["members"]
        verdict = "the same committee" if same else "A DIFFERENT COMMITTEE"
        self.line(f"the supervisor re-runs the draw from the seed: {verdict}")
        for seat in drawn["members"]:
            name = self.ids[seat["expert"]]
            self.sites[name] = seat["site"]
            self.line(f"  {name:<9} {EXPERTS[name][0]:<18} {seat['site']:<6} {seat['workstation']}")
        standby = ", ".join(self.ids[e] for e in drawn["standby"])
        self.line(f"standby: {standby}; expert-8 works for a bidder and was avoided")
        await self.host.post(f"{self.path}/evaluation/start")

    async def seat(self) -> None:
        self.say("签到 Each expert logs in at its workstation, checks in and pledges, signed")
        view = await self.supervisor.get(f"{self.path}/lots/L1/room")
        for member in view["members"]:
            name = self.ids[member["expert"]]
            # A workstation is bound to its site's node: the expert logs in there.
            session = await self.demo.login(
                name, member["expert"], self.keys[name], site=self.sites[name]
            )
            seat = (await RoomClient.seats(session))[0]
            room = RoomClient(session, self.tender, seat)
            await room.__aenter__()
            self.rooms.append(room)
            await room.check_in()
            ack = await room.pledge()
            where = f"{seat['site']}/{seat['workstation']}"
            self.line(f"{name:<9} at {where}: check-in and pledge signed, acked as #{ack.seq}")

    async def on_camera(self) -> None:
        """Every workstation goes live in the lot's room; the supervisor watches one."""
        self.say("远程评标 Each workstation publishes its camera and microphone to the room")
        media = self.demo.media
        here = [r for r in self.rooms if self.demo.media_here(self.sites[self._name(r)])]
        desks = await asyncio.gather(
            *(media.publish("evaluation", room.session, self.tender, LOT) for room in here)
        )
        for room, desk in zip(here, desks, strict=True):
            name = self._name(room)
            self.line(f"{name:<9} publishes {desk.room}/{desk.source} from its workstation")
        for room in self.rooms:
            if room not in here:
                name = self._name(room)
                self.line(f"{name:<9} at {self.sites[name]}: media is at the main venue only")
        if desks:
            seen = await media.watch(
                "evaluation", "supervisor", self.supervisor, self.tender, LOT, desks[0].source
            )
            width, height = seen.size
            self.line(
                f"the supervisor watches {seen.room}/{seen.source}: "
                f"first picture {width}x{height} decoded"
            )

    async def off_camera(self) -> None:
        await self.demo.media.end("evaluation")
        for seen in self.demo.media.decoded:
            if seen.room == LOT:
                self.line(
                    f"the room's media closes; {seen.name} decoded {seen.video} pictures and "
                    f"{seen.audio} audio frames of {seen.source}"
                )

    def _name(self, room: RoomClient) -> str:
        return self.ids[room.session.participant]

    async def elect(self) -> None:
        self.say("推选组长 The members elect a leader by vote")
        leader = self.rooms[0].session.participant
        for room in self.rooms:
            await room.wait_stage("election", 1)
            await room.vote(leader)
        await self.rooms[0].wait_stage("compliance")
        elected = self.rooms[0].state.leader
        self.line(f"leader: {self.ids[elected] if elected else 'none'}, with all 5 votes")

    async def review(self) -> None:
        self.say("初步评审 Compliance review: pass/fail per bid, by majority")
        view = await self.rooms[0].view()
        self.bids: list[dict[str, Any]] = view["bids"]
        for room in self.rooms:
            results = {b["bidder"]: {"C1": (True, ""), "C2": (True, "")} for b in self.bids}
            await room.compliance(results)
        await self.rooms[0].wait_stage("scoring", 1)
        self.line(f"{len(self.bids)} bids compliant; scoring opens")

    async def score(self) -> None:
        self.say("详细评审 Signed score sheets; the node checks them before anyone signs (GP87 64)")
        odd, bidder = self.rooms[2], self.bids[1]["bidder"]
        for i, room in enumerate(self.rooms):
            for n, bid in enumerate(self.bids):
                scores = {"T1": str(20 + n + i % 2), "T2": "15", "T3": "16"}
                if room is odd and bid["bidder"] == bidder:
                    scores = {"T1": "6", "T2": "4", "T3": "16"}
                await room.score(bid["bidder"], scores, "依据评分细则")
        await odd.wait_stage("scoring", 2)
        for flag in odd.state.flags:
            self.line(f"flag: {self.ids[flag['expert']]}: {flag['detail']}")
        ack = await odd.score(bidder, {"T1": "21", "T2": "15", "T3": "16"}, "复核后修正")
        self.line(f"{self.ids[odd.session.participant]} revises its sheet: version 2, #{ack.seq}")
        await self.rooms[0].wait_for(lambda s: s.report_hash is not None)

    async def sign(self) -> None:
        self.say("评标报告 The node issues the report; every member signs its hash")
        state = self.rooms[0].state
        report = state.report or {}
        same = report_hash(report) == state.report_hash
        self.line(f"report hash {str(state.report_hash)[:16]}…, recomputed: {same}")
        for room in self.rooms:
            ack = await room.sign_report()
            self.line(f"{self.ids[room.session.participant]:<9} signed, #{ack.seq}")
        visitor = self.people["visitor"].session
        result = await self._result(visitor)
        self.say("结果公示 The result, public: ranking, candidates, the committee by name")
        names = {c["bidder"]: c["name"] for c in result["candidates"]}
        for row in result["report"]["ranking"]:
            mark = "候选人 candidate" if row["bidder"] in names else ""
            name = next(b["name"] for b in self.bids if b["bidder"] == row["bidder"])
            self.line(f"{row['rank']}. {name:<28} {row['score']:>6}  {row['price']:>12}  {mark}")
        committee = "、".join(m["name"] for m in result["committee"])
        self.line(f"committee: {committee}")
        self.line(f"{len(result['signatures'])} signatures, {len(result['dissents'])} dissents")
        page = self.demo.data_dir / f"report-{self.tender}.html"
        html = await visitor.get_bytes(f"{self.path}/lots/L1/report.html")
        await asyncio.to_thread(page.write_bytes, html)
        self.line(f"report page written to {page.name}")

    async def _result(self, session: Session) -> dict[str, Any]:
        await self.rooms[0].wait_for(
            lambda s: any(e.type == EventType.EVALUATION_RESULT_PUBLISHED for e in s.events)
        )
        return await session.get(f"{self.path}/lots/L1/result")
