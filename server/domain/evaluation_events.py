"""Events of the evaluation rooms (远程异地评标): who sees each, and what it carries.

Until the result, a room's events are seen by supervisors and by the members the room had when
the event was recorded (`audience`, kept out of the payload: it only decides visibility). The
host sees the room's progress, never who sits in it (Law 37); bidders see only the questions put
to them and, at the end, the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final

from recordings.vocabulary import ActType, EventType
from server.domain.access import Role, participant_audience
from server.domain.codec import INLINE, LOCAL
from server.domain.events import OVERSIGHT, PUBLIC, STAFF, DomainEvent

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime


def room_visibility(audience: tuple[str, ...], base: frozenset[str] = OVERSIGHT) -> frozenset[str]:
    return base | {participant_audience(member) for member in audience}


# A record's visibility list is part of the record: an event the host or a bidder reads must
# not name the members in it. Those go to experts as a role; an expert's session only ever
# covers the tenders it sits on a committee of.
SHARED_WITH_EXPERTS: Final = frozenset({Role.EXPERT.value})


@dataclass(frozen=True, slots=True)
class RoomEvent(DomainEvent):
    """A node-made event of one lot's room; `payload_of` gives the members after `lot`."""

    lot: str
    audience: tuple[str, ...] = field(default=(), kw_only=True, compare=False, metadata=LOCAL)

    def visibility(self) -> frozenset[str]:
        return room_visibility(self.audience)


# Signed acts of experts (docs/spec/evaluation.md section 3).


@dataclass(frozen=True, slots=True)
class SignedAct(DomainEvent):
    """An expert's act: the document it signed on its workstation, and the signature."""

    document: Mapping[str, Any]
    signature: str
    audience: tuple[str, ...] = field(default=(), kw_only=True, compare=False, metadata=LOCAL)

    @property
    def lot(self) -> str:
        return str(self.document["lot"])

    @property
    def expert(self) -> str:
        return str(self.document["expert"])

    def visibility(self) -> frozenset[str]:
        return room_visibility(self.audience)


@dataclass(frozen=True, slots=True)
class CheckedIn(SignedAct):
    TYPE: ClassVar[str] = EventType.EVALUATION_CHECKED_IN
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class Pledged(SignedAct):
    TYPE: ClassVar[str] = EventType.EVALUATION_PLEDGED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class VoteCast(SignedAct):
    TYPE: ClassVar[str] = EventType.EVALUATION_VOTE_CAST
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class ComplianceSubmitted(SignedAct):
    TYPE: ClassVar[str] = EventType.EVALUATION_COMPLIANCE_SUBMITTED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class SheetSubmitted(SignedAct):
    TYPE: ClassVar[str] = EventType.EVALUATION_SHEET_SUBMITTED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class FlagConfirmed(SignedAct):
    TYPE: ClassVar[str] = EventType.EVALUATION_FLAG_CONFIRMED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class ClarificationRequested(SignedAct):
    TYPE: ClassVar[str] = EventType.EVALUATION_CLARIFICATION_REQUESTED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class TimeRequested(SignedAct):
    TYPE: ClassVar[str] = EventType.EVALUATION_TIME_REQUESTED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class ReportSigned(SignedAct):
    TYPE: ClassVar[str] = EventType.EVALUATION_REPORT_SIGNED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class ReportDissented(SignedAct):
    TYPE: ClassVar[str] = EventType.EVALUATION_REPORT_DISSENTED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


# The act document types and the events that record them.
ACT_EVENTS: Final[Mapping[str, type[SignedAct]]] = {
    ActType.CHECK_IN: CheckedIn,
    ActType.PLEDGE: Pledged,
    ActType.LEADER_VOTE: VoteCast,
    ActType.COMPLIANCE_SHEET: ComplianceSubmitted,
    ActType.SCORE_SHEET: SheetSubmitted,
    ActType.FLAG_CONFIRMATION: FlagConfirmed,
    ActType.CLARIFICATION_REQUEST: ClarificationRequested,
    ActType.TIME_REQUEST: TimeRequested,
    ActType.REPORT_SIGNATURE: ReportSigned,
    ActType.REPORT_DISSENT: ReportDissented,
}


# The draw.


@dataclass(frozen=True, slots=True)
class DrawCommitted(RoomEvent):
    """The node's commitment to a seed, with the pool snapshot, before anyone is drawn."""

    TYPE: ClassVar[str] = EventType.EVALUATION_DRAW_COMMITTED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    seed_hash: str
    snapshot_hash: str
    snapshot: tuple[Mapping[str, Any], ...]
    request: Mapping[str, Any]
    avoid: tuple[str, ...]
    sealed_seed: str  # the seed under the node's at-rest key, until the reveal
    at: datetime


@dataclass(frozen=True, slots=True)
class CommitteeDrawn(RoomEvent):
    """The reveal: the seed, and who was drawn, bound to which site and workstation."""

    TYPE: ClassVar[str] = EventType.EVALUATION_COMMITTEE_DRAWN
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    seed: str  # hex
    members: tuple[Mapping[str, Any], ...]
    standby: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class DrawFailed(RoomEvent):
    """The revealed seed can't fill the request from the snapshot: anyone can re-run it and
    see; the lot may then be drawn again with a new commitment."""

    TYPE: ClassVar[str] = EventType.EVALUATION_DRAW_FAILED
    VISIBILITY: ClassVar[frozenset[str]] = STAFF
    seed: str
    reason: str
    at: datetime

    def visibility(self) -> frozenset[str]:
        return STAFF


@dataclass(frozen=True, slots=True)
class MemberReplaced(RoomEvent):
    """Regs 46, 48: a member leaves (declared conflict, or the host's decision); its work is
    void, and the first fitting standby takes the seat."""

    TYPE: ClassVar[str] = EventType.EVALUATION_MEMBER_REPLACED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    leaving: str
    reason: str
    by: str  # "declaration" or "host"
    seat: Mapping[str, Any]
    at: datetime


# The room's progress, decided by the node.


@dataclass(frozen=True, slots=True)
class StageOpened(RoomEvent):
    """The room moves on; the host sees the progress, not the people."""

    TYPE: ClassVar[str] = EventType.EVALUATION_STAGE_OPENED
    VISIBILITY: ClassVar[frozenset[str]] = STAFF
    stage: str
    round: int
    at: datetime
    ends_at: datetime | None = None  # set when check-in opens: the evaluation time runs

    def visibility(self) -> frozenset[str]:
        return STAFF | SHARED_WITH_EXPERTS


@dataclass(frozen=True, slots=True)
class _Decided(RoomEvent):
    """A node decision whose content is one JSON object (`outcome`)."""

    outcome: Mapping[str, Any] = field(metadata=INLINE)


@dataclass(frozen=True, slots=True)
class ElectionHeld(_Decided):
    """A round of the leader election: the tally, and the leader if one has a majority."""

    TYPE: ClassVar[str] = EventType.EVALUATION_ELECTION_HELD
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class ComplianceDecided(_Decided):
    """初步评审 by majority: the compliant bids, and the rejected ones with their reasons."""

    TYPE: ClassVar[str] = EventType.EVALUATION_COMPLIANCE_DECIDED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class ChecksRun(_Decided):
    """GP87 64 checks over a round's sheets: the flags raised (none: the scores stand)."""

    TYPE: ClassVar[str] = EventType.EVALUATION_CHECKS_RUN
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class Ranked(_Decided):
    """Price scores, totals, aggregates, the ranking and the candidates."""

    TYPE: ClassVar[str] = EventType.EVALUATION_RANKED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class ReportIssued(_Decided):
    """The report (Eval Rules 42), its hash, and until when members sign it."""

    TYPE: ClassVar[str] = EventType.EVALUATION_REPORT_ISSUED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class TimeExtended(_Decided):
    """Regs 48: more than a third of the members said the time is not enough."""

    TYPE: ClassVar[str] = EventType.EVALUATION_TIME_EXTENDED
    VISIBILITY: ClassVar[frozenset[str]] = STAFF

    def visibility(self) -> frozenset[str]:
        return STAFF | SHARED_WITH_EXPERTS


@dataclass(frozen=True, slots=True)
class SigningClosed(_Decided):
    """Regs 53: the signing time is over; who neither signed nor dissented counts as agreeing."""

    TYPE: ClassVar[str] = EventType.EVALUATION_SIGNING_CLOSED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


@dataclass(frozen=True, slots=True)
class ResultPublished(_Decided):
    """The result, public: the signed report, the members' names, signatures and dissents."""

    TYPE: ClassVar[str] = EventType.EVALUATION_RESULT_PUBLISHED
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC

    def visibility(self) -> frozenset[str]:
        return PUBLIC


# Clarifications (澄清): the bidder sees the question, never who asked it.


@dataclass(frozen=True, slots=True)
class ClarificationSent(_Decided):
    TYPE: ClassVar[str] = EventType.EVALUATION_CLARIFICATION_SENT
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT

    def visibility(self) -> frozenset[str]:
        bidder = participant_audience(str(self.outcome["bidder"]))
        return OVERSIGHT | SHARED_WITH_EXPERTS | {bidder}


@dataclass(frozen=True, slots=True)
class ClarificationAnswered(_Decided):
    TYPE: ClassVar[str] = EventType.EVALUATION_CLARIFICATION_ANSWERED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT

    def visibility(self) -> frozenset[str]:
        bidder = participant_audience(str(self.outcome["bidder"]))
        return OVERSIGHT | SHARED_WITH_EXPERTS | {bidder}
