"""The views clients read, as typed values: tender, opening hall, room, progress, result, overview.

Each is built synchronously from a tender as the ledger settled it (`Ledger.settled_at`), so the
`seq` it carries is exactly the last event of the tender's log that it shows: a client reads a
view, then subscribes to the live channel after `seq` and misses nothing, repeats nothing.
The node publishes each view's JSON Schema (`GET /api/schema/{name}`, made by schema.py from
these types); `CATALOGUE` names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from server.domain.access import Role
from server.domain.opening import BidState  # noqa: TC001 - views' types are read at run time
from server.domain.report import plain
from server.domain.room import Stage
from server.domain.tender import TenderState  # noqa: TC001
from server.errors import NotFound
from server.protocol.times import format_time
from server.service.schema import FLATTEN, OPTIONAL, JsonObject, View

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from server.domain.access import Actor
    from server.domain.opening import OpeningBid
    from server.domain.room import Room, SheetVersion
    from server.domain.tender import Tender

# Tender.


@dataclass(frozen=True, slots=True)
class TenderView(View):
    """A tender: its state and specification (`GET /api/tenders/{id}`, and each list item)."""

    id: str
    state: TenderState
    bids_closed: bool
    spec: JsonObject
    ended_reason: str | None
    opening_time: str
    # The same as `seq`, named as before views carried `seq`; only in the tender's own view.
    head_seq: int | None = field(default=None, metadata=OPTIONAL)
    seq: int | None = field(default=None, metadata=OPTIONAL)  # absent in a command's answer


@dataclass(frozen=True, slots=True)
class TenderList(View):
    """`GET /api/tenders`: every tender the reader may see, each with its own `seq`."""

    tenders: list[TenderView]


def tender_view(tender: Tender, seq: int | None = None, *, head: bool = False) -> TenderView:
    spec = tender.spec
    if spec is None or tender.state is None:  # pragma: no cover - only existing tenders get here
        raise NotFound(f"There is no tender {tender.id}.")
    return TenderView(
        tender.id, tender.state, tender.bids_closed, spec.to_json(), tender.ended_reason,
        format_time(spec.deadline), seq if head else None, seq,
    )  # fmt: skip


# The opening hall.


@dataclass(frozen=True, slots=True)
class OpeningBidView(View):
    """One bid in the hall; `by`, `fault` and `reason` only once they are known."""

    lot: str
    bidder: str
    name: str
    status: BidState
    attempts: int
    by: str | None = field(default=None, metadata=OPTIONAL)
    fault: str | None = field(default=None, metadata=OPTIONAL)
    reason: str | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True, slots=True)
class FailedLot:
    lot: str
    reason: str


@dataclass(frozen=True, slots=True)
class ObjectionView:
    id: str
    bidder: str
    text: str
    answer: str | None


@dataclass(frozen=True, slots=True)
class OpeningView(View):
    """The opening hall (`GET /api/tenders/{id}/opening`). The clock fields appear while the
    decryption window runs or is paused; `signed_in` is the bidder's own sign-in (a boolean) or,
    for the host and supervisors, who signed in."""

    tender: str
    state: TenderState | None
    phase: str  # an opening Phase, or "not_started"
    opening_key: str | None
    bids: list[OpeningBidView]
    failed_lots: list[FailedLot]
    record: JsonObject | None
    record_hash: str | None
    objections: list[ObjectionView]
    responses: dict[str, str]
    seq: int
    ends_at: str | None = field(default=None, metadata=OPTIONAL)
    remaining_seconds: float | None = field(default=None, metadata=OPTIONAL)
    confirm_until: str | None = field(default=None, metadata=OPTIONAL)
    signed_in: bool | list[str] | None = field(default=None, metadata=OPTIONAL)


def bid_view(bid: OpeningBid, names: Mapping[str, str]) -> OpeningBidView:
    return OpeningBidView(
        bid.lot, bid.bidder, names.get(bid.bidder, bid.bidder), bid.state, bid.attempts,
        bid.by, bid.fault, bid.reason,
    )  # fmt: skip


def opening_view(
    tender: Tender, seq: int, names: Mapping[str, str], now: datetime,
    signed_in: bool | list[str] | None,
) -> OpeningView:  # fmt: skip
    session = tender.opening
    remaining: float | None = None
    ends_at: str | None = None
    if session.remaining is not None:
        remaining = session.remaining.total_seconds()
    elif session.ends_at is not None:
        ends_at = format_time(session.ends_at)
        remaining = max(0.0, (session.ends_at - now).total_seconds())
    return OpeningView(
        tender=tender.id,
        state=tender.state,
        phase=session.phase.value if session.phase else "not_started",
        opening_key=session.key.public_key if session.key else None,
        bids=[bid_view(bid, names) for bid in session.bids.values()],
        failed_lots=[FailedLot(lot, why) for lot, why in session.failed_lots.items()],
        record=session.record,
        record_hash=session.record_hash,
        objections=[
            ObjectionView(o.id, o.bidder, o.text, o.answer) for o in session.objections.values()
        ],
        responses=dict(session.responses),
        seq=seq,
        ends_at=ends_at,
        remaining_seconds=remaining,
        confirm_until=format_time(session.confirm_until) if session.confirm_until else None,
        signed_in=signed_in,
    )


# Evaluation: progress, rooms, results.


@dataclass(frozen=True, slots=True)
class RoomProgress(View):
    """A room as the host sees it: its stage and counts, the draw's commitment; no names."""

    lot: str
    stage: Stage | None
    round: int
    members: int
    checked_in: int
    pledged: int
    replacements: int
    ends_at: str | None
    extended: bool
    seed_hash: str | None
    snapshot_hash: str | None
    seed: str | None
    report_hash: str | None
    sign_until: str | None
    signed: int
    published: bool


@dataclass(frozen=True, slots=True)
class ProgressView(View):
    """The evaluation's progress (`GET /api/tenders/{id}/evaluation`)."""

    tender: str
    state: TenderState | None
    lots: list[RoomProgress]
    to_evaluate: list[str]
    seq: int


@dataclass(frozen=True, slots=True)
class MemberView:
    expert: str
    name: str
    specialty: str
    site: str
    workstation: str
    checked_in: bool
    pledged: bool


@dataclass(frozen=True, slots=True)
class RoomBid:
    bidder: str
    name: str
    price: str
    status: str  # compliant, rejected or in_review


@dataclass(frozen=True, slots=True)
class SheetView:
    expert: str
    bidder: str
    round: int
    version: int
    scores: dict[str, str]
    comment: str


@dataclass(frozen=True, slots=True)
class ClarificationView:
    id: str
    bidder: str
    question: str
    answer: str | None


@dataclass(frozen=True, slots=True)
class ResultDocument:
    """The published result (docs/spec/evaluation.md): the report, names and signatures."""

    report: JsonObject
    report_hash: str | None
    committee: list[JsonObject]
    signatures: list[JsonObject]
    dissents: list[JsonObject]
    deemed_agreed: list[JsonObject]
    candidates: list[JsonObject]
    at: str


@dataclass(frozen=True, slots=True)
class RoomView(View):
    """A member's (or a supervisor's) room (`GET /api/tenders/{id}/lots/{lot}/room`): the
    progress, then the room itself; `members` lists the members where the progress counts
    them. A member sees its own sheets and flags, a supervisor everyone's and the replacements."""

    progress: RoomProgress = field(metadata=FLATTEN)
    tender: str
    you: JsonObject | None
    leader: str | None
    members: list[MemberView]
    scheme: JsonObject | None
    opening_record: JsonObject | None
    bids: list[RoomBid]
    elections: list[JsonObject]
    voted: list[str]
    compliance_in: list[str]
    decided: JsonObject | None
    sheets: list[SheetView]
    flags: list[JsonObject]
    clarifications: list[ClarificationView]
    ranked: JsonObject | None
    report: JsonObject | None
    responses: dict[str, str]
    result: ResultDocument | None
    seq: int
    replaced: list[JsonObject] | None = field(default=None, metadata=OPTIONAL)
    standby: list[str] | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True, slots=True)
class ResultView(View):
    """A lot's published result (`GET /api/tenders/{id}/lots/{lot}/result`): public."""

    tender: str
    lot: str
    result: ResultDocument = field(metadata=FLATTEN)
    seq: int


def room_progress(room: Room) -> RoomProgress:
    commitment = room.commitment
    return RoomProgress(
        lot=room.lot,
        stage=room.stage,
        round=room.round,
        members=len(room.members),
        checked_in=len(room.checked_in & set(room.members)),
        pledged=len(set(room.pledged) & set(room.members)),
        replacements=len(room.replaced),
        ends_at=format_time(room.ends_at) if room.ends_at else None,
        extended=room.extended,
        seed_hash=commitment.seed_hash if commitment else None,
        snapshot_hash=commitment.snapshot_hash if commitment else None,
        seed=room.seed,
        report_hash=room.report_hash,
        sign_until=format_time(room.sign_until) if room.sign_until else None,
        signed=len(set(room.responses) & set(room.members)),
        published=room.stage is Stage.DONE,
    )


def progress_view(tender: Tender, seq: int) -> ProgressView:
    rooms = sorted(tender.evaluation.rooms.items())
    return ProgressView(
        tender.id, tender.state, [room_progress(room) for _, room in rooms],
        sorted(tender.lots_to_evaluate()), seq,
    )  # fmt: skip


def room_names(tender: Tender, room: Room) -> list[str]:
    """Whose names the room view shows: its members and its bidders."""
    bids = tender.context(room.lot, {}).bids
    return [*room.members, *(b.bidder for b in bids)]


def room_view(
    tender: Tender, room: Room, actor: Actor, names: Mapping[str, str], seq: int
) -> RoomView:
    spec = tender.spec
    everything = actor.role is Role.SUPERVISOR
    bids = tender.context(room.lot, {}).bids
    rejected = {r["bidder"] for r in (room.decided or {}).get("rejected", [])}
    compliant = room.compliant()

    def status(bidder: str) -> str:
        if bidder in rejected:
            return "rejected"
        return "compliant" if bidder in compliant else "in_review"

    return RoomView(
        progress=room_progress(room),
        tender=tender.id,
        you=room.members[actor.id].to_json() if actor.id in room.members else None,
        leader=room.leader,
        members=[
            MemberView(
                s.expert,
                names.get(s.expert, s.expert),
                s.specialty,
                s.site,
                s.workstation,
                s.expert in room.checked_in,
                s.expert in room.pledged,
            )
            for s in room.members.values()
        ],
        scheme=spec.scoring.to_json() if spec else None,
        opening_record=tender.opening.record,
        bids=[
            RoomBid(b.bidder, names.get(b.bidder, b.bidder), plain(b.price), status(b.bidder))
            for b in bids
        ],
        elections=list(room.elections),
        voted=sorted(room.votes),
        compliance_in=sorted(room.compliance),
        decided=room.decided,
        sheets=[
            _sheet(e, b, room.current(e, b))
            for (e, b) in sorted(room.sheets)
            if everything or e == actor.id
        ],
        flags=[
            f.to_json() | {"answer": room.answered.get(k, ("open", ""))[0]}
            for k, f in room.flags.items()
            if everything or f.expert == actor.id
        ],
        clarifications=[
            ClarificationView(c.id, c.bidder, c.question, c.answer)
            for c in room.clarifications.values()
        ],
        ranked=room.ranked,
        report=room.report,
        responses={e: a.document["type"] for e, a in room.responses.items()},
        result=result_document(room.result) if room.result is not None else None,
        seq=seq,
        replaced=[r.payload() for r in room.replaced] if everything else None,
        standby=list(room.standby) if everything else None,
    )


def _sheet(expert: str, bidder: str, version: SheetVersion) -> SheetView:
    scores = {c: plain(v) for c, v in version.scores.items()}
    return SheetView(expert, bidder, version.round, version.version, scores, version.comment)


def result_document(result: Mapping[str, Any]) -> ResultDocument:
    return ResultDocument(**result)


def result_view(tender: Tender, lot: str, result: Mapping[str, Any], seq: int) -> ResultView:
    return ResultView(tender.id, lot, result_document(result), seq)


# The supervisor's overview.


@dataclass(frozen=True, slots=True)
class OverviewTender:
    """One tender at a glance: its state, the opening's phase and bids, each room's progress."""

    id: str
    title: str
    state: TenderState
    bids_closed: bool
    opening_phase: str  # an opening Phase, or "not_started"
    bids: dict[str, int]  # how many bids stand in each opening status
    rooms: list[RoomProgress]
    seq: int


@dataclass(frozen=True, slots=True)
class OverviewView(View):
    """`GET /api/overview`: the live tenders and rooms, for supervisors (and the host)."""

    tenders: list[OverviewTender]


def overview_tender(tender: Tender, seq: int) -> OverviewTender:
    spec, state, session = tender.spec, tender.state, tender.opening
    if spec is None or state is None:  # pragma: no cover - only existing tenders get here
        raise NotFound(f"There is no tender {tender.id}.")
    counts: dict[str, int] = {}
    for bid in session.bids.values():
        counts[bid.state.value] = counts.get(bid.state.value, 0) + 1
    return OverviewTender(
        tender.id, spec.title, state, tender.bids_closed,
        session.phase.value if session.phase else "not_started", counts,
        [room_progress(room) for _, room in sorted(tender.evaluation.rooms.items())], seq,
    )  # fmt: skip


# Who is online.


@dataclass(frozen=True, slots=True)
class OnlineView:
    """One participant online: role, site and node, the tender it follows last, its
    workstation when known, since when."""

    participant: str
    role: str
    site: str
    node: str
    tender: str | None
    workstation: str | None
    since: str


@dataclass(frozen=True, slots=True)
class PresenceView(View):
    """`GET /api/presence`: who is online at which site, for supervisors and the admin."""

    online: list[OnlineView]


# What the node publishes a schema for, by the name in `GET /api/schema/{name}`.
CATALOGUE: Final[Mapping[str, type[View]]] = {
    "tender": TenderView,
    "tenders": TenderList,
    "opening": OpeningView,
    "opening-bid": OpeningBidView,
    "progress": ProgressView,
    "room": RoomView,
    "result": ResultView,
    "overview": OverviewView,
    "presence": PresenceView,
}
