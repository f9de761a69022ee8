"""The opening session and the bid box, synchronously: every rule and the fold."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from server.domain.bidbox import MAX_RECEIPTS_PER_LOT, BidBox
from server.domain.errors import (
    AlreadyResponded,
    BiddingNotOpenYet,
    BidNotPending,
    ConfirmationWindowClosed,
    DeadlinePassed,
    DecryptionInProgress,
    DecryptionWindowClosed,
    DuplicateBid,
    InvalidTransition,
    NoBid,
    NotACustodian,
    NotSignedIn,
    OpeningNotReady,
    OpeningStillOpen,
    SignInNotOpen,
    TooManyRevisions,
    UnknownLot,
    UnknownObjection,
)
from server.domain.opening import ALLOWED, MAX_ATTEMPTS, BidState, Opening, Phase, sheet_problem
from server.domain.opening_events import (
    BidFailed,
    DecryptionClosed,
    DecryptionPaused,
    DecryptionResumed,
    DecryptionStarted,
    OpeningClosed,
    RecordPublished,
    ResendRequested,
    ShareSubmitted,
)
from server.domain.tender import Tender, TenderState
from server.protocol import box_stream
from tests.server.domain.journeys import (
    BIDDERS,
    DEADLINE,
    OPENS,
    TENDER,
    bidding,
    box_of,
    close_bidding,
    closed,
    decrypted,
    history,
    into_box,
    opening,
    read_out,
    receipt,
    replayed,
    run,
    sheet,
    spec,
)

if TYPE_CHECKING:
    from server.domain.events import DomainEvent

WINDOW_END = DEADLINE + timedelta(minutes=30)
A, B, C = BIDDERS


def types(events: list[DomainEvent]) -> list[str]:
    return [event.TYPE for event in events]


def open_bid(tender: Tender, who: str, **changes: Any) -> list[DomainEvent]:
    assert tender.spec is not None
    return tender.session().opened(
        DEADLINE, tender.spec, TENDER, "L1", who, "bidder", sheet(who) | changes, "key"
    )


# The bid box.


def test_the_box_takes_bids_revisions_and_withdrawals_until_sealed() -> None:
    tender = bidding()
    box = box_of(tender)
    assert box.next_receipt(A) == 2
    with pytest.raises(DuplicateBid):
        box.submit(OPENS, tender, receipt(A), "sig")
    into_box(tender, box.submit(OPENS, tender, receipt(A, seq=2, sha="b"), "sig"))
    assert (box.current[("L1", A)].sha256, len(box.history)) == ("b" * 64, 4)
    with pytest.raises(UnknownLot):
        box.submit(OPENS, tender, receipt(A, lot="L9", sha="c"), "sig")
    with pytest.raises(NoBid):
        box.withdraw(OPENS, tender, "L1", "p-nobody")
    into_box(tender, box.withdraw(OPENS, tender, "L1", B))
    assert [r.bidder for r in box.of_lot("L1")] == [A, C]
    with pytest.raises(DeadlinePassed):
        box.submit(DEADLINE, tender, receipt(B, sha="d"), "sig")
    into_box(tender, box.seal(DEADLINE))
    assert box.seal(DEADLINE) == []
    with pytest.raises(DeadlinePassed, match="sealed"):
        box.submit(OPENS, tender, receipt(B, sha="d"), "sig")


def test_no_bids_before_bidding_opens() -> None:
    tender = bidding(bidders=())
    published = Tender(TENDER)
    for event in history(tender)[:-1]:  # everything but bidding_opened
        published.apply(event)
    with pytest.raises(BiddingNotOpenYet):
        box_of(published).submit(OPENS, published, receipt(A), "sig")


def test_sign_ins_before_the_deadline_stay_in_the_box() -> None:
    tender = bidding()
    box = box_of(tender)
    early = DEADLINE - timedelta(minutes=31)
    with pytest.raises(SignInNotOpen):
        box.sign_in(early, tender, A)
    with pytest.raises(NoBid):
        box.sign_in(DEADLINE - timedelta(minutes=5), tender, "p-nobody")
    into_box(tender, box.sign_in(DEADLINE - timedelta(minutes=5), tender, A))
    assert box.sign_in(DEADLINE - timedelta(minutes=4), tender, A) == []  # once is enough
    with pytest.raises(SignInNotOpen, match="bid box"):
        tender.sign_in(DEADLINE - timedelta(minutes=5), B)
    events = run(tender, close_bidding(tender))
    assert types(events) == ["tender.bidding_closed", "opening.signed_in", "lot.sealed"]
    assert tender.opening.signed_in == {A}
    with pytest.raises(DeadlinePassed):
        box.sign_in(DEADLINE, tender, B)
    with pytest.raises(NoBid):
        tender.sign_in(DEADLINE, "p-nobody")


def test_a_box_belongs_to_a_tender() -> None:
    with pytest.raises(ValueError, match="not the stream of a bid box"):
        BidBox(TENDER)
    assert BidBox(box_stream(TENDER)).tender == TENDER


# Decryption.


def test_decryption_has_its_preconditions() -> None:
    tender = bidding()
    run(tender, close_bidding(tender))
    with pytest.raises(OpeningNotReady, match="not started"):
        tender.opening.decryptable(DEADLINE, "L1", A)
    tender = opening(signed_in=False)
    session = tender.session()
    with pytest.raises(NoBid):
        session.decryptable(DEADLINE, "L1", "p-nobody")
    with pytest.raises(NotSignedIn):
        session.decryptable(DEADLINE, "L1", A)
    run(tender, tender.sign_in(DEADLINE, A))
    with pytest.raises(DecryptionWindowClosed):
        session.decryptable(WINDOW_END, "L1", A)
    with pytest.raises(OpeningNotReady, match="after the window"):
        session.decryptable(DEADLINE, "L1", A, by_custodians=True)
    assert session.decryptable(DEADLINE, "L1", A).state is BidState.PENDING


def test_three_wrong_keys_revoke_a_bid() -> None:
    tender = opening()
    session = tender.session()
    for attempt in range(1, MAX_ATTEMPTS):
        assert types(run(tender, session.attempt_failed(DEADLINE, "L1", A, "wrong"))) == [
            "bid.decryption_attempt_failed"
        ]
        assert session.bid("L1", A).attempts == attempt
    last = run(tender, session.attempt_failed(DEADLINE, "L1", A, "wrong"))
    assert types(last) == ["bid.decryption_attempt_failed", "bid.decryption_failed"]
    assert session.bid("L1", A).state is BidState.REVOKED
    with pytest.raises(BidNotPending):
        session.attempt_failed(DEADLINE, "L1", A, "wrong")


def test_faults_decide_revoked_or_withdrawn() -> None:
    tender = opening()
    session = tender.session()
    run(tender, session.broken(DEADLINE, "L1", A, "bidder", "bad chunk"))
    run(tender, session.platform_failed(DEADLINE, "L1", B, "bidder", "disk"))
    assert session.bid("L1", A).state is BidState.REVOKED
    assert session.bid("L1", B).state is BidState.WITHDRAWN
    assert BidFailed("L1", A, "bidder", "x", DEADLINE).payload()["outcome"] == "revoked"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"bidder": "p-other"}, "another tender, lot or bidder"),
        ({"v": 2}, "another tender, lot or bidder"),
        ({"price": "1,000.00"}, "decimal string"),
        ({"price": 1000}, "decimal string"),
        ({"price": "1.234"}, "decimal string"),
        ({"duration_days": 1.5}, "whole number"),
        ({"duration_days": True}, "whole number"),
        ({"duration_days": -1}, "whole number"),
        ({"quality": ""}, "quality must be"),
        ({"project_manager": "x" * 201}, "project_manager must be"),
        ({"extra": {}}, "warranty_years"),
        ({"extra": {"warranty_years": 2}}, "extra values"),
        ({"surprise": 1}, "members of an opening sheet"),
    ],
)
def test_an_invalid_sheet_fails_the_bid_as_the_bidders_fault(
    changes: dict[str, Any], problem: str
) -> None:
    tender = opening()
    events = run(tender, open_bid(tender, A, **changes))
    assert types(events) == ["bid.decryption_failed"]
    failed = events[0]
    assert isinstance(failed, BidFailed)
    assert (failed.fault, problem in failed.reason) == ("bidder", True)


def test_a_sheet_without_extra_fields_when_the_tender_has_none() -> None:
    plain = spec(opening={**spec().to_json()["opening"], "sheet_fields": []})
    assert sheet_problem(sheet(A) | {"extra": {}}, plain, TENDER, "L1", A) is None
    assert "none" in str(sheet_problem(sheet(A), plain, TENDER, "L1", A))


def test_pausing_keeps_the_time_left() -> None:
    tender = opening()
    session = tender.session()
    ten_in = DEADLINE + timedelta(minutes=10)
    run(tender, session.pause(ten_in, "network down"))
    assert (session.phase, session.remaining) == (Phase.PAUSED, timedelta(minutes=20))
    assert session.next_due() is None
    with pytest.raises(OpeningNotReady, match="paused"):
        session.decryptable(ten_in, "L1", A)
    with pytest.raises(OpeningNotReady, match="running"):
        session.pause(ten_in, "again")
    later = ten_in + timedelta(hours=2)
    run(tender, session.resume(later))
    assert (session.phase, session.ends_at) == (Phase.DECRYPTING, later + timedelta(minutes=20))
    with pytest.raises(OpeningNotReady, match="not paused"):
        session.resume(later)
    assert session.ends_at is not None
    with pytest.raises(OpeningNotReady, match="running"):
        session.pause(session.ends_at, "too late")


def test_the_window_end_closes_decryption_and_revokes_only_without_custodians() -> None:
    tender = opening()
    assert tender.spec is not None
    assert tender.session().due(WINDOW_END - timedelta(seconds=1), tender.spec) == []
    assert types(tender.close_decryption(WINDOW_END)) == ["opening.decryption_closed"]
    strict = opening(opening={**spec().to_json()["opening"], "wrap_bids": False})
    assert types(strict.close_decryption(WINDOW_END)) == [
        "opening.decryption_closed",
        *["bid.decryption_failed"] * 3,
    ]


def test_custodian_shares_have_their_rules() -> None:
    tender = opening()
    assert tender.spec is not None
    session = tender.session()
    custodian = tender.spec.opening.custodians[0]
    with pytest.raises(OpeningNotReady, match="window is over"):
        session.share(DEADLINE, tender.spec, custodian, 1)
    run(tender, tender.close_decryption(WINDOW_END))
    with pytest.raises(NotACustodian):
        session.share(WINDOW_END, tender.spec, "p-stranger", 1)
    with pytest.raises(NotACustodian):
        session.share(WINDOW_END, tender.spec, custodian, 2)  # not its index
    run(tender, session.share(WINDOW_END, tender.spec, custodian, 1))
    with pytest.raises(AlreadyResponded):
        session.share(WINDOW_END, tender.spec, custodian, 1)
    one_share = session.quorum
    run(tender, session.share(WINDOW_END, tender.spec, tender.spec.opening.custodians[1], 2))
    assert (one_share, session.quorum) == (False, True)
    assert session.decryptable(WINDOW_END, "L1", A, by_custodians=True).state is BidState.PENDING


# The record, responses, closing.


def test_the_record_waits_for_decryption_or_the_window() -> None:
    tender = opening()
    assert tender.spec is not None
    session = tender.session()
    run(tender, open_bid(tender, A))
    with pytest.raises(DecryptionInProgress):
        session.record_document(TENDER, tender.spec, {}, DEADLINE)
    record = session.record_document(TENDER, tender.spec, {A: "甲公司"}, WINDOW_END)
    entries = {e["bidder"]: e for e in record["lots"][0]["bids"]}
    assert (entries[A]["name"], entries[A]["status"]) == ("甲公司", "decrypted")
    assert (entries[B]["status"], entries[B]["reason"]) == ("revoked", "not decrypted")
    events = run(tender, session.publish(WINDOW_END, tender.spec, record, "ab" * 32))
    assert types(events) == [*["bid.decryption_failed"] * 2, "opening.record_published"]
    with pytest.raises(OpeningNotReady, match="once"):
        session.record_document(TENDER, tender.spec, {}, WINDOW_END)


def test_bidders_respond_once_within_the_window() -> None:
    tender = decrypted()
    with pytest.raises(OpeningNotReady, match="respond to yet"):
        tender.session().confirm(DEADLINE, A, "sig")
    tender = read_out()
    session = tender.session()
    assert session.confirm_until == DEADLINE + timedelta(minutes=15)
    with pytest.raises(NoBid):
        session.confirm(DEADLINE, "p-nobody", "sig")
    run(tender, session.confirm(DEADLINE, A, "sig"))
    with pytest.raises(AlreadyResponded, match="confirmed"):
        session.object(DEADLINE, A, "no", "sig")
    run(tender, session.object(DEADLINE, B, "大写不符", "sig"))
    with pytest.raises(ConfirmationWindowClosed):
        session.confirm(DEADLINE + timedelta(minutes=16), C, "sig")
    with pytest.raises(OpeningStillOpen, match="answered"):
        session.final_document(DEADLINE + timedelta(minutes=16))
    with pytest.raises(UnknownObjection):
        session.answer(DEADLINE, "o2", "?")
    run(tender, session.answer(DEADLINE, "o1", "以大写为准"))
    with pytest.raises(UnknownObjection):
        session.answer(DEADLINE, "o1", "again")
    with pytest.raises(OpeningStillOpen, match="may still"):
        session.final_document(DEADLINE)
    final = session.final_document(DEADLINE + timedelta(minutes=16))
    assert (final["confirmed"], final["deemed_accepted"]) == ([A], [C])
    assert final["objections"] == [
        {"id": "o1", "bidder": B, "text": "大写不符", "answer": "以大写为准"}
    ]


def test_not_signed_in_bidders_cannot_respond() -> None:
    tender = opening(signed_in=False)
    assert tender.spec is not None
    session = tender.session()
    record = session.record_document(TENDER, tender.spec, {}, WINDOW_END)
    run(tender, session.publish(WINDOW_END, tender.spec, record, "ab" * 32))
    with pytest.raises(NotSignedIn):
        session.confirm(WINDOW_END, A, "sig")


def test_everyone_responding_closes_early_and_the_life_replays() -> None:
    tender = read_out()
    session = tender.session()
    with pytest.raises(OpeningNotReady):
        decrypted().session().close(DEADLINE, {}, "", "")
    for bidder in BIDDERS:
        run(tender, session.confirm(DEADLINE, bidder, "sig"))
    final = session.final_document(DEADLINE)
    run(tender, session.close(DEADLINE, final, "cd" * 32, "sig"))
    assert session.phase is Phase.CLOSED
    with pytest.raises(SignInNotOpen):
        tender.sign_in(DEADLINE, A)
    again = replayed(tender)
    assert again.opening == tender.opening
    assert again.state is TenderState.OPENING


def test_a_late_failure_never_undoes_a_decrypted_bid() -> None:
    tender = opening()
    session = tender.session()
    run(tender, open_bid(tender, A))
    with pytest.raises(BidNotPending):
        session.platform_failed(DEADLINE, "L1", A, "bidder", "disk error")


def test_a_key_counts_from_when_it_arrived() -> None:
    tender = opening()
    session = tender.session()
    just_before = WINDOW_END - timedelta(seconds=1)
    with pytest.raises(DecryptionWindowClosed):
        session.decryptable(WINDOW_END, "L1", A)
    assert session.decryptable(WINDOW_END, "L1", A, asked_at=just_before).bidder == A


def test_the_box_carries_over_only_sign_ins_of_listed_bidders() -> None:
    tender = bidding()
    box = box_of(tender)
    soon = DEADLINE - timedelta(minutes=5)
    for bidder in (A, B):
        into_box(tender, box.sign_in(soon, tender, bidder))
    into_box(tender, box.withdraw(soon, tender, "L1", B))  # signed in, then withdrew
    run(tender, close_bidding(tender))
    assert tender.opening.signed_in == {A}


def test_revisions_are_bounded() -> None:
    tender = bidding()
    box = box_of(tender)
    for n in range(2, MAX_RECEIPTS_PER_LOT + 1):
        into_box(tender, box.submit(OPENS, tender, receipt(A, n, sha=f"{n:02x}"[-1]), "sig"))
    assert box.current[("L1", A)].sha256 != "b" * 64
    with pytest.raises(TooManyRevisions):
        box.submit(OPENS, tender, receipt(A, 99, sha="b"), "sig")


def test_no_share_is_taken_once_a_quorum_is_in() -> None:
    three = ["p-custodian01", "p-custodian02", "p-custodian03"]
    tender = opening(opening={**spec().to_json()["opening"], "custodians": three})
    assert tender.spec is not None
    run(tender, tender.close_decryption(WINDOW_END))
    session = tender.session()
    run(tender, session.share(WINDOW_END, tender.spec, three[0], 1))
    run(tender, session.share(WINDOW_END, tender.spec, three[1], 2))
    with pytest.raises(AlreadyResponded, match="Enough shares"):
        session.share(WINDOW_END, tender.spec, three[2], 3)


# The session's lifecycle table.

PHASES: list[Phase | None] = [None, *Phase]
# The events whose fold moves the session to each phase.
MOVING_TO: dict[Phase, list[DomainEvent]] = {
    Phase.DECRYPTING: [
        DecryptionStarted(DEADLINE, WINDOW_END, (), ()),
        DecryptionResumed(DEADLINE, WINDOW_END),
    ],
    Phase.PAUSED: [DecryptionPaused(DEADLINE, "network down", 600.0)],
    Phase.DECRYPTION_CLOSED: [DecryptionClosed(WINDOW_END)],
    Phase.RECORD_PUBLISHED: [RecordPublished({}, "ab" * 32, WINDOW_END)],
    Phase.CLOSED: [OpeningClosed({}, "cd" * 32, "sig", WINDOW_END)],
}


@pytest.mark.parametrize("source", PHASES)
@pytest.mark.parametrize("target", list(Phase))
def test_the_fold_follows_the_phase_table(source: Phase | None, target: Phase) -> None:
    for event in MOVING_TO[target]:
        session = Opening(phase=source)
        if target in ALLOWED[source]:
            session.apply(event)
            assert session.phase is target
        else:
            with pytest.raises(InvalidTransition, match="it can't become") as caught:
                session.apply(event)
            assert caught.value.rule == "InvalidTransition"
            assert session.phase is source


def test_the_phase_table_covers_every_phase_and_ends_closed() -> None:
    assert set(ALLOWED) == set(PHASES)
    assert ALLOWED[Phase.CLOSED] == frozenset()
    assert {t for targets in ALLOWED.values() for t in targets} == set(Phase)


def phase_edges(tender: Tender) -> set[tuple[Phase | None, Phase | None]]:
    """The phase moves the session made, replayed from the tender's history."""
    moves = tuple({type(e) for events in MOVING_TO.values() for e in events})
    again, seen = Opening(), set()
    for event in history(tender):
        before = again.phase
        again.apply(event)
        if isinstance(event, moves):
            seen.add((before, again.phase))
    return seen


def test_the_commands_walk_every_edge_of_the_phase_table() -> None:
    straight = closed()  # every bid decrypted in the window: the record at once
    tender = opening()
    session = tender.session()
    assert tender.spec is not None
    run(tender, session.pause(DEADLINE + timedelta(minutes=10), "network down"))
    run(tender, session.resume(DEADLINE + timedelta(minutes=20)))
    ends = session.ends_at
    assert ends is not None
    run(tender, tender.close_decryption(ends))
    record = session.record_document(TENDER, tender.spec, {}, ends)
    run(tender, session.publish(ends, tender.spec, record, "ab" * 32))
    assert session.phase is Phase.RECORD_PUBLISHED
    walked = phase_edges(straight) | phase_edges(tender)
    assert walked == {(s, t) for s, targets in ALLOWED.items() for t in targets}
    assert replayed(tender).opening == tender.opening


def test_a_node_starting_afresh_asks_again_for_what_only_memory_held() -> None:
    """docs/sites.md section 10: shares on record but not held, decryptions cut off."""
    tender = opening()
    assert tender.spec is not None
    session = tender.session()
    (asked,) = session.resend_requested("n-0000000000000001", DEADLINE)
    assert isinstance(asked, ResendRequested)
    assert (asked.custodians, asked.bidders) == ((), tuple(sorted(BIDDERS)))
    custodian = tender.spec.opening.custodians[0]
    run(tender, [DecryptionClosed(DEADLINE), ShareSubmitted(custodian, 1, DEADLINE)])
    (asked,) = session.resend_requested("n-0000000000000001", DEADLINE)
    assert isinstance(asked, ResendRequested)
    assert (asked.custodians, asked.bidders) == ((custodian,), ())
    assert session.resend_requested("n-0000000000000001", DEADLINE, held={1}) == []
