"""Participants watching streams live during the demo, and the printing of what they see."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TextIO

from evaluator_client.live import LiveFeed
from server.protocol import CaughtUp, Error, Event

if TYPE_CHECKING:
    from evaluator_client.session import Session

# Each step waits for what it needs to see, never longer than this.
STEP_TIMEOUT: Final = 30.0

LABELS: Final = {
    "tender.created": "草稿 draft",
    "tender.published": "已发布 published",
    "tender.bidding_opened": "投标中 bidding",
    "tender.bidding_closed": "投标截止 deadline",
    "tender.opening_started": "开标 opening",
    "lot.sealed": "封存清单 sealed list",
    "bid.submitted": "递交回执 receipt",
    "box.sealed": "投标箱封存 box sealed",
    "opening.key_issued": "开标密钥 opening key",
    "opening.key_share_issued": "密钥分片 key share",
    "opening.signed_in": "签到 signed in",
    "opening.decryption_started": "解密开始 decrypting",
    "bid.decrypted": "解密成功 decrypted",
    "bid.decryption_attempt_failed": "解密失败 attempt failed",
    "bid.decryption_failed": "解密失败 bid failed",
    "opening.record_published": "唱标 record read out",
    "opening.confirmed": "确认 confirmed",
    "bid.sheet_extracted": "开标一览表 sheet read",
    "bid.document_read": "调阅 document read",
    "opening.share_submitted": "分片提交 share in",
    "opening.objection_raised": "异议 objection",
    "opening.objection_answered": "答复 answered",
    "opening.closed": "开标结束 closed",
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
    quiet: bool = False
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
            if not self.quiet:
                label = LABELS.get(message.type, "")
                where = "box" if self.stream.endswith("-box") else "tender"
                self.out.write(
                    f"  {clock}  {self.name:<12} <- {where}#{message.seq:<3} "
                    f"{message.type:<31} {label}\n"
                )
            async with self.changed:
                self.seen.append(message)
                self.changed.notify_all()
        elif isinstance(message, CaughtUp) and not self.quiet:
            self.out.write(f"  {clock}  {self.name:<12} caught up at #{message.seq}, now live\n")
        elif isinstance(message, Error):
            self.out.write(f"  {clock}  {self.name:<12} error {message.code}: {message.message}\n")

    async def wait_for(self, event_type: str, count: int = 1) -> Event:
        """The `count`-th event of this type, once it has arrived."""
        async with asyncio.timeout(STEP_TIMEOUT), self.changed:
            while True:
                found = [event for event in self.seen if event.type == event_type]
                if len(found) >= count:
                    return found[count - 1]
                await self.changed.wait()

    def types(self) -> list[str]:
        return [event.type for event in self.seen]

    async def drop_and_resume(self) -> None:
        """Cut the connection under the feed; it reconnects and resumes by sequence number."""
        if self.feed is not None and self.feed._ws is not None:
            self.feed._ws.transport.abort()
