"""What each role sees of the evaluation: the host its progress, a member its room,
supervisors everything, bidders their clarifications, everyone the result once published."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.domain.access import Action, Actor, Role
from server.domain.errors import NotACommitteeMember
from server.errors import NotFound
from server.service.views import (
    OverviewView,
    ProgressView,
    ResultView,
    RoomView,
    overview_tender,
    progress_view,
    result_view,
    room_names,
    room_view,
)

if TYPE_CHECKING:
    from server.service.gate import Gate
    from server.service.participants import Participants
    from server.service.tenders import Tenders


class RoomViews:
    def __init__(self, gate: Gate, tenders: Tenders, participants: Participants) -> None:
        self._gate = gate
        self._tenders = tenders
        self._participants = participants

    async def progress(self, actor: Actor, tender_id: str) -> ProgressView:
        """The host's view: each lot's stage and counts, the draw's commitment; no names."""
        await self._gate.check(actor, Action.VIEW_PROGRESS, tender_id)
        tender, seq = await self._tenders.visible_at(actor, tender_id)
        return progress_view(tender, seq)

    async def room(self, actor: Actor, tender_id: str, lot: str) -> RoomView:
        """A member's (or a supervisor's) view of the room; others are refused on record."""
        action = Action.VIEW_ROOM
        await self._gate.check(actor, action, tender_id)
        tender = await self._tenders.visible(actor, tender_id, settled=True)
        room = tender.evaluation.rooms.get(lot)
        if actor.role is Role.EXPERT and (room is None or actor.id not in room.members):
            error = NotACommitteeMember(f"Only members of lot {lot}'s committee see its room.")
            await self._gate.refuse(actor, tender_id, action.value, error)
        if room is None or room.stage is None:
            raise NotFound(f"Lot {lot} has no committee drawn for it.")
        # Names are looked up first (that awaits); the view is then built in one step.
        names: dict[str, str] = {}
        while True:
            tender, seq = await self._tenders.visible_at(actor, tender_id)
            room = tender.evaluation.rooms[lot]
            missing = [p for p in room_names(tender, room) if p not in names]
            if not missing:
                return room_view(tender, room, actor, names, seq)
            for participant in missing:
                names[participant] = await self._name(participant)

    async def result(self, actor: Actor, tender_id: str, lot: str) -> ResultView:
        """The published result (the report, the names, the signatures): public."""
        await self._gate.check(actor, Action.VIEW_RESULT, tender_id)
        tender, seq = await self._tenders.visible_at(actor, tender_id)
        room = tender.evaluation.rooms.get(lot)
        if room is None or room.result is None:
            raise NotFound(f"Lot {lot} has no published evaluation result yet.")
        return result_view(tender, lot, room.result, seq)

    async def report(self, actor: Actor, tender_id: str, lot: str) -> dict[str, Any]:
        """The report for its page: members and supervisors once issued, everyone after."""
        tender = await self._tenders.visible(actor, tender_id, settled=True)
        room = tender.evaluation.rooms.get(lot)
        if room is not None and room.result is not None:
            await self._gate.check(actor, Action.VIEW_RESULT, tender_id)
            return dict(room.result)
        view = await self.room(actor, tender_id, lot)
        if view.report is None:
            raise NotFound(f"Lot {lot}'s report has not been issued yet.")
        return {"report": view.report, "report_hash": view.progress.report_hash}

    async def overview(self, actor: Actor) -> OverviewView:
        """Every tender the reader may see, with its opening and its rooms' progress.

        For whoever may follow the evaluation's progress (supervisors, the host): counts and
        stages, no names, like the progress view.
        """
        await self._gate.check(actor, Action.VIEW_PROGRESS)
        return OverviewView(
            [
                overview_tender(tender, seq)
                for tender, seq in await self._tenders.all_at()
                if actor.covers(tender.id)
            ]
        )

    async def clarifications(self, actor: Actor, tender_id: str) -> list[dict[str, Any]]:
        """The questions put to this bidder, and its answers (never who asked)."""
        await self._gate.check(actor, Action.ANSWER_CLARIFICATION, tender_id)
        tender = await self._tenders.visible(actor, tender_id, settled=True)
        return [
            {"lot": lot, "clarification": c.id, "question": c.question, "answer": c.answer}
            for lot, room in sorted(tender.evaluation.rooms.items())
            for c in room.clarifications.values()
            if c.sent and c.bidder == actor.id
        ]

    async def seats(self, actor: Actor) -> list[dict[str, Any]]:
        """An expert's seats: where and when it sits (for `bidroom expert login`)."""
        await self._gate.check(actor, Action.VIEW_ROOM)
        tenders = await self._tenders.load_all(settled=True)
        return [
            {"tender": t.id, "lot": lot, "stage": room.stage.value if room.stage else None}
            | room.members[actor.id].to_json()
            for t in tenders
            if actor.covers(t.id)
            for lot, room in sorted(t.evaluation.rooms.items())
            if actor.id in room.members
        ]

    async def _name(self, participant: str) -> str:
        found = await self._participants.find(participant)
        return found.name if found is not None else participant
