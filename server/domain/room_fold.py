"""Folding a room's events into its state (room.py): one small function per event type."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from recordings.draw import DrawRequest, PoolEntry, Seat
from server.domain.errors import InvalidTransition
from server.domain.evaluation_events import (
    CheckedIn,
    ChecksRun,
    ClarificationAnswered,
    ClarificationRequested,
    ClarificationSent,
    CommitteeDrawn,
    ComplianceDecided,
    ComplianceSubmitted,
    DrawCommitted,
    DrawFailed,
    ElectionHeld,
    FlagConfirmed,
    MemberReplaced,
    Pledged,
    Ranked,
    ReportDissented,
    ReportIssued,
    ReportSigned,
    ResultPublished,
    SheetSubmitted,
    StageOpened,
    TimeExtended,
    TimeRequested,
    VoteCast,
)
from server.domain.room import ALLOWED, Clarification, Room, SheetVersion, Stage
from server.domain.scores import Flag
from server.protocol.times import parse_time

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


def fold(room: Room, event: object) -> None:
    handler = _FOLD.get(type(event))
    if handler is not None:
        handler(room, event)


def _enter(room: Room, stage: Stage | None) -> None:
    """Move the room to `stage` as its table allows (room.py); any other move is a defect."""
    if stage not in ALLOWED[room.stage]:
        now = room.stage or "not drawn"
        raise InvalidTransition(
            f"Lot {room.lot}'s room is {now}; it can't become {stage or 'not drawn'} from there."
        )
    room.stage = stage


def _committed(room: Room, e: DrawCommitted) -> None:
    _enter(room, Stage.COMMITTED)
    room.commitment, room.seed = e, None
    room.request = DrawRequest.from_json(e.request)
    room.snapshot = tuple(PoolEntry.from_json(entry) for entry in e.snapshot)


def _failed(room: Room, e: DrawFailed) -> None:
    _enter(room, None)
    room.commitment, room.request, room.snapshot = None, None, ()


def _drawn(room: Room, e: CommitteeDrawn) -> None:
    _enter(room, Stage.DRAWN)
    room.seed = e.seed
    room.members = {m["expert"]: Seat.from_json(m) for m in e.members}
    room.standby = list(e.standby)


def _stage(room: Room, e: StageOpened) -> None:
    stage, before = Stage(e.stage), room.stage
    _enter(room, stage)
    if stage is Stage.ELECTION:
        if before in (Stage.COMPLIANCE, Stage.SCORING):
            room.after_election = before  # the leader left: elect one, then carry on
        room.election_round, room.votes = e.round, {}
    elif stage is Stage.SCORING:
        room.scoring_round = e.round
    if e.ends_at is not None:
        room.ends_at = e.ends_at


def _replaced(room: Room, e: MemberReplaced) -> None:
    """Regs 48: the leaving member's work is void; its successor starts from check-in."""
    gone = e.leaving
    room.members.pop(gone, None)
    seat = Seat.from_json(e.seat)
    room.members[seat.expert] = seat
    room.standby = [s for s in room.standby if s != seat.expert]
    room.replaced.append(e)
    room.checked_in.discard(gone)
    room.pledged.pop(gone, None)
    # Its votes are void, and so are votes for it: those voters vote again.
    room.votes = {
        voter: choice for voter, choice in room.votes.items() if gone not in (voter, choice)
    }
    room.compliance.pop(gone, None)
    room.time_requests.discard(gone)
    room.responses.pop(gone, None)
    for table in (room.sheets, room.flags, room.answered, room.confirmed):
        for key in [k for k in table if k[0] == gone]:
            del table[key]
    if room.leader == gone:
        room.leader = None


def _checked_in(room: Room, e: CheckedIn) -> None:
    room.checked_in.add(e.expert)


def _pledged(room: Room, e: Pledged) -> None:
    conflicts = e.document.get("conflicts", [])
    room.pledged[e.expert] = tuple((c["organisation"], c["reason"]) for c in conflicts)


def _voted(room: Room, e: VoteCast) -> None:
    room.votes[e.expert] = str(e.document["candidate"])


def _elected(room: Room, e: ElectionHeld) -> None:
    room.elections.append(dict(e.outcome))
    if e.outcome["leader"] is not None:
        room.leader = str(e.outcome["leader"])


def _compliance(room: Room, e: ComplianceSubmitted) -> None:
    room.compliance[e.expert] = e.document["results"]


def _decided(room: Room, e: ComplianceDecided) -> None:
    room.decided = dict(e.outcome)


def _sheet(room: Room, e: SheetSubmitted) -> None:
    d = e.document
    key = (e.expert, str(d["bidder"]))
    scores = {c: Decimal(v) for c, v in d["scores"].items()}
    room.sheets.setdefault(key, []).append(
        SheetVersion(d["round"], d["version"], scores, str(d["comment"]))
    )
    if key in room.flags:
        room.answered[key] = ("revised", str(d["comment"]))


def _confirmed(room: Room, e: FlagConfirmed) -> None:
    key = (e.expert, str(e.document["bidder"]))
    room.answered[key] = ("confirmed", str(e.document["reason"]))
    room.confirmed[key] = len(room.sheets.get(key, []))


def _checks(room: Room, e: ChecksRun) -> None:
    for key, flag in room.flags.items():
        how, why = room.answered.get(key, ("unanswered", ""))
        room.flag_log.append(
            flag.to_json() | {"round": room.scoring_round - 1, "answer": how, "reason": why}
        )
    room.flags = {(f["expert"], f["bidder"]): Flag.from_json(f) for f in e.outcome["flags"]}
    room.answered = {}


def _asked(room: Room, e: ClarificationRequested) -> None:
    number = f"c{len(room.clarifications) + 1}"
    d = e.document
    room.clarifications[number] = Clarification(number, str(d["bidder"]), str(d["question"]))


def _sent(room: Room, e: ClarificationSent) -> None:
    room.clarifications[str(e.outcome["clarification"])].sent = True


def _answered(room: Room, e: ClarificationAnswered) -> None:
    room.clarifications[str(e.outcome["clarification"])].answer = str(e.outcome["answer"])


def _time(room: Room, e: TimeRequested) -> None:
    room.time_requests.add(e.expert)


def _extended(room: Room, e: TimeExtended) -> None:
    room.extended, room.ends_at = True, parse_time(e.outcome["ends_at"])


def _ranked(room: Room, e: Ranked) -> None:
    room.ranked = dict(e.outcome)


def _issued(room: Room, e: ReportIssued) -> None:
    room.report, room.report_hash = dict(e.outcome["report"]), str(e.outcome["report_hash"])
    room.sign_until = parse_time(e.outcome["sign_until"])


def _responded(room: Room, e: ReportSigned | ReportDissented) -> None:
    room.responses[e.expert] = e


def _published(room: Room, e: ResultPublished) -> None:
    _enter(room, Stage.DONE)
    room.result = dict(e.outcome)


_FOLD: Final[Mapping[type[Any], Callable[[Room, Any], None]]] = {
    DrawCommitted: _committed,
    DrawFailed: _failed,
    CommitteeDrawn: _drawn,
    StageOpened: _stage,
    MemberReplaced: _replaced,
    CheckedIn: _checked_in,
    Pledged: _pledged,
    VoteCast: _voted,
    ElectionHeld: _elected,
    ComplianceSubmitted: _compliance,
    ComplianceDecided: _decided,
    SheetSubmitted: _sheet,
    FlagConfirmed: _confirmed,
    ChecksRun: _checks,
    ClarificationRequested: _asked,
    ClarificationSent: _sent,
    ClarificationAnswered: _answered,
    TimeRequested: _time,
    TimeExtended: _extended,
    Ranked: _ranked,
    ReportIssued: _issued,
    ReportSigned: _responded,
    ReportDissented: _responded,
    ResultPublished: _published,
}
