"""The evaluation of a tender: one room per lot, and the bidders' side of clarifications."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from server.domain.errors import (
    DrawNotReady,
    NotACommitteeMember,
    NotCheckedIn,
    UnknownClarification,
    WrongStage,
)
from server.domain.evaluation_events import ClarificationAnswered, RoomEvent, SignedAct
from server.domain.room import Room, Stage
from server.domain.room_fold import fold
from server.protocol.times import format_time

if TYPE_CHECKING:
    from datetime import datetime

    from server.domain.events import DomainEvent


@dataclass
class Evaluation:
    rooms: dict[str, Room] = field(default_factory=dict)

    def room(self, lot: str) -> Room:
        found = self.rooms.get(lot)
        if found is None or found.stage is None:
            raise DrawNotReady(f"Lot {lot} has no committee drawn for it.")
        return found

    def check_reader(self, lot: str, expert: str) -> None:
        """Bid documents go to the lot's members once they have pledged (and to supervisors)."""
        room = self.rooms.get(lot)
        if room is None or expert not in room.members:
            raise NotACommitteeMember(f"Only members of lot {lot}'s committee read its bids.")
        if expert not in room.pledged:
            raise NotCheckedIn("Check in and make the pledge before reading the bids.")

    def answer(
        self, now: datetime, lot: str, bidder: str, clarification: str, text: str, signature: str
    ) -> list[DomainEvent]:
        """A bidder's written answer to a question the committee sent it (Regs 52)."""
        room = self.room(lot)
        item = room.clarifications.get(clarification)
        if item is None or not item.sent or item.bidder != bidder or item.answer is not None:
            raise UnknownClarification(f"There is no open clarification {clarification} for you.")
        if room.stage not in (Stage.COMPLIANCE, Stage.SCORING):
            raise WrongStage("The committee no longer takes answers: its report is out.")
        outcome = {"clarification": clarification, "bidder": bidder, "answer": text,
                   "signature": signature, "at": format_time(now)}  # fmt: skip
        return [ClarificationAnswered(lot, outcome, audience=tuple(room.members))]

    def next_due(self) -> datetime | None:
        return min((d for r in self.rooms.values() if (d := r.next_due())), default=None)

    def done(self, lots: set[str]) -> bool:
        """Every lot in `lots` has its result."""
        return all(lot in self.rooms and self.rooms[lot].stage is Stage.DONE for lot in lots)

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, (RoomEvent, SignedAct)):
            fold(self.rooms.setdefault(event.lot, Room(event.lot)), event)
