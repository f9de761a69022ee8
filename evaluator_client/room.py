"""An expert's workstation in its evaluation room: the live room, and signed acts with acks.

The expert's key stays in this process: every act is a document built here, canonicalized and
signed here (docs/spec/evaluation.md section 3), sent over the live channel, and acknowledged by
the node with the event's sequence number and hash once it is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Self

from evaluator_client.errors import ClientError
from evaluator_client.live import LiveFeed
from recordings.vocabulary import ActType, EventType
from server.protocol import Acked, Act, CaughtUp, Error, Event, client_message_json

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from evaluator_client.session import Session

# How long an act waits for its ack; the node acks within milliseconds when it is well.
ACK_TIMEOUT: Final = 30.0
_refs: Final = itertools.count(1)


class ActRefused(ClientError):
    """The node refused an act, with its typed reason (the refusal is in the audit log)."""

    def __init__(self, code: str, message: str, rule: str | None) -> None:
        self.code = code
        self.rule = rule
        super().__init__(f"{rule or code}: {message}")


@dataclass
class RoomState:
    """What the expert's feed has shown of its room so far."""

    lot: str
    stage: str | None = None
    round: int = 0
    ends_at: str | None = None
    leader: str | None = None
    report: dict[str, Any] | None = None
    report_hash: str | None = None
    flags: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def seed(self, view: dict[str, Any]) -> None:
        """Start from the room as the node shows it now (a successor missed what came before)."""
        self.stage, self.round, self.ends_at = view["stage"], view["round"], view["ends_at"]
        self.leader, self.report_hash = view["leader"], view["report_hash"]
        self.report = view["report"]
        self.flags = list(view["flags"])

    def apply(self, event: Event) -> None:
        payload = event.record.get("payload", {})
        if payload.get("lot") != self.lot:
            return
        self.events.append(event)
        if event.type == EventType.EVALUATION_STAGE_OPENED:
            self.stage, self.round = payload["stage"], payload["round"]
            self.ends_at = payload.get("ends_at") or self.ends_at
        elif event.type == EventType.EVALUATION_ELECTION_HELD and payload.get("leader"):
            self.leader = payload["leader"]
        elif event.type == EventType.EVALUATION_CHECKS_RUN:
            self.flags = list(payload["flags"])
        elif event.type == EventType.EVALUATION_TIME_EXTENDED:
            self.ends_at = payload["ends_at"]
        elif event.type == EventType.EVALUATION_REPORT_ISSUED:
            self.report, self.report_hash = payload["report"], payload["report_hash"]


class RoomClient:
    """One expert's seat: `async with RoomClient(session, tender, seat) as room: ...`."""

    def __init__(self, session: Session, tender: str, seat: dict[str, Any]) -> None:
        self.session = session
        self.tender = tender
        self.lot = str(seat["lot"])
        self.workstation = str(seat["workstation"])
        self.site = str(seat["site"])
        self.state = RoomState(self.lot)
        self._feed = LiveFeed(session.live_url, session.token)
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[Acked]] = {}
        self._changed = asyncio.Condition()
        self._versions: dict[str, int] = {}
        self._failure: BaseException | None = None
        self.caught_up = asyncio.Event()  # the node has sent what happened since the view

    @classmethod
    async def seats(cls, session: Session) -> list[dict[str, Any]]:
        """Where this expert sits: tender, lot, site, workstation (drawn, not chosen)."""
        return list((await session.get("/api/evaluation/seats"))["seats"])

    async def __aenter__(self) -> Self:
        """Read the room (members only: anyone else is refused, on record), then follow it.

        The view says the last event it shows (`seq`): the feed starts right after it, so
        joining costs one view and what happened since, not the tender's whole log.
        """
        view = await self.view()
        self.state.seed(view)
        await self._feed.connect()
        await self._feed.subscribe(self.tender, int(view.get("seq", 0)))
        self._reader = asyncio.create_task(self._read(), name=f"room {self.lot}")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await self._feed.close()

    async def _read(self) -> None:
        try:
            async for message in self._feed:
                if isinstance(message, Event):
                    async with self._changed:
                        self.state.apply(message)
                        self._changed.notify_all()
                elif isinstance(message, Acked | Error) and message.ref in self._pending:
                    self._settle(message)
                elif isinstance(message, CaughtUp) and message.tender == self.tender:
                    self.caught_up.set()
        except Exception as exc:  # whatever ends the feed ends every wait on it
            self._failure = exc if isinstance(exc, ClientError) else ClientError(str(exc))
            for waiting in self._pending.values():
                if not waiting.done():
                    waiting.set_exception(exc)
            async with self._changed:
                self._changed.notify_all()

    def _settle(self, message: Acked | Error) -> None:
        waiting = self._pending.pop(str(message.ref))
        if waiting.done():  # pragma: no cover - timed out meanwhile
            return
        if isinstance(message, Acked):
            waiting.set_result(message)
        else:
            waiting.set_exception(ActRefused(message.code, message.message, message.rule))

    async def wait_for(self, predicate: Callable[[RoomState], bool]) -> RoomState:
        """Wait until the room's live state satisfies `predicate` (bound it with a timeout)."""
        async with self._changed:
            while not predicate(self.state):
                if self._failure is not None:
                    raise self._failure
                await self._changed.wait()
        return self.state

    async def wait_stage(self, stage: str, round_: int | None = None) -> RoomState:
        return await self.wait_for(
            lambda s: s.stage == stage and (round_ is None or s.round == round_)
        )

    async def view(self) -> dict[str, Any]:
        """The room as the node shows it to this member (bids, sheets, flags, report)."""
        return await self.session.get(f"/api/tenders/{self.tender}/lots/{self.lot}/room")

    # Acts.

    def document(self, kind: str, **members: Any) -> dict[str, Any]:
        """An act's document: the fields every act has, then the type's own."""
        return {
            "v": 1,
            "type": kind,
            "tender": self.tender,
            "lot": self.lot,
            "expert": self.session.participant,
            "workstation": self.workstation,
        } | members

    async def send(self, document: dict[str, Any]) -> Acked:
        """Sign `document` here and send it; returns the node's ack or raises ActRefused."""
        return await self.send_signed(document, self.session.sign(str(document["type"]), document))

    async def send_signed(self, document: dict[str, Any], signature: str) -> Acked:
        """Send a document signed elsewhere (a sheet signed offline on this workstation)."""
        ref = f"act-{next(_refs)}"
        waiting: asyncio.Future[Acked] = asyncio.get_running_loop().create_future()
        self._pending[ref] = waiting
        try:
            await self._feed.send(client_message_json(Act(self.tender, document, signature, ref)))
            async with asyncio.timeout(ACK_TIMEOUT):
                return await waiting
        finally:
            self._pending.pop(ref, None)

    async def check_in(self) -> Acked:
        return await self.send(self.document(ActType.CHECK_IN, site=self.site))

    async def pledge(self, conflicts: list[tuple[str, str]] | None = None) -> Acked:
        declared = [{"organisation": o, "reason": r} for o, r in conflicts or []]
        return await self.send(self.document(ActType.PLEDGE, conflicts=declared))

    async def vote(self, candidate: str) -> Acked:
        return await self.send(
            self.document(ActType.LEADER_VOTE, round=self._round(), candidate=candidate)
        )

    async def compliance(self, results: dict[str, dict[str, tuple[bool, str]]]) -> Acked:
        """bidder → criterion → (pass, reason); a fail needs its reason."""
        sheet = {
            bidder: {c: {"pass": ok, "reason": why} for c, (ok, why) in criteria.items()}
            for bidder, criteria in results.items()
        }
        return await self.send(self.document(ActType.COMPLIANCE_SHEET, results=sheet))

    async def score(self, bidder: str, scores: dict[str, str], comment: str = "") -> Acked:
        """A score sheet for one bid: its next version, in the current round."""
        version = self._versions.get(bidder, 0) + 1
        document = self.document(
            ActType.SCORE_SHEET, round=self._round(), version=version, bidder=bidder,
            scores=scores, comment=comment,
        )  # fmt: skip
        ack = await self.send(document)
        self._versions[bidder] = version
        return ack

    async def confirm(self, bidder: str, reason: str) -> Acked:
        return await self.send(
            self.document(
                ActType.FLAG_CONFIRMATION, round=self._round(), bidder=bidder, reason=reason
            )
        )

    async def ask(self, bidder: str, question: str) -> Acked:
        return await self.send(
            self.document(ActType.CLARIFICATION_REQUEST, bidder=bidder, question=question)
        )

    async def more_time(self, reason: str) -> Acked:
        return await self.send(self.document(ActType.TIME_REQUEST, reason=reason))

    async def sign_report(self) -> Acked:
        return await self.send(
            self.document(ActType.REPORT_SIGNATURE, report_hash=self._report_hash())
        )

    async def dissent(self, reasons: str) -> Acked:
        document = self.document(
            ActType.REPORT_DISSENT, report_hash=self._report_hash(), reasons=reasons
        )
        return await self.send(document)

    def _round(self) -> int:
        """The round acts name; outside an election or scoring the node says which stage it is."""
        return max(self.state.round, 1)

    def _report_hash(self) -> str:
        if self.state.report_hash is None:
            raise ClientError("No report has been issued in this room yet.")
        return self.state.report_hash
