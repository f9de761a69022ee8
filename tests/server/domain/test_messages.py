"""The opening's message box: who writes to whom, when, and who reads it."""

from __future__ import annotations

import pytest

from server.domain.access import participant_audience
from server.domain.errors import MessagesClosed, NoBid, TooManyMessages, UnknownRecipient
from server.domain.opening import MAX_MESSAGES
from server.domain.opening_events import MessageSent
from tests.server.domain.journeys import (
    BIDDERS,
    DEADLINE,
    bidding,
    close_bidding,
    closed,
    opening,
    replayed,
    run,
)

A, B, C = BIDDERS
HOST = "p-host0001"


def test_nobody_writes_before_the_deadline_nor_after_the_opening() -> None:
    # Who bid is secret until the deadline (E-Measures 21).
    with pytest.raises(MessagesClosed):
        bidding().message(DEADLINE, A, False, None, "在吗")
    with pytest.raises(MessagesClosed):
        bidding().message(DEADLINE, HOST, True, A, "请签到")
    with pytest.raises(MessagesClosed):
        closed().message(DEADLINE, A, False, None, "还在吗")


def test_between_the_deadline_and_the_start_the_box_is_open() -> None:
    tender = bidding()
    run(tender, close_bidding(tender))
    (sent,) = tender.message(DEADLINE, HOST, True, A, "请签到")
    assert isinstance(sent, MessageSent)
    assert (sent.to, sent.broadcast) == ((A,), False)


def test_a_bidder_writes_to_the_host_and_only_it_and_the_staff_read_it() -> None:
    tender = opening()
    (sent,) = run(tender, tender.message(DEADLINE, A, False, None, "解密失败怎么办"))
    assert isinstance(sent, MessageSent)
    assert (sent.message, sent.sender, sent.to, sent.text) == ("m1", A, (), "解密失败怎么办")
    seen = sent.visibility()
    assert {"host", "supervisor", participant_audience(A)} == seen
    assert participant_audience(B) not in seen
    assert not seen & {"public", "bidder"}
    with pytest.raises(UnknownRecipient):
        tender.message(DEADLINE, A, False, B, "hello B")
    with pytest.raises(NoBid):
        tender.message(DEADLINE, "p-nobody", False, None, "I did not bid")


def test_the_host_writes_to_one_bidder_or_to_every_signed_in_bidder() -> None:
    tender = opening()
    (one,) = run(tender, tender.message(DEADLINE, HOST, True, B, "请重新解密"))
    assert isinstance(one, MessageSent)
    assert participant_audience(A) not in one.visibility()
    assert participant_audience(B) in one.visibility()
    (everyone,) = run(tender, tender.message(DEADLINE, HOST, True, None, "五分钟后唱标"))
    assert isinstance(everyone, MessageSent)
    assert (everyone.message, everyone.to, everyone.broadcast) == ("m2", tuple(BIDDERS), True)
    with pytest.raises(UnknownRecipient):
        tender.message(DEADLINE, HOST, True, "p-nobody", "?")
    nobody_in = opening(signed_in=False)
    with pytest.raises(UnknownRecipient, match="signed in"):
        nobody_in.message(DEADLINE, HOST, True, None, "hello")


def test_messages_are_bounded_per_sender_and_replay() -> None:
    tender = opening()
    for _ in range(MAX_MESSAGES):
        run(tender, tender.message(DEADLINE, A, False, None, "x"))
    with pytest.raises(TooManyMessages):
        tender.message(DEADLINE, A, False, None, "one more")
    run(tender, tender.message(DEADLINE, B, False, None, "mine still go"))
    assert replayed(tender).opening.messages == {A: MAX_MESSAGES, B: 1}
