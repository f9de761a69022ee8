"""`bidroom demo`: a node, its participants and a tender, live over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TextIO

from aiohttp import web

from crypto import SigningKey
from evaluator_client.errors import ApiError
from evaluator_client.live import LiveFeed
from evaluator_client.session import Session
from recordings.audit import verify_chain
from recordings.errors import ChainBroken
from server.app import create_app
from server.config import Settings
from server.protocol import SYSTEM_STREAM, CaughtUp, Error, Event
from server.protocol.times import format_time
from server.service.node import CONSOLE
from server.storage.sqlite import stored_rows, stored_streams
from server.transport.keys import node_key

if TYPE_CHECKING:
    from pathlib import Path

# Each step waits for what it needs to see, never longer than this.
STEP_TIMEOUT: Final = 20.0
BIDDING_OPENS_IN: Final = timedelta(seconds=1)
DEADLINE_IN: Final = timedelta(seconds=3)

STATE_NAMES: Final = {
    "tender.created": "草稿 draft",
    "tender.published": "已发布 published",
    "tender.bidding_opened": "投标中 bidding",
    "tender.bidding_closed": "投标截止 deadline passed",
    "tender.opening_started": "开标中 opening",
    "access.denied": "越权被拒 refused",
    "command.rejected": "指令被拒 rejected",
    "participant.enrolled": "登记 enrolled",
    "participant.logged_in": "登录 logged in",
}


@dataclass
class Watcher:
    """One participant watching one stream live, printing what arrives."""

    name: str
    session: Session
    stream: str
    out: TextIO
    started: float
    feed: LiveFeed | None = None
    seen: list[Event] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def watch(self) -> None:
        self.feed = LiveFeed(self.session.live_url, self.session.token, retry_delay=0.1)
        async with self.feed:
            await self.feed.subscribe(self.stream)
            async for message in self.feed:
                await self._show(message)

    async def _show(self, message: object) -> None:
        clock = f"+{time.monotonic() - self.started:5.2f}s"
        if isinstance(message, Event):
            label = STATE_NAMES.get(message.type, "")
            self.out.write(
                f"  {clock}  {self.name:<11} <- {message.tender}#{message.seq:<3} "
                f"{message.type:<26} {label}\n"
            )
            async with self.changed:
                self.seen.append(message)
                self.changed.notify_all()
        elif isinstance(message, CaughtUp):
            self.out.write(f"  {clock}  {self.name:<11} caught up at #{message.seq}, now live\n")
        elif isinstance(message, Error):
            self.out.write(f"  {clock}  {self.name:<11} error {message.code}: {message.message}\n")

    async def wait_for(self, event_type: str) -> Event:
        async with asyncio.timeout(STEP_TIMEOUT), self.changed:
            while True:
                for event in self.seen:
                    if event.type == event_type:
                        return event
                await self.changed.wait()

    async def drop_and_resume(self) -> None:
        """Cut the connection under the feed; it reconnects and resumes by sequence number."""
        if self.feed is not None and self.feed._ws is not None:
            self.feed._ws.transport.abort()


class Demo:
    def __init__(self, data_dir: Path, out: TextIO) -> None:
        self.data_dir = data_dir
        self.out = out
        self.started = time.monotonic()
        self.sessions: list[Session] = []
        self.tasks: list[asyncio.Task[None]] = []

    def say(self, text: str) -> None:
        self.out.write(f"\n== {text}\n")

    async def run(self) -> int:
        settings = Settings(data_dir=self.data_dir, port=0)
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        self.say(f"Node {runner.app[node_key].id} listening on {base}; data in {self.data_dir}")
        try:
            await self.scenario(runner.app, base)
        finally:
            for task in self.tasks:
                task.cancel()
            for task in self.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for session in self.sessions:
                await session.close()
            await runner.cleanup()
        return self.verify(settings)

    async def scenario(self, app: web.Application, base: str) -> None:
        people = await self.enroll_everyone(app, base)
        admin, host, supervisor = people["admin"], people["host"], people["supervisor"]
        self.say("The supervisor watches the node's system log live (监督: 全程留痕)")
        self.watch("supervisor", supervisor, SYSTEM_STREAM)
        self.say("The host creates and publishes a tender (招标公告)")
        tender = await host.post("/api/tenders", self.tender_spec())
        tender_id = str(tender["id"])
        await host.post(f"/api/tenders/{tender_id}/publish")
        self.say("Bidders, a visitor and the supervisor follow the tender live (不见面开标)")
        viewers = [
            self.watch(name, people[name], tender_id)
            for name in ("bidder-1", "bidder-2", "bidder-3", "visitor")
        ]
        watch_all = self.watch("supervisor", supervisor, tender_id)
        await viewers[0].wait_for("tender.bidding_opened")
        self.say("A bidder tries to cancel the tender: refused (403) and put on record")
        await self.expect_refusal(people["bidder-1"], f"/api/tenders/{tender_id}/cancel")
        await watch_all.wait_for("access.denied")
        self.say("The host tries to open before the deadline: refused by the rule (E-Measures 29)")
        await self.expect_refusal(host, f"/api/tenders/{tender_id}/opening/start")
        self.say(
            "bidder-2 loses its connection; its feed reconnects and resumes by sequence number"
        )
        await viewers[1].drop_and_resume()
        await viewers[1].wait_for("tender.bidding_closed")
        self.say("The deadline passes; the host starts the opening (开标)")
        await host.post(f"/api/tenders/{tender_id}/opening/start")
        for watcher in [*viewers, watch_all]:
            await watcher.wait_for("tender.opening_started")
        self.report(viewers, watch_all, admin)

    async def enroll_everyone(self, app: web.Application, base: str) -> dict[str, Session]:
        self.say("Enrolment: the first admin at the node's console, the rest via the admin API")
        keys = {name: SigningKey.generate() for name in ROLES}
        node = app[node_key]
        admin_record = await node.participants.enroll(
            CONSOLE,
            {
                "role": "admin",
                "name": "平台管理员",
                "public_key": keys["admin"].verify_key.to_text(),
            },
        )
        admin = await self.login(base, admin_record.id, keys["admin"])
        sessions = {"admin": admin}
        for name, (role, display) in ROLES.items():
            if name == "admin":
                continue
            body = {"role": role, "name": display, "public_key": keys[name].verify_key.to_text()}
            enrolled = await admin.post("/api/admin/participants", body)
            self.out.write(f"  enrolled {name:<11} {enrolled['id']}  ({role}, {display})\n")
            sessions[name] = await self.login(base, str(enrolled["id"]), keys[name])
        return sessions

    async def login(self, base: str, participant: str, key: SigningKey) -> Session:
        session = await Session.login(base, participant, key)
        self.sessions.append(session)
        return session

    def watch(self, name: str, session: Session, stream: str) -> Watcher:
        watcher = Watcher(name, session, stream, self.out, self.started)
        self.tasks.append(asyncio.create_task(watcher.watch(), name=f"watch-{name}-{stream}"))
        return watcher

    async def expect_refusal(self, session: Session, path: str) -> None:
        try:
            await session.post(path, {"reason": "我想取消 / I want it cancelled"})
        except ApiError as exc:
            self.out.write(f"  refused: {exc} (rule {exc.rule})\n")
            return
        raise RuntimeError(f"{path} should have been refused")

    def tender_spec(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "title": "市政道路照明改造工程 Street lighting renovation",
            "tenderer": "示范市城市管理局 Demo City Urban Management Bureau",
            "lots": [{"id": "L1", "name": "一标段 Lot 1"}],
            "schedule": {
                "bidding_opens_at": format_time(now + BIDDING_OPENS_IN),
                "deadline": format_time(now + DEADLINE_IN),
                "sign_in_lead_minutes": 30,
                "decryption_window_minutes": 30,
            },
            "committee": {"size": 5, "large": False},
            "min_bids": 3,
            "scoring": {"method": "comprehensive", "price_weight": 30},
        }

    def report(self, viewers: list[Watcher], supervisor: Watcher, admin: Session) -> None:
        self.say("What each participant received live")
        for watcher in [*viewers, supervisor]:
            seqs = [event.seq for event in watcher.seen]
            note = f", reconnected {watcher.feed.reconnects}x" if watcher.feed else ""
            self.out.write(f"  {watcher.name:<11} events {seqs}{note}\n")

    def verify(self, settings: Settings) -> int:
        self.say("Audit log verification (审计日志校验)")
        path = settings.database_path
        failures = 0
        for stream in stored_streams(path):
            try:
                head = verify_chain(stream, stored_rows(path, stream))
                self.out.write(f"  OK      {stream}: {head.seq} events, head {head.hash[:16]}…\n")
            except ChainBroken as exc:
                failures += 1
                self.out.write(f"  BROKEN  {exc}\n")
        elapsed = time.monotonic() - self.started
        verdict = "verified" if not failures else "FAILED"
        self.say(f"Demo finished in {elapsed:.1f}s; audit log {verdict}")
        return 1 if failures else 0


ROLES: Final = {
    "admin": ("admin", "平台管理员"),
    "host": ("host", "交易中心主持人 Host"),
    "supervisor": ("supervisor", "监督员 Supervisor"),
    "bidder-1": ("bidder", "甲建设有限公司 Bidder A"),
    "bidder-2": ("bidder", "乙工程有限公司 Bidder B"),
    "bidder-3": ("bidder", "丙照明科技有限公司 Bidder C"),
    "visitor": ("public", "公众 Visitor"),
}


def run(data_dir: Path, out: TextIO = sys.stdout) -> int:
    return asyncio.run(Demo(data_dir, out).run())
