"""Walk a tender through its life with the real domain commands, for domain tests."""

from __future__ import annotations

import weakref
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from server.domain.bidbox import BidBox
from server.domain.bids import Receipt, SealedList
from server.domain.events import decode_event
from server.domain.opening_events import KeyShareIssued, OpeningKeyIssued
from server.domain.spec import TenderSpec
from server.domain.tender import Tender, TenderState
from server.protocol import box_stream
from tests.conftest import START, tender_spec

if TYPE_CHECKING:
    from server.domain.events import DomainEvent

TENDER = "t-20261121-00000000000a"
OPENS = START + timedelta(hours=1)
DEADLINE = START + timedelta(days=1)
BIDDERS = ("p-bidder0001", "p-bidder0002", "p-bidder0003")
S = TenderState


def spec(**changes: Any) -> TenderSpec:
    return TenderSpec.parse(tender_spec(START, **changes))


_HISTORY: weakref.WeakKeyDictionary[Tender, list[DomainEvent]] = weakref.WeakKeyDictionary()
_BOXES: weakref.WeakKeyDictionary[Tender, BidBox] = weakref.WeakKeyDictionary()


def run(tender: Tender, events: list[DomainEvent]) -> list[DomainEvent]:
    """Apply events as the ledger would, keeping them as the tender's history."""
    for event in events:
        tender.apply(event)
    _HISTORY.setdefault(tender, []).extend(events)
    return events


def replayed(tender: Tender) -> Tender:
    """The tender rebuilt from its history's payloads, as the node rebuilds it from the log."""
    again = Tender(tender.id)
    for event in history(tender):
        decoded = decode_event(event.TYPE, event.payload())
        assert decoded == event
        assert decoded is not None
        again.apply(decoded)
    return again


def box_of(tender: Tender) -> BidBox:
    """The tender's bid box (its own stream at the node)."""
    return _BOXES.setdefault(tender, BidBox(box_stream(tender.id)))


def into_box(tender: Tender, events: list[DomainEvent]) -> list[DomainEvent]:
    box = box_of(tender)
    for event in events:
        box.apply(event)
    return events


def close_bidding(tender: Tender, now: datetime = DEADLINE) -> list[DomainEvent]:
    """The deadline as the node runs it: seal the box, then the lists into the tender."""
    box = box_of(tender)
    into_box(tender, box.seal(now))
    return tender.close_bidding(now, sealed_lists(tender, now), box.signed_in)


def history(tender: Tender) -> list[DomainEvent]:
    return list(_HISTORY.get(tender, []))


def key_events(spec: TenderSpec) -> tuple[OpeningKeyIssued, list[KeyShareIssued]]:
    """Key material of the right shape (the domain checks holders and threshold, not crypto)."""
    custodians = spec.opening.custodians
    holders = tuple((c, i, f"{i:064x}") for i, c in enumerate(custodians, start=1))
    shares = [KeyShareIssued(c, i, "eph", "sealed") for c, i, _ in holders]
    return OpeningKeyIssued("x25519:" + "A" * 43, spec.opening.threshold, holders), shares


def publish(tender: Tender, now: datetime = START) -> list[DomainEvent]:
    assert tender.spec is not None
    key, shares = key_events(tender.spec)
    return tender.publish(now, key, shares)


def receipt(bidder: str, seq: int = 1, lot: str = "L1", sha: str = "a") -> Receipt:
    return Receipt(TENDER, lot, bidder, 1000, sha * 64, OPENS, seq)


def sealed_lists(tender: Tender, now: datetime = DEADLINE) -> list[tuple[SealedList, str]]:
    assert tender.spec is not None
    return [
        (SealedList(TENDER, lot.id, now, tuple(box_of(tender).of_lot(lot.id)), "00" * 32), "sig")
        for lot in tender.spec.lots
    ]


def sheet(bidder: str, price: str = "1000000.00", lot: str = "L1") -> dict[str, Any]:
    return {
        "v": 1, "tender": TENDER, "lot": lot, "bidder": bidder, "price": price,
        "duration_days": 180, "quality": "合格", "project_manager": "王工",
        "extra": {"warranty_years": "2"},
    }  # fmt: skip


def created(**changes: Any) -> Tender:
    tender = Tender(TENDER)
    run(tender, Tender.create(spec(**changes), "p-host"))
    return tender


def bidding(bidders: tuple[str, ...] = BIDDERS, **changes: Any) -> Tender:
    tender = created(**changes)
    run(tender, publish(tender))
    run(tender, tender.open_bidding(OPENS))
    for bidder in bidders:
        into_box(tender, box_of(tender).submit(OPENS, tender, receipt(bidder), "sig"))
    return tender


def opening(bidders: tuple[str, ...] = BIDDERS, signed_in: bool = True, **changes: Any) -> Tender:
    tender = bidding(bidders, **changes)
    run(tender, close_bidding(tender))
    if signed_in:
        for bidder in bidders:
            run(tender, tender.sign_in(DEADLINE, bidder))
    run(tender, tender.start_opening(DEADLINE))
    return tender


def decrypted(bidders: tuple[str, ...] = BIDDERS, **changes: Any) -> Tender:
    tender = opening(bidders, **changes)
    assert tender.spec is not None
    for bidder in bidders:
        run(tender, tender.session().opened(
            DEADLINE, tender.spec, TENDER, "L1", bidder, "bidder", sheet(bidder), "key"
        ))  # fmt: skip
    return tender


def read_out(bidders: tuple[str, ...] = BIDDERS, **changes: Any) -> Tender:
    tender = decrypted(bidders, **changes)
    assert tender.spec is not None
    session = tender.session()
    record = session.record_document(TENDER, tender.spec, {}, DEADLINE)
    run(tender, session.publish(DEADLINE, tender.spec, record, "ab" * 32))
    return tender


def closed(**changes: Any) -> Tender:
    tender = read_out(**changes)
    session = tender.session()
    for bidder in BIDDERS:
        run(tender, session.confirm(DEADLINE, bidder, "sig"))
    final = session.final_document(DEADLINE)
    run(tender, session.close(DEADLINE, final, "cd" * 32, "sig"))
    return tender


def tender_in(state: TenderState) -> Tender:
    """A tender brought to `state` by the commands the node would run."""
    if state is S.DRAFT:
        return created()
    if state is S.PUBLISHED:
        tender = created()
        run(tender, publish(tender))
        return tender
    if state is S.BIDDING:
        return bidding()
    if state is S.OPENING:
        return closed()  # at its opening, with the opening itself done
    tender = closed()
    run(tender, tender.start_evaluation(DEADLINE))
    endings = {
        S.CONCLUDED: lambda t: t.conclude(DEADLINE, "candidates published"),
        S.FAILED: lambda t: t.fail(DEADLINE, "all bids rejected"),
        S.CANCELLED: lambda t: t.cancel(DEADLINE, "halted by the supervisor"),
    }
    if state in endings:
        run(tender, endings[state](tender))
    assert tender.state is state
    return tender
