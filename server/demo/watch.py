"""Participants watching streams live during the demo, and the printing of what they see."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TextIO

from evaluator_client.live import LiveFeed
from recordings.vocabulary import EVENT_LABELS, EventType
from server.protocol import CaughtUp, Error, Event

if TYPE_CHECKING:
    from collections.abc import Mapping

    from evaluator_client.session import Session

# Each step waits for what it needs to see, never longer than this.
STEP_TIMEOUT: Final = 30.0

# The events the demo labels as they arrive, in the words of the event types' labels.
LABELS: Final[Mapping[str, str]] = {
    kind: " ".join(EVENT_LABELS[kind])
    for kind in (
        EventType.TENDER_CREATED, EventType.TENDER_PUBLISHED, EventType.TENDER_BIDDING_OPENED,
        EventType.TENDER_BIDDING_CLOSED, EventType.TENDER_OPENING_STARTED, EventType.LOT_SEALED,
        EventType.BID_SUBMITTED, EventType.BOX_SEALED, EventType.OPENING_KEY_ISSUED,
        EventType.OPENING_KEY_SHARE_ISSUED, EventType.OPENING_SIGNED_IN,
        EventType.OPENING_DECRYPTION_STARTED, EventType.BID_DECRYPTED,
        EventType.BID_DECRYPTION_ATTEMPT_FAILED, EventType.BID_DECRYPTION_FAILED,
        EventType.OPENING_RECORD_PUBLISHED, EventType.OPENING_RECORD_SPOKEN,
        EventType.OPENING_CONFIRMED,
        EventType.BID_SHEET_EXTRACTED, EventType.BID_DOCUMENT_READ,
        EventType.OPENING_SHARE_SUBMITTED, EventType.OPENING_OBJECTION_RAISED,
        EventType.OPENING_OBJECTION_ANSWERED, EventType.OPENING_CLOSED, EventType.ACCESS_DENIED,
        EventType.COMMAND_REJECTED, EventType.PARTICIPANT_ENROLLED,
        EventType.PARTICIPANT_LOGGED_IN,
    )
}  # fmt: skip


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
