"""What each role sees of the evaluation: the host its progress, a member its room,
supervisors everything, bidders their clarifications, everyone the result once published."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.domain.access import Action, Actor, Role
from server.domain.errors import NotACommitteeMember
from server.domain.report import plain
from server.domain.room import Stage
from server.errors import NotFound
from server.protocol.times import format_time

if TYPE_CHECKING:
    from server.domain.room import Room, SheetVersion
    from server.domain.tender import Tender
    from server.service.gate import Gate
    from server.service.participants import Participants
    from server.service.tenders import Tenders


class RoomViews:
    def __init__(self, gate: Gate, tenders: Tenders, participants: Participants) -> None:
        self._gate = gate
        self._tenders = tenders
        self._participants = participants

    async def progress(self, actor: Actor, tender_id: str) -> dict[str, Any]:
        """The host's view: each lot's stage and counts, the draw's commitment; no names."""
        await self._gate.check(actor, Action.VIEW_PROGRESS, tender_id)
        tender = await self._tenders.visible(actor, tender_id, settled=True)
        return {
            "tender": tender_id,
            "state": tender.state.value if tender.state else None,
            "lots": [_progress(room) for _, room in sorted(tender.evaluation.rooms.items())],
            "to_evaluate": sorted(tender.lots_to_evaluate()),
        }

    async def room(self, actor: Actor, tender_id: str, lot: str) -> dict[str, Any]:
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
        return await self._room_view(tender, room, actor)

    async def _room_view(self, tender: Tender, room: Room, actor: Actor) -> dict[str, Any]:
        spec = tender.spec
        everything = actor.role is Role.SUPERVISOR
        bids = tender.context(room.lot, {}).bids
        names = {p: await self._name(p) for p in (*room.members, *(b.bidder for b in bids))}
        rejected = {r["bidder"]: r for r in (room.decided or {}).get("rejected", [])}
        view: dict[str, Any] = _progress(room) | {
            "tender": tender.id,
            "you": room.members[actor.id].to_json() if actor.id in room.members else None,
            "leader": room.leader,
            "members": [
                {
                    "expert": s.expert,
                    "name": names.get(s.expert, s.expert),
                    "specialty": s.specialty,
                    "site": s.site,
                    "workstation": s.workstation,
                    "checked_in": s.expert in room.checked_in,
                    "pledged": s.expert in room.pledged,
                }
                for s in room.members.values()
            ],
            "scheme": spec.scoring.to_json() if spec else None,
            "opening_record": tender.opening.record,
            "bids": [
                {
                    "bidder": b.bidder,
                    "name": names[b.bidder],
                    "price": plain(b.price),
                    "status": _status(room, b.bidder, rejected),
                }
                for b in bids
            ],
            "elections": room.elections,
            "voted": sorted(room.votes),
            "compliance_in": sorted(room.compliance),
            "decided": room.decided,
            "sheets": [
                {"expert": e, "bidder": b} | _sheet(room.current(e, b))
                for (e, b) in sorted(room.sheets)
                if everything or e == actor.id
            ],
            "flags": [
                f.to_json() | {"answer": room.answered.get(k, ("open", ""))[0]}
                for k, f in room.flags.items()
                if everything or f.expert == actor.id
            ],
            "clarifications": [
                {"id": c.id, "bidder": c.bidder, "question": c.question, "answer": c.answer}
                for c in room.clarifications.values()
            ],
            "ranked": room.ranked,
            "report": room.report,
            "responses": {e: a.document["type"] for e, a in room.responses.items()},
            "result": room.result,
        }
        if everything:
            view["replaced"] = [r.payload() for r in room.replaced]
            view["standby"] = list(room.standby)
        return view

    async def result(self, actor: Actor, tender_id: str, lot: str) -> dict[str, Any]:
        """The published result (the report, the names, the signatures): public."""
        await self._gate.check(actor, Action.VIEW_RESULT, tender_id)
        tender = await self._tenders.visible(actor, tender_id, settled=True)
        room = tender.evaluation.rooms.get(lot)
        if room is None or room.result is None:
            raise NotFound(f"Lot {lot} has no published evaluation result yet.")
        return {"tender": tender_id, "lot": lot} | dict(room.result)

    async def report(self, actor: Actor, tender_id: str, lot: str) -> dict[str, Any]:
        """The report for its page: members and supervisors once issued, everyone after."""
        tender = await self._tenders.visible(actor, tender_id, settled=True)
        room = tender.evaluation.rooms.get(lot)
        if room is not None and room.result is not None:
            await self._gate.check(actor, Action.VIEW_RESULT, tender_id)
            return dict(room.result)
        view = await self.room(actor, tender_id, lot)
        if view["report"] is None:
            raise NotFound(f"Lot {lot}'s report has not been issued yet.")
        return {"report": view["report"], "report_hash": view["report_hash"]}

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


def _progress(room: Room) -> dict[str, Any]:
    commitment = room.commitment
    return {
        "lot": room.lot,
        "stage": room.stage.value if room.stage else None,
        "round": room.round,
        "members": len(room.members),
        "checked_in": len(room.checked_in & set(room.members)),
        "pledged": len(set(room.pledged) & set(room.members)),
        "replacements": len(room.replaced),
        "ends_at": format_time(room.ends_at) if room.ends_at else None,
        "extended": room.extended,
        "seed_hash": commitment.seed_hash if commitment else None,
        "snapshot_hash": commitment.snapshot_hash if commitment else None,
        "seed": room.seed,
        "report_hash": room.report_hash,
        "sign_until": format_time(room.sign_until) if room.sign_until else None,
        "signed": len(set(room.responses) & set(room.members)),
        "published": room.stage is Stage.DONE,
    }


def _status(room: Room, bidder: str, rejected: dict[str, Any]) -> str:
    if bidder in rejected:
        return "rejected"
    return "compliant" if bidder in room.compliant() else "in_review"


def _sheet(version: SheetVersion) -> dict[str, Any]:
    return {
        "round": version.round,
        "version": version.version,
        "scores": {c: plain(v) for c, v in version.scores.items()},
        "comment": version.comment,
    }
