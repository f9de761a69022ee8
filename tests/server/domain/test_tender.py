"""The tender aggregate, synchronously: lifecycle table, time rules, spec validation, fold."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from server.domain.catalogue import CATALOGUE, decode_event
from server.domain.errors import (
    BiddingNotOpenYet,
    DeadlineNotReached,
    InvalidTransition,
    OpeningNotReady,
    OpeningTimeNotReached,
    ReasonRequired,
    ScheduleInPast,
)
from server.domain.events import PUBLIC, DomainEvent
from server.domain.spec import TenderSpec
from server.domain.tender import ALLOWED, Due, Tender, TenderState
from server.domain.tender_events import OpeningStarted, TenderCreated
from server.protocol.fields import InvalidFields
from tests.conftest import START, tender_spec

if TYPE_CHECKING:
    from collections.abc import Callable

from tests.server.domain.journeys import (
    DEADLINE,
    OPENS,
    close_bidding,
    publish,
    replayed,
    run,
    sealed_lists,
    spec,
    tender_in,
)

S = TenderState


def _start_opening(tender: Tender) -> list[DomainEvent]:
    if tender.state is S.BIDDING and not tender.bids_closed:
        run(tender, close_bidding(tender))  # the deadline's sealing
    return tender.start_opening(DEADLINE)


COMMANDS: dict[TenderState, Callable[[Tender], list[DomainEvent]]] = {
    S.PUBLISHED: publish,
    S.BIDDING: lambda t: t.open_bidding(OPENS),
    S.OPENING: _start_opening,
    S.EVALUATING: lambda t: t.start_evaluation(DEADLINE),
    S.CONCLUDED: lambda t: t.conclude(DEADLINE, "done"),
    S.FAILED: lambda t: t.fail(DEADLINE, "fewer than three bids"),
    S.CANCELLED: lambda t: t.cancel(DEADLINE, "cancelled by the tenderer"),
}


@pytest.mark.parametrize("source", list(TenderState))
@pytest.mark.parametrize("target", list(COMMANDS))
def test_every_transition_follows_the_table(source: TenderState, target: TenderState) -> None:
    tender = tender_in(source)
    command = COMMANDS[target]
    if target in ALLOWED[source]:
        run(tender, command(tender))
        assert tender.state is target
    else:
        with pytest.raises(InvalidTransition, match=f"is {source}; it can't become {target}"):
            command(tender)
        assert tender.state is source


def test_terminal_states_allow_nothing() -> None:
    for state in (S.CONCLUDED, S.FAILED, S.CANCELLED):
        assert ALLOWED[state] == frozenset()


def test_commands_do_not_change_state_until_applied() -> None:
    tender = tender_in(S.DRAFT)
    events = publish(tender)
    states = [tender.state]
    run(tender, events)
    states.append(tender.state)
    assert states == [S.DRAFT, S.PUBLISHED]


def test_publishing_after_the_deadline_is_refused() -> None:
    with pytest.raises(ScheduleInPast, match="has passed"):
        publish(tender_in(S.DRAFT), DEADLINE)


def test_bidding_opens_at_its_time() -> None:
    tender = tender_in(S.PUBLISHED)
    with pytest.raises(BiddingNotOpenYet):
        tender.open_bidding(OPENS - timedelta(microseconds=1))
    assert [e.TYPE for e in tender.open_bidding(OPENS)] == ["tender.bidding_opened"]


def test_the_opening_cannot_start_before_the_deadline() -> None:
    tender = tender_in(S.BIDDING)
    with pytest.raises(OpeningTimeNotReached) as caught:
        tender.start_opening(DEADLINE - timedelta(seconds=1))
    assert caught.value.cite == "E-Measures 29"


def test_the_opening_needs_the_bids_sealed_first() -> None:
    with pytest.raises(OpeningNotReady, match="sealed at the deadline"):
        tender_in(S.BIDDING).start_opening(DEADLINE)


def test_bidding_closes_at_the_deadline_and_only_once() -> None:
    tender = tender_in(S.BIDDING)
    with pytest.raises(DeadlineNotReached):
        tender.close_bidding(DEADLINE - timedelta(seconds=1), sealed_lists(tender), {})
    with pytest.raises(InvalidTransition, match="Every lot"):
        tender.close_bidding(DEADLINE, [], {})
    events = run(tender, close_bidding(tender))
    assert [e.TYPE for e in events] == ["tender.bidding_closed", "lot.sealed"]
    with pytest.raises(InvalidTransition):
        tender.close_bidding(DEADLINE, sealed_lists(tender), {})
    assert [type(e).__name__ for e in tender.start_opening(DEADLINE)] == [
        "OpeningStarted",
        "DecryptionStarted",
    ]


def test_the_schedule_says_what_is_due_and_when() -> None:
    tender = tender_in(S.DRAFT)
    assert tender.next_due() is None
    run(tender, publish(tender))
    assert tender.next_due() == OPENS
    assert tender.due(OPENS - timedelta(seconds=1)) is None
    assert tender.due(OPENS) is Due.OPEN_BIDDING
    run(tender, tender.open_bidding(OPENS))
    assert tender.next_due() == DEADLINE
    assert tender.due(DEADLINE) is Due.CLOSE_BIDDING
    run(tender, close_bidding(tender))
    assert tender.next_due() is None
    assert tender.due(DEADLINE + timedelta(days=9)) is None


@pytest.mark.parametrize("reason", ["", "   ", "x" * 2001])
def test_ending_a_tender_needs_a_reason(reason: str) -> None:
    with pytest.raises(ReasonRequired):
        tender_in(S.BIDDING).cancel(DEADLINE, reason)


def test_creating_twice_is_refused_by_the_fold() -> None:
    tender = tender_in(S.DRAFT)
    with pytest.raises(InvalidTransition):
        tender.apply(TenderCreated(spec(), "p-host"))


def test_a_missing_tender_refuses_commands() -> None:
    with pytest.raises(InvalidTransition, match="does not exist"):
        Tender("t-none").start_opening(START)
    assert Tender("t-none").due(START) is None


def test_a_whole_life_replays_from_its_payloads() -> None:
    tender = tender_in(S.CANCELLED)
    again = replayed(tender)
    assert again.state is tender.state
    assert again.ended_reason == "halted by the supervisor"
    assert again.opening.phase is tender.opening.phase
    assert again.bids.sealed == tender.bids.sealed
    assert {k: b.state for k, b in again.opening.bids.items()} == {
        k: b.state for k, b in tender.opening.bids.items()
    }


def test_every_public_event_is_seen_by_supervisors() -> None:
    for entry in CATALOGUE.values():
        assert "supervisor" in entry.event.VISIBILITY, entry.event.TYPE
    assert "expert" not in OpeningStarted.VISIBILITY  # GP87 40
    assert OpeningStarted.VISIBILITY < PUBLIC
    assert "bidder" not in TenderCreated.VISIBILITY  # drafts are internal


def test_spec_round_trips() -> None:
    original = spec()
    assert TenderSpec.parse(original.to_json()) == original


def test_spec_reports_every_problem_at_once() -> None:
    document = tender_spec(START)
    document["title"] = ""
    document["lots"] = [{"id": "bad id!", "name": "x"}, {"id": "L2"}]
    document["committee"] = {"size": 6, "large": "no"}
    document["schedule"]["deadline"] = "tomorrow"
    document["scoring"]["method"] = "lottery"
    document["extra"] = 1
    with pytest.raises(InvalidFields) as caught:
        TenderSpec.parse(document)
    paths = {problem.path for problem in caught.value.problems}
    assert paths >= {
        "title",
        "lots[0].id",
        "lots[1].name",
        "committee.size",
        "committee.large",
        "schedule.deadline",
        "scoring.method",
        "extra",
    }


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"committee": {"size": 5, "large": True}}, "committee.size", "at least 7"),
        ({"committee": {"size": 7, "large": False}}, None, None),
        ({"committee": {"size": 4, "large": False}}, "committee.size", "between 5"),
        ({"min_bids": 2}, "min_bids", "between 3"),
        ({"lots": [{"id": "A", "name": "a"}, {"id": "A", "name": "b"}]}, "lots", "unique"),
        ({"lots": []}, "lots", "1 to 50"),
    ],
)
def test_spec_rules(changes: dict[str, Any], path: str | None, message: str | None) -> None:
    if path is None:
        spec(**changes)
        return
    with pytest.raises(InvalidFields) as caught:
        spec(**changes)
    assert any(p.path == path and str(message) in p.message for p in caught.value.problems)


def test_deadline_must_follow_bidding_start() -> None:
    document = tender_spec(START)
    document["schedule"]["deadline"] = document["schedule"]["bidding_opens_at"]
    with pytest.raises(InvalidFields, match="must be after bidding_opens_at"):
        TenderSpec.parse(document)


def test_spec_times_are_normalised_to_utc() -> None:
    document = tender_spec(START)
    document["schedule"]["bidding_opens_at"] = "2026-11-21T18:00:00+08:00"
    parsed = TenderSpec.parse(document)
    assert parsed.bidding_opens_at == datetime.fromisoformat("2026-11-21T10:00:00+00:00")


def test_cancelling_a_never_published_tender_stays_internal() -> None:
    (draft_cancel,) = tender_in(S.DRAFT).cancel(DEADLINE, "withdrawn")
    (public_cancel,) = tender_in(S.PUBLISHED).cancel(DEADLINE, "re-tender")
    assert draft_cancel.visibility() == {"host", "supervisor"}
    assert public_cancel.visibility() == PUBLIC
    assert decode_event(draft_cancel.TYPE, draft_cancel.payload()) == draft_cancel
