"""One lot's evaluation room (远程异地评标): the committee from its draw to the signed report.

Experts' acts (`act`) are checked here and recorded as they were signed. What follows from them
(the next stage, a tally, the checks, the report, the result) is the node's decision, taken by
`advance` on the state the acts left, one step at a time (docs/spec/evaluation.md section 4).
The state is folded from events in room_fold.py.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from recordings.documents import report_hash
from recordings.draw import DrawShortfall, draw, replacement, seed_hash, snapshot_hash
from recordings.vocabulary import ActType
from server.domain.committee import Arrival, committee_problem
from server.domain.errors import (
    AlreadyActed,
    BidNotInReview,
    CommitteeRuleBroken,
    DrawNotReady,
    IncompleteSheet,
    MustRevise,
    NoStandbyLeft,
    NotACommitteeMember,
    NotCheckedIn,
    NotFlagged,
    NotLeader,
    ReasonRequired,
    ScoreOffStep,
    ScoreOutOfRange,
    StaleReport,
    StaleRound,
    StaleVersion,
    UnknownCandidate,
    WrongRoom,
    WrongStage,
    WrongWorkstation,
)
from server.domain.evaluation_events import (
    ACT_EVENTS,
    ChecksRun,
    ClarificationSent,
    CommitteeDrawn,
    ComplianceDecided,
    DrawCommitted,
    DrawFailed,
    ElectionHeld,
    MemberReplaced,
    Ranked,
    ReportIssued,
    ResultPublished,
    SigningClosed,
    StageOpened,
    TimeExtended,
)
from server.domain.report import ranking, report_document, result_document
from server.domain.scores import run_checks, value_problem
from server.domain.spec import ScoringMethod
from server.protocol.times import format_time

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime
    from decimal import Decimal

    from recordings.draw import DrawRequest, PoolEntry, Seat
    from server.domain.acts import Act
    from server.domain.committee import RoomContext
    from server.domain.evaluation_events import SignedAct
    from server.domain.events import DomainEvent
    from server.domain.scores import Flag


class Stage(enum.StrEnum):
    COMMITTED = "draw_committed"
    DRAWN = "drawn"  # waiting for the evaluation to start
    CHECK_IN = "check_in"
    ELECTION = "election"
    COMPLIANCE = "compliance"
    SCORING = "scoring"
    REPORT = "report"
    DONE = "done"


# The room's lifecycle: from each stage (None: no draw standing), the stages it may move to.
# A stage "moves to itself" when it opens again: the committed draw's stage, opened right after
# the commitment; another election round; another scoring round. A failed draw leaves no stage.
ALLOWED: Final[Mapping[Stage | None, frozenset[Stage | None]]] = MappingProxyType(
    {
        None: frozenset({Stage.COMMITTED}),
        Stage.COMMITTED: frozenset({Stage.COMMITTED, Stage.DRAWN, None}),
        Stage.DRAWN: frozenset({Stage.CHECK_IN}),
        Stage.CHECK_IN: frozenset({Stage.ELECTION}),
        Stage.ELECTION: frozenset({Stage.ELECTION, Stage.COMPLIANCE, Stage.SCORING}),
        Stage.COMPLIANCE: frozenset({Stage.ELECTION, Stage.SCORING, Stage.REPORT}),
        Stage.SCORING: frozenset({Stage.SCORING, Stage.ELECTION, Stage.REPORT}),
        Stage.REPORT: frozenset({Stage.DONE}),
        Stage.DONE: frozenset(),
    }
)
IN_SESSION: Final = frozenset({Stage.CHECK_IN, Stage.ELECTION, Stage.COMPLIANCE, Stage.SCORING})
# The acts a member may do before it has checked in and pledged.
_ARRIVAL: Final = frozenset({ActType.CHECK_IN, ActType.PLEDGE})
# Votes and sheets are each member's own until the node's tally or checks: members judge
# independently, so only supervisors and the author see them as they come in.
_PRIVATE: Final = frozenset(
    {ActType.LEADER_VOTE, ActType.COMPLIANCE_SHEET, ActType.SCORE_SHEET, ActType.FLAG_CONFIRMATION}
)
_SIGNING: Final = frozenset({ActType.REPORT_SIGNATURE, ActType.REPORT_DISSENT})


@dataclass
class SheetVersion:
    round: int
    version: int
    scores: dict[str, Decimal]
    comment: str


@dataclass
class Clarification:
    id: str
    bidder: str
    question: str
    sent: bool = False
    answer: str | None = None


@dataclass
class Room:
    lot: str
    stage: Stage | None = None
    commitment: DrawCommitted | None = None
    request: DrawRequest | None = None
    snapshot: tuple[PoolEntry, ...] = ()
    seed: str | None = None
    members: dict[str, Seat] = field(default_factory=dict)
    standby: list[str] = field(default_factory=list)
    replaced: list[MemberReplaced] = field(default_factory=list)
    checked_in: set[str] = field(default_factory=set)
    pledged: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    election_round: int = 0
    votes: dict[str, str] = field(default_factory=dict)
    elections: list[dict[str, Any]] = field(default_factory=list)
    leader: str | None = None
    after_election: Stage = Stage.COMPLIANCE
    compliance: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    decided: Mapping[str, Any] | None = None
    scoring_round: int = 0
    sheets: dict[tuple[str, str], list[SheetVersion]] = field(default_factory=dict)
    flags: dict[tuple[str, str], Flag] = field(default_factory=dict)
    answered: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    confirmed: dict[tuple[str, str], int] = field(default_factory=dict)
    flag_log: list[dict[str, Any]] = field(default_factory=list)
    clarifications: dict[str, Clarification] = field(default_factory=dict)
    time_requests: set[str] = field(default_factory=set)
    extended: bool = False
    ends_at: datetime | None = None
    ranked: Mapping[str, Any] | None = None
    report: Mapping[str, Any] | None = None
    report_hash: str | None = None
    sign_until: datetime | None = None
    responses: dict[str, SignedAct] = field(default_factory=dict)
    result: Mapping[str, Any] | None = None

    @property
    def round(self) -> int:
        """The round acts must name: the election's, or the scoring's."""
        return self.election_round if self.stage is Stage.ELECTION else self.scoring_round

    def compliant(self) -> list[str]:
        return list(self.decided["compliant"]) if self.decided else []

    def current(self, expert: str, bidder: str) -> SheetVersion:
        return self.sheets[expert, bidder][-1]

    # The draw.

    def commit(
        self, now: datetime, ctx: RoomContext, request: DrawRequest,
        snapshot: tuple[PoolEntry, ...], avoid: tuple[str, ...], committed_seed: str,
        sealed_seed: str,
    ) -> list[DomainEvent]:  # fmt: skip
        """Commit to a seed and a pool snapshot (again only after a draw that failed)."""
        if self.stage is not None:
            raise DrawNotReady(f"Lot {self.lot} already has a committed draw.")
        problem = committee_problem(request, ctx.spec)
        if problem is not None:
            raise CommitteeRuleBroken(problem)
        entries = tuple(e.to_json() for e in snapshot)
        return [
            DrawCommitted(
                self.lot, committed_seed, snapshot_hash(snapshot), entries, request.to_json(),
                avoid, sealed_seed, now,
            ),
            StageOpened(self.lot, Stage.COMMITTED.value, 0, now),
        ]  # fmt: skip

    def reveal(self, now: datetime, seed: bytes) -> list[DomainEvent]:
        """Draw from the committed seed; a request the pool can't fill is recorded as failed."""
        commitment = self.commitment
        if self.stage is not Stage.COMMITTED or commitment is None or self.request is None:
            raise DrawNotReady(f"Lot {self.lot} has no committed draw to reveal.")
        if seed_hash(seed) != commitment.seed_hash:
            raise DrawNotReady("That seed is not the one committed to.")
        try:
            committee = draw(seed, self.snapshot, self.request, commitment.avoid)
        except DrawShortfall as exc:
            return [DrawFailed(self.lot, seed.hex(), str(exc), now)]
        # Supervisors only until the result: the standby list is nobody else's business, and
        # members learn the committee from their room.
        members = tuple(s.to_json() for s in committee.members)
        return [CommitteeDrawn(self.lot, seed.hex(), members, committee.standby, now)]

    def replace(self, now: datetime, workstation: str, reason: str) -> list[DomainEvent]:
        """The host's decision (an absent or unfit member), naming the workstation only."""
        if self.stage not in IN_SESSION:
            raise WrongStage("Members are replaced while the room is in session.")
        seat = next((s for s in self.members.values() if s.workstation == workstation), None)
        if seat is None:
            raise WrongWorkstation(f"No member sits at workstation {workstation}.")
        return [self._replacement(now, seat.expert, reason, "host")]

    def _successor(self, leaving: str) -> Seat:
        return self._successors([leaving])[-1]

    def _successors(self, leaving: list[str]) -> list[Seat]:
        """The seats that replace `leaving`, one after the other, as the draw gives them."""
        if self.request is None:  # pragma: no cover - members exist only after a draw
            raise DrawNotReady("There is no draw.")
        members, standby, seats = list(self.members.values()), list(self.standby), []
        for expert in leaving:
            try:
                seat = replacement(self.snapshot, self.request, members, standby, expert)
            except DrawShortfall as exc:
                raise NoStandbyLeft(
                    f"{exc} No standby expert fits; the committee can't be completed from "
                    "this draw."
                ) from None
            members = [s for s in members if s.expert != expert] + [seat]
            standby = [e for e in standby if e != seat.expert]
            seats.append(seat)
        return seats

    def _replacement(self, now: datetime, leaving: str, reason: str, by: str) -> MemberReplaced:
        seat = self._successor(leaving)
        # The one leaving is not told who takes its seat (it may have just declared a tie).
        audience = (*(m for m in self.members if m != leaving), seat.expert)
        return MemberReplaced(self.lot, leaving, reason, by, seat.to_json(), now, audience=audience)

    # Experts' acts.

    def act(
        self, now: datetime, ctx: RoomContext, act: Act, signature: str, arrival: Arrival
    ) -> list[DomainEvent]:
        """Check an expert's signed act against the room; the event records it as signed.

        The seat binds the act to its workstation and to its site's node (`Arrival`); the
        seat's network address, if the draw gave one, is recorded information only."""
        if (act.tender, act.lot) != (ctx.tender, self.lot):
            raise WrongRoom("The act names another tender or lot than this room.")
        seat = self.members.get(act.expert)
        if seat is None:
            gone = any(r.leaving == act.expert for r in self.replaced)
            why = "was replaced; its work here is void" if gone else "is not a member"
            raise NotACommitteeMember(f"{act.expert} {why} (lot {self.lot}).")
        if act.workstation != seat.workstation or not arrival.through(seat.site):
            raise WrongWorkstation(
                f"Act from workstation {seat.workstation} at site {seat.site}, as drawn, "
                "through that site's node."
            )
        if act.type not in _ARRIVAL and act.expert not in self.pledged:
            raise NotCheckedIn("Check in and make the pledge first.")
        _CHECKS[act.type](self, ctx, act)
        if act.type in _SIGNING and self.sign_until is not None and now >= self.sign_until:
            raise WrongStage("The signing time is over (Regs 53): silence counts as agreeing.")
        audience = (act.expert,) if act.type in _PRIVATE else tuple(self.members)
        return [ACT_EVENTS[act.type](dict(act.document), signature, audience=audience)]

    def _at(self, *stages: Stage) -> None:
        if self.stage not in stages:
            names = " or ".join(s.value for s in stages)
            now = self.stage.value if self.stage else "not drawn"
            raise WrongStage(f"The room is at {now}; this act belongs to {names}.")

    def _check_in(self, ctx: RoomContext, act: Act) -> None:
        self._at(*IN_SESSION)
        if act.expert in self.checked_in:
            raise AlreadyActed("Already checked in.")
        if act.site != self.members[act.expert].site:
            raise WrongWorkstation(f"Check in at site {self.members[act.expert].site}.")

    def _pledge(self, ctx: RoomContext, act: Act) -> None:
        self._at(*IN_SESSION)
        if act.expert not in self.checked_in:
            raise NotCheckedIn("Check in first.")
        if act.expert in self.pledged:
            raise AlreadyActed("The pledge is made once.")
        if act.conflicts:  # recorded only if it can be met, with those still to be replaced
            pending = [e for e, said in self.pledged.items() if said and e in self.members]
            self._successors([*pending, act.expert])

    def _vote(self, ctx: RoomContext, act: Act) -> None:
        self._at(Stage.ELECTION)
        if act.round != self.election_round:
            raise StaleRound(f"The election is in round {self.election_round}.")
        if act.expert in self.votes:
            raise AlreadyActed(f"Already voted in round {self.election_round}.")
        if act.candidate not in self.members:
            raise UnknownCandidate("Vote for a current member of the committee.")

    def _compliance(self, ctx: RoomContext, act: Act) -> None:
        self._at(Stage.COMPLIANCE)
        if act.expert in self.compliance:
            raise AlreadyActed("The compliance sheet is sent once.")
        wanted = {c for c, _ in ctx.spec.scoring.compliance}
        if set(act.results) != {b.bidder for b in ctx.bids} or any(
            set(criteria) != wanted for criteria in act.results.values()
        ):
            raise IncompleteSheet("Give a result for every bid and every compliance criterion.")
        if any(not ok and not why.strip() for c in act.results.values() for ok, why in c.values()):
            raise ReasonRequired("Every fail needs its reason (Regs 51).")

    def _score(self, ctx: RoomContext, act: Act) -> None:
        self._at(Stage.SCORING)
        if act.bidder not in self.compliant():
            why = "was rejected at the compliance review" if ctx.bid(act.bidder) else "is not here"
            raise BidNotInReview(f"The bid of {act.bidder} {why}.")
        if act.round != self.scoring_round:
            raise StaleRound(f"Scoring is in round {self.scoring_round}.")
        versions = self.sheets.get((act.expert, act.bidder), [])
        if act.version != len(versions) + 1:
            raise StaleVersion(f"The next version of this sheet is {len(versions) + 1}.")
        if versions:
            self._flagged((act.expert, act.bidder), revising=True)
        scheme = ctx.spec.scoring
        if set(act.scores) != {c.id for c in scheme.criteria}:
            raise IncompleteSheet("Score every criterion of the tender, and only those.")
        for criterion in scheme.criteria:
            problem = value_problem(criterion, act.scores[criterion.id])
            if problem is not None:
                rule, message = problem
                raise (ScoreOffStep if rule == "ScoreOffStep" else ScoreOutOfRange)(message)

    def _confirm(self, ctx: RoomContext, act: Act) -> None:
        self._at(Stage.SCORING)
        if act.round != self.scoring_round:
            raise StaleRound(f"Scoring is in round {self.scoring_round}.")
        self._flagged((act.expert, act.bidder), revising=False)

    def _flagged(self, key: tuple[str, str], *, revising: bool) -> None:
        flag = self.flags.get(key)
        if flag is None:
            raise NotFlagged("Only a flagged score may be revised or confirmed (GP87 64).")
        if key in self.answered:
            raise AlreadyActed(f"This flag was already {self.answered[key][0]}.")
        if not revising and flag.kind == "objective":
            raise MustRevise("Objective scores must agree: revise this one.")

    def _clarify(self, ctx: RoomContext, act: Act) -> None:
        self._at(Stage.COMPLIANCE, Stage.SCORING)
        if act.expert != self.leader:
            raise NotLeader("Only the leader sends clarification requests (Regs 52).")
        if ctx.bid(act.bidder) is None:
            raise BidNotInReview(f"{act.bidder} has no bid in this lot's evaluation.")
        if any(
            (c.bidder, c.question, c.answer) == (act.bidder, act.text, None)
            for c in self.clarifications.values()
        ):
            raise AlreadyActed("This question to this bidder is already waiting for its answer.")

    def _time(self, ctx: RoomContext, act: Act) -> None:
        self._at(*IN_SESSION)
        if act.expert in self.time_requests:
            raise AlreadyActed("Each member asks for more time once.")

    def _sign(self, ctx: RoomContext, act: Act) -> None:
        self._at(Stage.REPORT)
        if act.report_hash != self.report_hash:
            raise StaleReport("That is not the report as issued; fetch it again.")
        if act.expert in self.responses:
            raise AlreadyActed("The report was already signed or dissented from.")

    # What follows, decided by the node.

    def advance(self, now: datetime, ctx: RoomContext, evaluating: bool) -> list[DomainEvent]:
        """The next step the room's state calls for, or nothing; the service repeats it."""
        members = tuple(self.members)
        if self.stage is Stage.DRAWN and evaluating:
            ends = now + ctx.spec.scoring.evaluation_time
            return [StageOpened(self.lot, Stage.CHECK_IN.value, 0, now, ends, audience=members)]
        if self.stage in IN_SESSION:
            for step in (self._conflicts, self._questions, self._more_time, self._next_stage):
                events = step(now, ctx, members)
                if events:
                    return events
        if self.stage is Stage.REPORT:
            return self._close_report(now, ctx, members)
        return []

    def _conflicts(
        self, now: datetime, ctx: RoomContext, members: tuple[str, ...]
    ) -> list[DomainEvent]:
        for expert, conflicts in self.pledged.items():
            if conflicts and expert in self.members:
                said = "; ".join(f"{org}: {why}" for org, why in conflicts)
                return [self._replacement(now, expert, f"declared conflict: {said}", "declaration")]
        return []

    def _questions(
        self, now: datetime, ctx: RoomContext, members: tuple[str, ...]
    ) -> list[DomainEvent]:
        for item in self.clarifications.values():
            if not item.sent:
                outcome = {"clarification": item.id, "bidder": item.bidder,
                           "question": item.question, "at": format_time(now)}  # fmt: skip
                return [ClarificationSent(self.lot, outcome, audience=members)]
        return []

    def _more_time(
        self, now: datetime, ctx: RoomContext, members: tuple[str, ...]
    ) -> list[DomainEvent]:
        asked = len(self.time_requests & set(members))
        if self.extended or asked * 3 <= len(members) or self.ends_at is None:
            return []
        ends = self.ends_at + ctx.spec.scoring.evaluation_time / 2
        outcome = {"requests": asked, "ends_at": format_time(ends), "at": format_time(now)}
        return [TimeExtended(self.lot, outcome, audience=members)]

    def _next_stage(
        self, now: datetime, ctx: RoomContext, members: tuple[str, ...]
    ) -> list[DomainEvent]:
        present = set(members)
        if self.stage in (Stage.COMPLIANCE, Stage.SCORING) and self.leader is None:
            if not present <= set(self.pledged):
                return []  # the leader left: elect another once its successor has pledged
            again = self.election_round + 1
            return [StageOpened(self.lot, Stage.ELECTION.value, again, now, audience=members)]
        if self.stage is Stage.CHECK_IN and present <= set(self.pledged):
            return [StageOpened(self.lot, Stage.ELECTION.value, 1, now, audience=members)]
        if self.stage is Stage.ELECTION and present <= set(self.votes):
            return self._tally(now, members)
        if self.stage is Stage.COMPLIANCE and self.decided is None:
            if present <= set(self.compliance):
                decided = self._decide_compliance(ctx)
                return [ComplianceDecided(self.lot, decided, audience=members)]
            return []
        if self.stage is Stage.COMPLIANCE:
            scheme = ctx.spec.scoring
            if scheme.method is ScoringMethod.COMPREHENSIVE and self.compliant():
                return [StageOpened(self.lot, Stage.SCORING.value, 1, now, audience=members)]
            return self._conclude(now, ctx, members)
        if self.stage is Stage.SCORING and self.ranked is not None:
            return self._conclude(now, ctx, members)
        if self.stage is Stage.SCORING and self._round_complete():
            return self._checks(now, ctx, members)
        return []

    def _tally(self, now: datetime, members: tuple[str, ...]) -> list[DomainEvent]:
        tally = Counter(self.votes[m] for m in members)
        top, count = min(tally.items(), key=lambda item: (-item[1], item[0]))
        leader = top if count * 2 > len(members) else None
        outcome = {"round": self.election_round, "tally": dict(sorted(tally.items())),
                   "leader": leader, "at": format_time(now)}  # fmt: skip
        held = ElectionHeld(self.lot, outcome, audience=members)
        if leader is None:
            again = self.election_round + 1
            return [held, StageOpened(self.lot, Stage.ELECTION.value, again, now, audience=members)]
        stage = self.after_election
        resume = self.scoring_round if stage is Stage.SCORING else 0
        return [held, StageOpened(self.lot, stage.value, resume, now, audience=members)]

    def _decide_compliance(self, ctx: RoomContext) -> dict[str, Any]:
        """A criterion fails a bid if most members fail it; one failed criterion rejects it."""
        members = list(self.members)
        rejected = []
        for bid in ctx.bids:
            failures = []
            for criterion, name in ctx.spec.scoring.compliance:
                results = [self.compliance[m][bid.bidder][criterion] for m in members]
                reasons = [str(r["reason"]) for r in results if not r["pass"]]
                if len(reasons) * 2 > len(members):
                    failures.append({"criterion": criterion, "name": name,
                                     "fails": len(reasons), "reasons": reasons})  # fmt: skip
            if failures:
                rejected.append({"bidder": bid.bidder, "failures": failures})
        gone = {r["bidder"] for r in rejected}
        return {"compliant": [b.bidder for b in ctx.bids if b.bidder not in gone],
                "rejected": rejected}  # fmt: skip

    def _round_complete(self) -> bool:
        bidders = self.compliant()
        everyone = all((m, b) in self.sheets for m in self.members for b in bidders)
        return everyone and all(key in self.answered for key in self.flags)

    def _checks(
        self, now: datetime, ctx: RoomContext, members: tuple[str, ...]
    ) -> list[DomainEvent]:
        bidders = self.compliant()
        latest = {(m, b): self.current(m, b).scores for m in members for b in bidders}
        standing = [
            k for k, v in self.confirmed.items() if k in latest and v == len(self.sheets[k])
        ]
        flags = run_checks(ctx.spec.scoring, latest, members, bidders, standing)
        outcome = {"round": self.scoring_round, "flags": [f.to_json() for f in flags],
                   "at": format_time(now)}  # fmt: skip
        run = ChecksRun(self.lot, outcome, audience=members)
        if flags:
            again = self.scoring_round + 1
            return [run, StageOpened(self.lot, Stage.SCORING.value, again, now, audience=members)]
        return [run, Ranked(self.lot, ranking(self, ctx), audience=members)]

    def _conclude(
        self, now: datetime, ctx: RoomContext, members: tuple[str, ...]
    ) -> list[DomainEvent]:
        """Rank (if the scores did not), then issue the report for signing (Regs 53)."""
        if self.ranked is None:
            return [Ranked(self.lot, ranking(self, ctx), audience=members)]
        report = report_document(self, ctx, now)
        until = now + ctx.spec.scoring.signing_time
        outcome = {"report": report, "report_hash": report_hash(report),
                   "sign_until": format_time(until)}  # fmt: skip
        return [
            ReportIssued(self.lot, outcome, audience=members),
            StageOpened(self.lot, Stage.REPORT.value, 0, now, audience=members),
        ]

    def _close_report(
        self, now: datetime, ctx: RoomContext, members: tuple[str, ...]
    ) -> list[DomainEvent]:
        if self.result is not None or self.sign_until is None:
            return []  # pragma: no cover - the report stage always has its deadline
        silent = [m for m in members if m not in self.responses]
        if silent and now < self.sign_until:
            return []
        events: list[DomainEvent] = []
        if silent:
            closed = {"deemed_agreed": silent, "at": format_time(now)}
            events.append(SigningClosed(self.lot, closed, audience=members))
        return [*events, ResultPublished(self.lot, result_document(self, ctx, silent, now))]

    def next_due(self) -> datetime | None:
        return self.sign_until if self.stage is Stage.REPORT and self.result is None else None


_CHECKS: Final[Mapping[str, Callable[[Room, RoomContext, Act], None]]] = {
    ActType.CHECK_IN: Room._check_in,
    ActType.PLEDGE: Room._pledge,
    ActType.LEADER_VOTE: Room._vote,
    ActType.COMPLIANCE_SHEET: Room._compliance,
    ActType.SCORE_SHEET: Room._score,
    ActType.FLAG_CONFIRMATION: Room._confirm,
    ActType.CLARIFICATION_REQUEST: Room._clarify,
    ActType.TIME_REQUEST: Room._time,
    ActType.REPORT_SIGNATURE: Room._sign,
    ActType.REPORT_DISSENT: Room._sign,
}
