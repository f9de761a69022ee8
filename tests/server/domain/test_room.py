"""One lot's evaluation room, synchronously: every stage, every check, every refusal, the fold.

The room is driven here as the node drives it (journeys.py): an expert's act is parsed, checked
by the room and recorded; then the node takes its steps until there are none.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from recordings.draw import draw
from server.demo.scoring import sample_scoring
from server.domain.committee import Arrival
from server.domain.errors import (
    AlreadyActed,
    BidNotInReview,
    CommitteeRuleBroken,
    DomainError,
    DrawNotReady,
    IncompleteSheet,
    InvalidTransition,
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
    UnknownClarification,
    WrongRoom,
    WrongStage,
    WrongWorkstation,
)
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
    RoomEvent,
    SheetSubmitted,
    SignedAct,
    SigningClosed,
    StageOpened,
    TimeExtended,
    TimeRequested,
    VoteCast,
)
from server.domain.room import ALLOWED, Room, Stage
from server.domain.room_fold import fold
from server.domain.tender import Due, TenderState
from server.domain.tender_events import TenderConcluded
from tests.server.domain.journeys import (
    BIDDERS,
    BUILDING,
    COST,
    DEADLINE,
    NORMAL,
    POOL,
    SEED,
    acted,
    check_in,
    closed,
    commit,
    comply,
    context,
    decide,
    draw_request,
    drawn,
    elect,
    history,
    in_session,
    members,
    pledge,
    read_out,
    replayed,
    results,
    room,
    room_at,
    run,
    score,
    score_everyone,
    seat_everyone,
    sign,
    steps,
    vote,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from server.domain.events import DomainEvent
    from server.domain.tender import Tender

A, B, C = BIDDERS
STAGES: list[Stage | None] = [None, *Stage]


@contextmanager
def refusal(kind: type[DomainError], match: str | None = None) -> Iterator[None]:
    """The block is refused with exactly `kind`, whose rule names it."""
    with pytest.raises(kind, match=match) as caught:
        yield
    assert type(caught.value) is kind
    assert caught.value.rule == kind.__name__


def kinds(events: list[DomainEvent]) -> list[type[DomainEvent]]:
    return [type(event) for event in events]


def stages(events: list[DomainEvent]) -> list[tuple[str, int]]:
    return [(e.stage, e.round) for e in events if isinstance(e, StageOpened)]


def same_when_replayed(tender: Tender) -> None:
    """The rooms rebuilt from the log's payloads equal the rooms as they were folded live."""
    again = replayed(tender)
    assert again.evaluation.rooms == tender.evaluation.rooms
    assert again.state is tender.state


def seat(tender: Tender, expert: str) -> str:
    return room(tender).members[expert].workstation


def replace(tender: Tender, expert: str, reason: str = "absent") -> list[DomainEvent]:
    """The host replaces a member at its workstation; then the node's steps."""
    events = tender.replace_member(DEADLINE, "L1", seat(tender, expert), reason)
    return run(tender, events) + steps(tender)


def successor(events: list[DomainEvent]) -> str:
    replaced = [e for e in events if isinstance(e, MemberReplaced)]
    assert len(replaced) == 1
    return str(replaced[0].seat["expert"])


def seat_and_pledge(tender: Tender, expert: str) -> list[DomainEvent]:
    return check_in(tender, expert) + pledge(tender, expert)


# The lifecycle table.


def _moving_to(target: Stage | None) -> RoomEvent:
    """A node event whose fold moves a room to `target`."""
    if target is None:
        return DrawFailed("L1", "00", "a quota can't be filled", DEADLINE)
    if target is Stage.DRAWN:
        return CommitteeDrawn("L1", "00", (), (), DEADLINE)
    if target is Stage.DONE:
        return ResultPublished("L1", {"report": {}})
    return StageOpened("L1", target.value, 1, DEADLINE)


@pytest.mark.parametrize("source", STAGES)
@pytest.mark.parametrize("target", STAGES)
def test_the_fold_follows_the_stage_table(source: Stage | None, target: Stage | None) -> None:
    folded = Room("L1", stage=source)
    if target in ALLOWED[source]:
        fold(folded, _moving_to(target))
        assert folded.stage is target
    else:
        with refusal(InvalidTransition, match="it can't become"):
            fold(folded, _moving_to(target))
        assert folded.stage is source


def test_a_commitment_is_a_move_of_the_table_too() -> None:
    tender = closed()
    committed = tender.commit_draw(
        DEADLINE, context(tender), draw_request(), POOL, (), "00", "sealed"
    )
    assert kinds(committed) == [DrawCommitted, StageOpened]
    twice = Room("L1", stage=Stage.DRAWN)
    with refusal(InvalidTransition, match="room is drawn; it can't become draw_committed"):
        fold(twice, committed[0])
    assert twice.stage is Stage.DRAWN


def test_the_table_covers_every_stage_and_ends_at_done() -> None:
    assert set(ALLOWED) == set(STAGES)
    assert ALLOWED[Stage.DONE] == frozenset()
    reachable = {target for targets in ALLOWED.values() for target in targets}
    assert reachable == set(STAGES)  # every stage is reached from some other


def edges(tender: Tender) -> set[tuple[Stage | None, Stage | None]]:
    """The stage moves lot L1's room made, replayed from the tender's history."""
    moves = (DrawCommitted, DrawFailed, CommitteeDrawn, StageOpened, ResultPublished)
    again, seen = Room("L1"), set()
    for event in history(tender):
        if isinstance(event, (RoomEvent, SignedAct)):
            before = again.stage
            fold(again, event)
            if isinstance(event, moves):
                seen.add((before, again.stage))
    return seen


def failed_then_done() -> Tender:
    """A draw that fails, a new one, and the room's straight path to its result."""
    tender = closed()
    short = draw_request(quotas=((COST, 5),))  # only 3 eligible cost experts
    run(tender, commit(tender, short))
    failed = run(tender, tender.reveal_draw(DEADLINE, "L1", SEED))
    assert kinds(failed) == [DrawFailed]
    assert room(tender).stage is None
    with refusal(DrawNotReady, match="no committee drawn"):
        tender.reveal_draw(DEADLINE, "L1", SEED)
    run(tender, commit(tender))
    run(tender, tender.reveal_draw(DEADLINE, "L1", SEED))
    run(tender, tender.start_evaluation(DEADLINE))
    steps(tender)
    seat_everyone(tender)
    elect(tender)
    comply(tender)
    score_everyone(tender)
    for member in members(tender):
        sign(tender, member)
    assert room(tender).stage is Stage.DONE
    return tender


def split_vote() -> Tender:
    """No majority in round 1: a second round, then a leader."""
    tender = room_at(Stage.ELECTION)
    m = members(tender)
    events: list[DomainEvent] = []
    for voter, candidate in zip(m, [m[0], m[0], m[1], m[1], m[2]], strict=True):
        events = vote(tender, voter, candidate)
    assert kinds(events) == [VoteCast, ElectionHeld, StageOpened]
    held = events[1]
    assert isinstance(held, ElectionHeld)
    assert held.outcome["leader"] is None
    assert held.outcome["tally"] == {m[0]: 2, m[1]: 2, m[2]: 1}
    assert stages(events) == [("election", 2)]
    assert room(tender).votes == {}
    elect(tender, m[1])
    assert (room(tender).stage, room(tender).leader) == (Stage.COMPLIANCE, m[1])
    return tender


def flagged_rounds() -> Tender:
    """Round 1 raises an objective and an abnormal flag; round 2 answers them; the report."""
    tender = room_at(Stage.SCORING)
    m = members(tender)
    odd = {(m[1], A): NORMAL | {"T3": "10"}, (m[2], A): NORMAL | {"T1": "5", "T2": "5"}}
    score_everyone(tender, odd)
    r = room(tender)
    assert (r.stage, r.scoring_round) == (Stage.SCORING, 2)
    assert {key: flag.kind for key, flag in r.flags.items()} == {
        (m[1], A): "objective",
        (m[2], A): "abnormal",
    }
    with refusal(MustRevise):
        decide(tender, m[1], "flag-confirmation", round=2, bidder=A, reason="I am sure")
    score(tender, m[1], A, NORMAL, comment="misread the table")
    events = acted(tender, m[2], "flag-confirmation", round=2, bidder=A, reason="weak plan")
    assert kinds(events) == [FlagConfirmed, ChecksRun, Ranked, ReportIssued, StageOpened]
    checks = events[1]
    assert isinstance(checks, ChecksRun)
    assert checks.outcome["flags"] == []  # the confirmed abnormal score stands
    assert room(tender).stage is Stage.REPORT
    return tender


def leader_gone(stage: Stage) -> Tender:
    """The leader is replaced while the room is at `stage`; a new election, then back."""
    tender = room_at(stage)
    leader = room(tender).leader
    assert leader is not None
    before = room(tender).scoring_round
    newcomer = successor(replace(tender, leader, "unwell"))
    assert room(tender).leader is None
    assert room(tender).stage is stage  # waits for the successor's pledge
    events = seat_and_pledge(tender, newcomer)
    assert stages(events) == [("election", 2)]
    assert room(tender).after_election is stage
    events = []
    for member in members(tender):
        events = vote(tender, member, newcomer)
    resumed = before if stage is Stage.SCORING else 0
    assert stages(events) == [(stage.value, resumed)]
    assert (room(tender).stage, room(tender).leader) == (stage, newcomer)
    return tender


def all_rejected() -> Tender:
    """Every bid fails compliance: no scoring, the report straight away."""
    tender = room_at(Stage.COMPLIANCE)
    comply(tender, failing=BIDDERS)
    r = room(tender)
    assert r.stage is Stage.REPORT
    assert r.compliant() == []
    assert r.ranked is not None
    assert r.ranked["ranking"] == []
    return tender


JOURNEYS: list[Callable[[], Tender]] = [
    failed_then_done,
    split_vote,
    flagged_rounds,
    lambda: leader_gone(Stage.COMPLIANCE),
    lambda: leader_gone(Stage.SCORING),
    all_rejected,
]


def test_the_commands_walk_every_edge_of_the_table() -> None:
    allowed = {(s, t) for s, targets in ALLOWED.items() for t in targets}
    walked: set[tuple[Stage | None, Stage | None]] = set()
    for journey in JOURNEYS:
        tender = journey()
        walked |= edges(tender)
        same_when_replayed(tender)
    assert walked == allowed


@pytest.mark.parametrize("stage", list(Stage))
def test_a_room_at_each_stage_is_rebuilt_from_its_log(stage: Stage) -> None:
    tender = room_at(stage)
    assert room(tender).stage is stage
    same_when_replayed(tender)


# The draw.


def test_the_draw_is_committed_once_and_revealed_with_its_own_seed() -> None:
    tender = closed()
    with refusal(DrawNotReady, match="no committee drawn"):
        tender.reveal_draw(DEADLINE, "L1", SEED)
    run(tender, commit(tender))
    assert room(tender).stage is Stage.COMMITTED
    with refusal(DrawNotReady, match="already has a committed draw"):
        commit(tender)
    with refusal(DrawNotReady, match="not the one committed"):
        tender.reveal_draw(DEADLINE, "L1", bytes(32))
    events = run(tender, tender.reveal_draw(DEADLINE, "L1", SEED))
    assert kinds(events) == [CommitteeDrawn]
    r = room(tender)
    again = draw(SEED, POOL, draw_request(), r.commitment.avoid if r.commitment else ())
    assert list(r.members.values()) == list(again.members)
    assert r.standby == list(again.standby)
    assert not {"p-expert09", "p-expert10"} & (set(r.members) | set(r.standby))  # tied
    with refusal(DrawNotReady, match="no committed draw to reveal"):
        tender.reveal_draw(DEADLINE, "L1", SEED)
    same_when_replayed(tender)


def test_a_draw_must_make_a_lawful_committee() -> None:
    tender = closed()
    with refusal(CommitteeRuleBroken, match="add up to 3"):
        tender.commit_draw(
            DEADLINE, context(tender), draw_request(quotas=((BUILDING, 3),)), POOL, (), "00", "s"
        )
    assert "L1" not in tender.evaluation.rooms


def test_the_draw_waits_for_the_closed_opening() -> None:
    tender = read_out()
    with refusal(DrawNotReady, match="once the opening is closed"):
        tender.commit_draw(DEADLINE, context(tender), draw_request(), POOL, (), "00", "s")


# Check-in and the pledge.


def test_acts_wait_for_the_evaluation_and_the_check_in_stage() -> None:
    tender = drawn()
    first = members(tender)[0]
    site = room(tender).members[first].site
    with refusal(WrongStage, match="not under evaluation"):
        decide(tender, first, "check-in", site=site)
    run(tender, tender.start_evaluation(DEADLINE))  # the room opens at the node's next step
    with refusal(WrongStage, match="room is at drawn; this act belongs to"):
        decide(tender, first, "check-in", site=site)
    events = steps(tender)
    assert stages(events) == [("check_in", 0)]
    opened = events[0]
    assert isinstance(opened, StageOpened)
    assert opened.ends_at == DEADLINE + timedelta(minutes=240)
    assert kinds(check_in(tender, first)) == [CheckedIn]


def test_an_act_must_come_from_the_member_at_its_seat() -> None:
    tender = in_session(draw_request(address="10.0.0.1"))  # recorded, binding nothing
    main = next(e for e, s in room(tender).members.items() if s.site == "main")
    sub = next(e for e, s in room(tender).members.items() if s.site == "sub-1")
    with refusal(WrongRoom):
        decide(tender, main, "check-in", site="main", lot="L2")
    with refusal(WrongRoom):
        decide(tender, main, "check-in", site="main", tender="t-20261121-00000000000b")
    with refusal(NotACommitteeMember, match="is not a member"):
        decide(tender, room(tender).standby[0], "check-in", site="main")
    with refusal(WrongWorkstation, match="as drawn"):
        decide(tender, main, "check-in", site="main", workstation=seat(tender, sub))
    with refusal(WrongWorkstation, match="Check in at site main"):
        decide(tender, main, "check-in", site="sub-1")
    # The secondary venue has no node of its own: its workstations reach the main one.
    assert kinds(decide(tender, sub, "check-in", site="sub-1")) == [CheckedIn]
    assert kinds(decide(tender, main, "check-in", site="main")) == [CheckedIn]


def test_a_workstation_acts_through_its_site_s_node() -> None:
    tender = in_session(draw_request())
    main = next(e for e, s in room(tender).members.items() if s.site == "main")
    sub = next(e for e, s in room(tender).members.items() if s.site == "sub-1")
    cluster = frozenset({"main", "sub-1"})
    at_main, at_sub = Arrival("main", cluster), Arrival("sub-1", cluster)
    with refusal(WrongWorkstation, match="through that site's node"):
        decide(tender, main, "check-in", site="main", arrival=at_sub)
    with refusal(WrongWorkstation, match="through that site's node"):
        decide(tender, sub, "check-in", site="sub-1", arrival=at_main)
    assert kinds(decide(tender, main, "check-in", site="main", arrival=at_main)) == [CheckedIn]
    assert kinds(decide(tender, sub, "check-in", site="sub-1", arrival=at_sub)) == [CheckedIn]


def test_check_in_then_pledge_then_anything_else() -> None:
    tender = in_session()
    first = members(tender)[0]
    with refusal(NotCheckedIn, match="Check in first"):
        decide(tender, first, "pledge", conflicts=[])
    with refusal(NotCheckedIn, match="Check in and make the pledge first"):
        decide(tender, first, "time-request", reason="long documents")
    check_in(tender, first)
    with refusal(AlreadyActed, match="Already checked in"):
        decide(tender, first, "check-in", site=room(tender).members[first].site)
    with refusal(NotCheckedIn, match="make the pledge first"):
        decide(tender, first, "time-request", reason="long documents")
    assert kinds(pledge(tender, first)) == [Pledged]
    with refusal(AlreadyActed, match="pledge is made once"):
        decide(tender, first, "pledge", conflicts=[])
    assert room(tender).pledged == {first: ()}
    assert room(tender).stage is Stage.CHECK_IN  # the others have not pledged
    events: list[DomainEvent] = []
    for other in members(tender)[1:]:
        check_in(tender, other)
        events = pledge(tender, other)
    assert stages(events) == [("election", 1)]


def test_a_declared_conflict_replaces_the_member_from_the_standby() -> None:
    tender = in_session()
    first = members(tender)[0]  # a building expert; the standby are building experts
    check_in(tender, first)
    events = pledge(tender, first, (("投标人2 Bidder 2", "worked there"),))
    assert kinds(events) == [Pledged, MemberReplaced]
    gone = events[1]
    assert isinstance(gone, MemberReplaced)
    assert (gone.leaving, gone.by) == (first, "declaration")
    assert gone.reason == "declared conflict: 投标人2 Bidder 2: worked there"
    assert first not in gone.audience
    newcomer = successor(events)
    assert newcomer in gone.audience
    r = room(tender)
    assert first not in r.members
    assert first not in r.pledged
    assert first not in r.checked_in
    assert newcomer in r.members
    assert newcomer not in r.standby
    assert r.members[newcomer].workstation == "M-01"  # the seat it leaves
    with refusal(NotACommitteeMember, match="was replaced; its work here is void"):
        decide(tender, first, "time-request", reason="more time")
    with refusal(NotCheckedIn):
        decide(tender, newcomer, "time-request", reason="more time")
    same_when_replayed(tender)


def test_a_conflict_no_standby_can_cover_is_refused() -> None:
    tender = in_session()
    cost = next(e for e, s in room(tender).members.items() if s.specialty == COST)
    check_in(tender, cost)
    with refusal(NoStandbyLeft, match="No standby expert of 工程造价 is left"):
        decide(tender, cost, "pledge", conflicts=[{"organisation": "X", "reason": "kin"}])
    assert cost not in room(tender).pledged


def test_conflicts_still_to_be_replaced_count_against_the_standby() -> None:
    tender = in_session(draw_request(standby=1))
    first, second = [e for e, s in room(tender).members.items() if s.specialty == BUILDING][:2]
    conflict = [{"organisation": "X", "reason": "kin"}]
    check_in(tender, first)
    check_in(tender, second)
    run(tender, decide(tender, first, "pledge", conflicts=conflict))  # not yet replaced
    with refusal(NoStandbyLeft):
        decide(tender, second, "pledge", conflicts=conflict)
    assert kinds(steps(tender)) == [MemberReplaced]


# The election.


def test_votes_name_the_round_once_and_a_current_member() -> None:
    tender = room_at(Stage.CHECK_IN)
    first = members(tender)[0]
    seat_and_pledge(tender, first)
    with refusal(WrongStage, match="belongs to election"):
        decide(tender, first, "leader-vote", round=1, candidate=first)
    seat_everyone(tender)
    assert room(tender).round == 1
    with refusal(StaleRound, match="round 1"):
        decide(tender, first, "leader-vote", round=2, candidate=first)
    with refusal(UnknownCandidate):
        decide(tender, first, "leader-vote", round=1, candidate=room(tender).standby[0])
    events = vote(tender, first, first)
    assert kinds(events) == [VoteCast]
    assert events[0].visibility() >= {f"participant:{first}"}
    with refusal(AlreadyActed, match="Already voted in round 1"):
        decide(tender, first, "leader-vote", round=1, candidate=first)


def test_a_majority_elects_and_ties_go_to_the_lower_id() -> None:
    tender = split_vote()
    r = room(tender)
    assert [e["round"] for e in r.elections] == [1, 2]
    assert r.elections[0]["tally"] == {members(tender)[0]: 2, members(tender)[1]: 2,
                                      members(tender)[2]: 1}  # fmt: skip
    same_when_replayed(tender)


# Compliance.


def test_a_compliance_sheet_covers_every_bid_and_criterion_with_reasons() -> None:
    tender = room_at(Stage.COMPLIANCE)
    first = members(tender)[0]
    whole = results(tender)
    with refusal(IncompleteSheet, match="every bid"):
        decide(tender, first, "compliance-sheet", results={A: whole[A], B: whole[B]})
    partial = whole | {A: {"C1": whole[A]["C1"]}}
    with refusal(IncompleteSheet):
        decide(tender, first, "compliance-sheet", results=partial)
    with refusal(ReasonRequired, match="Regs 51"):
        decide(tender, first, "compliance-sheet", results=results(tender, (A,), reason="  "))
    events = acted(tender, first, "compliance-sheet", results=whole)
    assert kinds(events) == [ComplianceSubmitted]
    with refusal(AlreadyActed, match="sent once"):
        decide(tender, first, "compliance-sheet", results=whole)
    with refusal(WrongStage):
        decide(tender, first, "score-sheet", round=1, version=1, bidder=A, scores=NORMAL,
               comment="")  # fmt: skip


def test_most_members_failing_a_criterion_reject_the_bid() -> None:
    tender = room_at(Stage.COMPLIANCE)
    m = members(tender)
    events: list[DomainEvent] = []
    for i, member in enumerate(m):
        failing = (A, B) if i < 3 else (B,) if i == 3 else ()
        events = acted(tender, member, "compliance-sheet", results=results(tender, failing))
    decided = next(e for e in events if isinstance(e, ComplianceDecided))
    assert decided.outcome["compliant"] == [C]
    rejected = {r["bidder"]: r["failures"] for r in decided.outcome["rejected"]}
    assert set(rejected) == {A, B}
    c1 = "投标函签字盖章 signed and sealed bid letter"
    reasons = ["未盖章 not sealed"] * 3
    assert rejected[A] == [{"criterion": "C1", "name": c1, "fails": 3, "reasons": reasons}]
    assert rejected[B][0]["fails"] == 4
    assert stages(events) == [("scoring", 1)]
    with refusal(BidNotInReview, match="rejected at the compliance review"):
        decide(tender, m[0], "score-sheet", round=1, version=1, bidder=A, scores=NORMAL,
               comment="")  # fmt: skip
    with refusal(BidNotInReview, match="is not here"):
        decide(tender, m[0], "score-sheet", round=1, version=1, bidder="p-nobody01",
               scores=NORMAL, comment="")  # fmt: skip


def test_with_every_bid_rejected_the_report_follows_compliance() -> None:
    tender = all_rejected()
    r = room(tender)
    assert r.report is not None
    assert r.report["compliant"] == []
    assert [x["bidder"] for x in r.report["rejected"]] == list(BIDDERS)
    same_when_replayed(tender)


def test_the_lowest_price_method_ranks_by_price_without_scoring() -> None:
    prices = {A: "900000.00", B: "800000.00", C: "850000.00"}
    scheme = sample_scoring(method="lowest_evaluated_price", criteria=[], candidates=2)
    tender = in_session(prices=prices, scoring=scheme)
    seat_everyone(tender)
    elect(tender)
    comply(tender)
    r = room(tender)
    assert r.stage is Stage.REPORT
    assert r.sheets == {}
    assert r.ranked is not None
    assert [x["bidder"] for x in r.ranked["ranking"]] == [B, C, A]
    assert [x["score"] for x in r.ranked["ranking"]] == [None, None, None]
    assert r.ranked["candidates"] == [B, C]


# Scoring and the checks.


def test_a_score_sheet_is_the_next_version_of_a_full_sheet_in_range() -> None:
    tender = room_at(Stage.SCORING)
    first = members(tender)[0]

    def sheet(**changes: Any) -> list[DomainEvent]:
        fields: dict[str, Any] = {"round": 1, "version": 1, "bidder": A, "scores": NORMAL}
        fields["comment"] = ""
        return decide(tender, first, "score-sheet", **(fields | changes))

    with refusal(StaleRound, match="Scoring is in round 1"):
        sheet(round=2)
    with refusal(StaleVersion, match="next version of this sheet is 1"):
        sheet(version=2)
    with refusal(IncompleteSheet, match="every criterion"):
        sheet(scores={"T1": "24", "T2": "15"})
    with refusal(IncompleteSheet):
        sheet(scores=NORMAL | {"T9": "1"})
    with refusal(ScoreOffStep):
        sheet(scores=NORMAL | {"T1": "24.25"})
    with refusal(ScoreOutOfRange):
        sheet(scores=NORMAL | {"T2": "20.5"})
    assert kinds(sheet()) == [SheetSubmitted]
    score(tender, first, A)
    assert room(tender).current(first, A).scores == {
        "T1": Decimal(24),
        "T2": Decimal(15),
        "T3": Decimal(16),
    }
    with refusal(NotFlagged, match="GP87 64"):
        sheet(version=2)
    with refusal(NotFlagged):
        decide(tender, first, "flag-confirmation", round=1, bidder=A, reason="sure")
    with refusal(StaleRound):
        decide(tender, first, "flag-confirmation", round=2, bidder=A, reason="sure")


def test_flags_are_answered_once_by_revising_or_confirming() -> None:
    tender = room_at(Stage.SCORING)
    m = members(tender)
    odd = {(m[1], A): NORMAL | {"T3": "10"}, (m[2], A): NORMAL | {"T1": "5", "T2": "5"}}
    score_everyone(tender, odd)
    with refusal(StaleVersion):  # a replay of round 1's sheet
        decide(tender, m[1], "score-sheet", round=2, version=1, bidder=A, scores=NORMAL,
               comment="")  # fmt: skip
    with refusal(StaleRound):
        decide(tender, m[1], "score-sheet", round=1, version=2, bidder=A, scores=NORMAL,
               comment="")  # fmt: skip
    with refusal(NotFlagged):
        decide(tender, m[0], "score-sheet", round=2, version=2, bidder=A, scores=NORMAL,
               comment="")  # fmt: skip
    score(tender, m[1], A, NORMAL | {"T3": "10"}, comment="first try")
    with refusal(AlreadyActed, match="already revised"):
        score(tender, m[1], A, NORMAL)
    assert room(tender).stage is Stage.SCORING  # the abnormal flag is unanswered
    acted(tender, m[2], "flag-confirmation", round=2, bidder=A, reason="weak plan")
    r = room(tender)
    # m[1] revised, but to the same odd value: flagged again in round 3.
    assert (r.stage, r.scoring_round) == (Stage.SCORING, 3)
    assert set(r.flags) == {(m[1], A)}
    assert [(f["expert"], f["kind"], f["answer"], f["reason"], f["round"]) for f in r.flag_log] == [
        (m[1], "objective", "revised", "first try", 1),
        (m[2], "abnormal", "confirmed", "weak plan", 1),
    ]
    with refusal(NotFlagged):  # m[2]'s confirmation stands; it has no flag to answer again
        score(tender, m[2], A)
    score(tender, m[1], A, NORMAL, comment="agreed")
    assert room(tender).stage is Stage.REPORT
    same_when_replayed(tender)


def test_a_revised_abnormal_score_is_checked_again() -> None:
    tender = room_at(Stage.SCORING)
    m = members(tender)
    score_everyone(tender, {(m[2], A): NORMAL | {"T1": "5", "T2": "5"}})
    assert set(room(tender).flags) == {(m[2], A)}
    score(tender, m[2], A, NORMAL | {"T1": "6", "T2": "5"})  # still abnormal, not confirmed
    assert (room(tender).stage, set(room(tender).flags)) == (Stage.SCORING, {(m[2], A)})
    acted(tender, m[2], "flag-confirmation", round=3, bidder=A, reason="the plan is weak")
    assert room(tender).stage is Stage.REPORT


def test_the_rounds_complete_only_with_every_sheet() -> None:
    tender = room_at(Stage.SCORING)
    m = members(tender)
    for member in m[:-1]:
        for bidder in BIDDERS:
            score(tender, member, bidder)
    score(tender, m[-1], A)
    score(tender, m[-1], B)
    assert room(tender).stage is Stage.SCORING
    events = score(tender, m[-1], C)
    assert kinds(events) == [
        SheetSubmitted, ChecksRun, Ranked, ReportIssued, StageOpened
    ]  # fmt: skip


# Clarifications.


def test_only_the_leader_asks_and_bidders_answer_what_was_sent() -> None:
    tender = room_at(Stage.COMPLIANCE)
    leader, other = room(tender).leader, members(tender)[1]
    assert leader is not None
    assert leader != other
    with refusal(NotLeader, match="Regs 52"):
        decide(tender, other, "clarification-request", bidder=A, question="Warranty?")
    with refusal(BidNotInReview, match="no bid in this lot"):
        decide(tender, leader, "clarification-request", bidder="p-nobody01", question="?")
    events = acted(tender, leader, "clarification-request", bidder=A, question="Warranty?")
    assert kinds(events) == [ClarificationRequested, ClarificationSent]
    sent = events[1]
    assert isinstance(sent, ClarificationSent)
    assert (sent.outcome["clarification"], sent.outcome["bidder"]) == ("c1", A)
    with refusal(AlreadyActed, match="already waiting"):
        decide(tender, leader, "clarification-request", bidder=A, question="Warranty?")
    with refusal(UnknownClarification):
        tender.answer_clarification(DEADLINE, "L1", B, "c1", "5 years", "sig")
    with refusal(UnknownClarification):
        tender.answer_clarification(DEADLINE, "L1", A, "c9", "5 years", "sig")
    answered = run(tender, tender.answer_clarification(DEADLINE, "L1", A, "c1", "5 y", "sig"))
    assert kinds(answered) == [ClarificationAnswered]
    with refusal(UnknownClarification):
        tender.answer_clarification(DEADLINE, "L1", A, "c1", "again", "sig")
    assert room(tender).clarifications["c1"].answer == "5 y"
    # Answered: the same question may be asked again.
    events = acted(tender, leader, "clarification-request", bidder=A, question="Warranty?")
    assert kinds(events) == [ClarificationRequested, ClarificationSent]
    same_when_replayed(tender)


def test_clarifications_belong_to_compliance_and_scoring() -> None:
    tender = room_at(Stage.ELECTION)
    with refusal(WrongStage):
        decide(tender, members(tender)[0], "clarification-request", bidder=A, question="?")
    tender = room_at(Stage.SCORING)
    leader = room(tender).leader
    assert leader is not None
    acted(tender, leader, "clarification-request", bidder=A, question="Warranty?")
    score_everyone(tender)
    assert room(tender).stage is Stage.REPORT
    with refusal(WrongStage, match="report is out"):
        tender.answer_clarification(DEADLINE, "L1", A, "c1", "late", "sig")
    with refusal(DrawNotReady):
        tender.answer_clarification(DEADLINE, "L9", A, "c1", "late", "sig")


# More time.


def test_more_time_once_more_than_a_third_ask() -> None:
    tender = room_at(Stage.ELECTION)
    m = members(tender)
    ends = room(tender).ends_at
    assert ends is not None
    assert kinds(acted(tender, m[0], "time-request", reason="long")) == [TimeRequested]
    with refusal(AlreadyActed, match="asks for more time once"):
        decide(tender, m[0], "time-request", reason="long")
    events = acted(tender, m[1], "time-request", reason="long")  # 2 of 5 > a third
    assert kinds(events) == [TimeRequested, TimeExtended]
    assert room(tender).extended
    assert room(tender).ends_at == ends + timedelta(minutes=120)
    assert kinds(acted(tender, m[2], "time-request", reason="long")) == [TimeRequested]
    same_when_replayed(tender)


# The host's replacements.


def test_the_host_replaces_a_member_in_session_by_workstation() -> None:
    tender = drawn()
    run(tender, tender.start_evaluation(DEADLINE))
    with refusal(WrongStage, match="in session"):
        tender.replace_member(DEADLINE, "L1", "M-01", "absent")
    steps(tender)
    with refusal(WrongWorkstation, match="No member sits at workstation M-05"):
        tender.replace_member(DEADLINE, "L1", "M-05", "absent")
    with refusal(ReasonRequired):
        tender.replace_member(DEADLINE, "L1", "M-01", "  ")
    first = members(tender)[0]
    events = replace(tender, first)
    assert kinds(events) == [MemberReplaced]
    gone = events[0]
    assert isinstance(gone, MemberReplaced)
    assert (gone.leaving, gone.reason, gone.by) == (first, "absent", "host")
    second = next(m for m in members(tender) if room(tender).members[m].specialty == BUILDING)
    replace(tender, second)  # the second standby
    third = next(m for m in members(tender) if room(tender).members[m].specialty == BUILDING)
    with refusal(NoStandbyLeft, match="can't be completed from this draw"):
        tender.replace_member(DEADLINE, "L1", seat(tender, third), "absent")


def test_a_replaced_members_work_is_void() -> None:
    tender = room_at(Stage.SCORING)
    m = members(tender)
    leaving = m[1]
    score(tender, leaving, A)
    acted(tender, leaving, "time-request", reason="long")
    newcomer = successor(replace(tender, leaving))
    r = room(tender)
    assert not any(key[0] == leaving for key in r.sheets)
    assert leaving not in r.time_requests
    assert leaving not in r.compliance
    assert room(tender).stage is Stage.SCORING  # the leader stays: scoring goes on
    seat_and_pledge(tender, newcomer)
    score_everyone(tender)
    assert room(tender).stage is Stage.REPORT
    report = room(tender).report
    assert report is not None
    assert [x["expert"] for x in report["committee"]["replaced"]] == [leaving]
    same_when_replayed(tender)


def test_votes_for_a_replaced_member_are_void() -> None:
    tender = room_at(Stage.ELECTION)
    m = members(tender)
    leaving = m[2]  # a building expert: the standby can take its seat
    vote(tender, m[0], leaving)
    vote(tender, m[1], m[3])
    vote(tender, leaving, m[3])
    newcomer = successor(replace(tender, leaving))
    assert room(tender).votes == {m[1]: m[3]}
    seat_and_pledge(tender, newcomer)
    for member in [m[0], m[3], m[4], newcomer]:
        vote(tender, member, m[3])
    assert (room(tender).stage, room(tender).leader) == (Stage.COMPLIANCE, m[3])


def test_the_leader_left_during_compliance_and_scoring() -> None:
    same_when_replayed(leader_gone(Stage.COMPLIANCE))
    same_when_replayed(leader_gone(Stage.SCORING))


# The report, signatures and the result.


def test_members_sign_the_report_as_issued_within_the_signing_time() -> None:
    tender = room_at(Stage.REPORT)
    m = members(tender)
    r = room(tender)
    assert r.report is not None
    assert r.sign_until == DEADLINE + timedelta(minutes=60)
    assert r.next_due() == r.sign_until
    with refusal(StaleReport, match="fetch it again"):
        decide(tender, m[0], "report-signature", report_hash="0" * 64)
    assert kinds(sign(tender, m[0])) == [ReportSigned]
    with refusal(AlreadyActed, match="already signed or dissented"):
        sign(tender, m[0])
    dissent = acted(tender, m[1], "report-dissent", report_hash=r.report_hash,
                    reasons="The plan of B was underrated.")  # fmt: skip
    assert kinds(dissent) == [ReportDissented]
    late = r.sign_until
    with refusal(WrongStage, match="Regs 53"):
        sign(tender, m[2], now=late)
    assert tender.due(late - timedelta(seconds=1)) is None
    assert tender.due(late) is Due.CLOSE_SIGNING
    events = steps(tender, late)
    assert kinds(events) == [SigningClosed, ResultPublished, TenderConcluded]
    closing = events[0]
    assert isinstance(closing, SigningClosed)
    assert closing.outcome["deemed_agreed"] == m[2:]
    assert r.stage is Stage.DONE
    assert tender.state is TenderState.CONCLUDED
    assert r.next_due() is None
    assert r.result is not None
    assert [x["expert"] for x in r.result["signatures"]] == [m[0]]
    assert [x["expert"] for x in r.result["dissents"]] == [m[1]]
    same_when_replayed(tender)


def test_when_everyone_responds_the_result_is_out_at_once() -> None:
    tender = room_at(Stage.REPORT)
    m = members(tender)
    for member in m[:-1]:
        sign(tender, member)
    assert room(tender).stage is Stage.REPORT
    events = sign(tender, m[-1])
    assert kinds(events) == [ReportSigned, ResultPublished, TenderConcluded]
    result = room(tender).result
    assert result is not None
    assert result["deemed_agreed"] == []
    with refusal(WrongStage):  # the tender is concluded
        sign(tender, m[-1])
    assert steps(tender) == []


def test_signing_belongs_to_the_report_stage() -> None:
    tender = room_at(Stage.SCORING)
    with refusal(WrongStage, match="belongs to report"):
        decide(tender, members(tender)[0], "report-signature", report_hash="0" * 64)


def test_the_tender_waits_for_every_lot_with_bids() -> None:
    lots = [{"id": "L1", "name": "Lot 1"}, {"id": "L2", "name": "Lot 2"}]
    tender = room_at(Stage.REPORT, lots=lots)
    assert tender.lots_to_evaluate() == {"L1"}  # the journeys bid on L1 only
    for member in members(tender):
        sign(tender, member)
    assert tender.state is TenderState.CONCLUDED
    assert tender.evaluation.done({"L1"})
    assert not tender.evaluation.done({"L1", "L2"})


# The evaluation's own checks (evaluation.py).


def test_bid_documents_go_to_pledged_members_only() -> None:
    tender = in_session()
    first = members(tender)[0]
    ev = tender.evaluation
    with refusal(NotACommitteeMember, match="lot L2"):
        ev.check_reader("L2", first)
    with refusal(NotACommitteeMember):
        ev.check_reader("L1", room(tender).standby[0])
    with refusal(NotCheckedIn, match="before reading the bids"):
        ev.check_reader("L1", first)
    seat_and_pledge(tender, first)
    ev.check_reader("L1", first)


def test_the_evaluation_knows_its_rooms_and_deadlines() -> None:
    tender = closed()
    ev = tender.evaluation
    with refusal(DrawNotReady, match="Lot L1"):
        ev.room("L1")
    assert ev.next_due() is None
    assert not ev.done({"L1"})
    assert ev.done(set())
    tender = room_at(Stage.REPORT)
    assert tender.evaluation.next_due() == room(tender).sign_until
    assert tender.next_due() == room(tender).sign_until


def test_the_fold_ignores_what_is_not_a_room_event() -> None:
    folded = Room("L1")
    fold(folded, object())
    assert folded == Room("L1")


def test_acts_are_seen_by_their_author_or_the_whole_room() -> None:
    tender = room_at(Stage.ELECTION)
    m = members(tender)
    private = decide(tender, m[0], "leader-vote", round=1, candidate=m[0])[0]
    shared = decide(tender, m[0], "time-request", reason="long")[0]
    assert isinstance(private, SignedAct)
    assert isinstance(shared, SignedAct)
    assert private.audience == (m[0],)
    assert shared.audience == tuple(m)
