"""Walk a tender through its life with the real domain commands, for domain tests."""

from __future__ import annotations

import weakref
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from recordings.draw import DrawRequest, PoolEntry, Quota, Site, Workstation, seed_hash, snapshot_of
from server.domain.acts import parse_act
from server.domain.bidbox import BidBox
from server.domain.catalogue import decode_event
from server.domain.committee import Arrival
from server.domain.opening_events import KeyShareIssued, OpeningKeyIssued
from server.domain.room import Room, Stage
from server.domain.sealed_bids import Receipt, SealedList
from server.domain.spec import TenderSpec
from server.domain.tender import Tender, TenderState
from server.protocol import box_stream
from tests.conftest import START, tender_spec

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from server.domain.committee import RoomContext
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


def decrypted(
    bidders: tuple[str, ...] = BIDDERS, prices: Mapping[str, str] | None = None, **changes: Any
) -> Tender:
    """Every bid opened by its bidder, at its price in `prices` (1,000,000.00 if not named)."""
    tender = opening(bidders, **changes)
    assert tender.spec is not None
    for bidder in bidders:
        offer = sheet(bidder, **({"price": prices[bidder]} if prices and bidder in prices else {}))
        run(tender, tender.session().opened(
            DEADLINE, tender.spec, TENDER, "L1", bidder, "bidder", offer, "key"
        ))  # fmt: skip
    return tender


def read_out(
    bidders: tuple[str, ...] = BIDDERS, prices: Mapping[str, str] | None = None, **changes: Any
) -> Tender:
    tender = decrypted(bidders, prices, **changes)
    assert tender.spec is not None
    session = tender.session()
    record = session.record_document(TENDER, tender.spec, {}, DEADLINE)
    run(tender, session.publish(DEADLINE, tender.spec, record, "ab" * 32))
    return tender


def closed(prices: Mapping[str, str] | None = None, **changes: Any) -> Tender:
    tender = read_out(prices=prices, **changes)
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


# The evaluation: the draw, one lot's room, and its members' acts.

MAIN, SUB = "广州", "深圳"
BUILDING, COST = "建筑工程", "工程造价"
TENDERER = "City Urban Management Bureau"
SEED = bytes(range(32))
ADDRESS = "192.0.2.10"  # where an expert's requests come from, unless a test says otherwise
# Acts come in at one node, of the main venue, which serves every site.
ONE_NODE = Arrival("main", frozenset({"main"}))
BIDDER_NAMES = {bidder: f"投标人{i} Bidder {i}" for i, bidder in enumerate(BIDDERS, start=1)}
AVOID = (TENDERER, *BIDDER_NAMES.values())
# Who sits where: specialty, region, and a tie to an organisation (a bidder's name, or none).
_POOL = [
    (BUILDING, MAIN, ""), (BUILDING, MAIN, ""), (BUILDING, MAIN, ""), (BUILDING, SUB, ""),
    (BUILDING, SUB, ""), (COST, MAIN, ""), (COST, SUB, ""), (COST, SUB, ""),
    (BUILDING, MAIN, BIDDER_NAMES[BIDDERS[0]]),  # works for a bidder: never drawn
    (COST, MAIN, TENDERER),  # works for the tenderer: never drawn
]  # fmt: skip
POOL = snapshot_of(
    PoolEntry(f"p-expert{i:02d}", specialty, region, employer, ())
    for i, (specialty, region, employer) in enumerate(_POOL, start=1)
)
NAMES = BIDDER_NAMES | {e.expert: f"专家{e.expert[-2:]} Expert {e.expert[-2:]}" for e in POOL}
# Scores every member may give every bid without a flag (T3 is objective: all agree on it).
NORMAL = {"T1": "24", "T2": "15", "T3": "16"}


def draw_request(
    *, standby: int = 2, address: str | None = None, quotas: tuple[tuple[str, int], ...] = ()
) -> DrawRequest:
    """3 building and 2 cost experts; a main venue in one region, a secondary one in another."""
    return DrawRequest(
        tuple(Quota(s, n) for s, n in quotas or ((BUILDING, 3), (COST, 2))),
        (
            Site("main", MAIN, tuple(Workstation(f"M-0{i}", address) for i in range(1, 6))),
            Site("sub-1", SUB, tuple(Workstation(f"S-0{i}", None) for i in range(1, 6))),
        ),
        standby,
    )


def context(tender: Tender, lot: str = "L1") -> RoomContext:
    return tender.context(lot, NAMES)


def room(tender: Tender) -> Room:
    return tender.evaluation.rooms["L1"]


def members(tender: Tender) -> list[str]:
    return list(room(tender).members)


def commit(
    tender: Tender, request: DrawRequest | None = None, seed: bytes = SEED
) -> list[DomainEvent]:
    return tender.commit_draw(
        DEADLINE, context(tender), request or draw_request(), POOL, AVOID, seed_hash(seed),
        "sealed-seed",
    )  # fmt: skip


def drawn(
    request: DrawRequest | None = None, prices: Mapping[str, str] | None = None, **changes: Any
) -> Tender:
    """The opening closed, and lot L1's committee drawn (the evaluation not yet started)."""
    tender = closed(prices, **changes)
    run(tender, commit(tender, request))
    run(tender, tender.reveal_draw(DEADLINE, "L1", SEED))
    return tender


def steps(tender: Tender, now: datetime = DEADLINE) -> list[DomainEvent]:
    """The node's steps in the room until there are none, as the service takes them."""
    taken: list[DomainEvent] = []
    for _ in range(20):
        events = tender.advance(now, context(tender))
        if not events:
            return taken
        taken += run(tender, events)
    raise AssertionError("the room kept stepping")


def in_session(
    request: DrawRequest | None = None, prices: Mapping[str, str] | None = None, **changes: Any
) -> Tender:
    """The evaluation started: the room at check-in."""
    tender = drawn(request, prices, **changes)
    run(tender, tender.start_evaluation(DEADLINE))
    steps(tender)
    return tender


def act_document(tender: Tender, expert: str, kind: str, /, **fields: Any) -> dict[str, Any]:
    """An act as the expert's workstation would sign it (docs/spec/evaluation.md section 3)."""
    seat = tender.evaluation.rooms["L1"].members.get(expert)
    workstation = seat.workstation if seat is not None else "M-01"
    return {"v": 1, "type": kind, "tender": TENDER, "lot": "L1", "expert": expert,
            "workstation": workstation} | fields  # fmt: skip


def decide(
    tender: Tender, expert: str, kind: str, /, *, now: datetime = DEADLINE,
    arrival: Arrival = ONE_NODE, **fields: Any,
) -> list[DomainEvent]:  # fmt: skip
    """The room's decision on an act: its event, or the refusal raised. Nothing is applied."""
    act = parse_act(act_document(tender, expert, kind, **fields))
    return tender.act(now, context(tender), act, "sig", arrival)


def acted(
    tender: Tender, expert: str, kind: str, /, *, now: datetime = DEADLINE, **fields: Any
) -> list[DomainEvent]:
    """The act recorded, then the node's steps after it."""
    return run(tender, decide(tender, expert, kind, now=now, **fields)) + steps(tender, now)


def check_in(tender: Tender, expert: str) -> list[DomainEvent]:
    return acted(tender, expert, "check-in", site=room(tender).members[expert].site)


def pledge(
    tender: Tender, expert: str, conflicts: tuple[tuple[str, str], ...] = ()
) -> list[DomainEvent]:
    said = [{"organisation": org, "reason": why} for org, why in conflicts]
    return acted(tender, expert, "pledge", conflicts=said)


def seat_everyone(tender: Tender) -> None:
    """Every member checks in and pledges, without conflicts (the election opens)."""
    for expert in members(tender):
        if expert not in room(tender).checked_in:
            check_in(tender, expert)
        if expert not in room(tender).pledged:
            pledge(tender, expert)


def vote(tender: Tender, expert: str, candidate: str) -> list[DomainEvent]:
    ballot = room(tender).election_round
    return acted(tender, expert, "leader-vote", round=ballot, candidate=candidate)


def elect(tender: Tender, leader: str | None = None) -> str:
    """Everyone votes for `leader` (the first member if None); returns the leader."""
    chosen = leader or members(tender)[0]
    for expert in members(tender):
        vote(tender, expert, chosen)
    return chosen


def results(
    tender: Tender, failing: tuple[str, ...] = (), reason: str = "未盖章 not sealed"
) -> dict[str, Any]:
    """A compliance sheet: every bid passes, but those in `failing` fail C1."""
    return {
        bid.bidder: {
            "C1": {"pass": bid.bidder not in failing,
                   "reason": reason if bid.bidder in failing else ""},
            "C2": {"pass": True, "reason": ""},
        }
        for bid in context(tender).bids
    }  # fmt: skip


def comply(tender: Tender, failing: tuple[str, ...] = ()) -> None:
    """Every member sends the same compliance sheet."""
    for expert in members(tender):
        acted(tender, expert, "compliance-sheet", results=results(tender, failing))


def score(
    tender: Tender, expert: str, bidder: str, scores: Mapping[str, str] | None = None,
    comment: str = "",
) -> list[DomainEvent]:  # fmt: skip
    """The expert's next version of its sheet for `bidder`, in the current round."""
    r = room(tender)
    version = len(r.sheets.get((expert, bidder), [])) + 1
    return acted(
        tender, expert, "score-sheet", round=r.scoring_round, version=version, bidder=bidder,
        scores=dict(scores or NORMAL), comment=comment,
    )  # fmt: skip


def score_everyone(
    tender: Tender, scores: Mapping[tuple[str, str], Mapping[str, str]] | None = None
) -> None:
    """Every member scores every compliant bid: NORMAL unless `scores` names the pair."""
    chosen = scores or {}
    for expert in members(tender):
        for bidder in room(tender).compliant():
            score(tender, expert, bidder, chosen.get((expert, bidder)))


def sign(tender: Tender, expert: str, *, now: datetime = DEADLINE) -> list[DomainEvent]:
    return acted(tender, expert, "report-signature", now=now, report_hash=room(tender).report_hash)


def room_at(stage: Stage, **changes: Any) -> Tender:
    """A tender whose lot L1 room is at `stage`, brought there by the commands the node runs."""
    if stage is Stage.COMMITTED:
        tender = closed(**changes)
        run(tender, commit(tender))
        return tender
    if stage is Stage.DRAWN:
        return drawn(**changes)
    tender = in_session(**changes)
    walk: list[tuple[Stage, Callable[[Tender], object]]] = [
        (Stage.ELECTION, seat_everyone),
        (Stage.COMPLIANCE, elect),
        (Stage.SCORING, comply),
        (Stage.REPORT, score_everyone),
        (Stage.DONE, lambda t: [sign(t, m) for m in members(t)]),
    ]
    for reached, step in walk:
        if room(tender).stage is stage:
            break
        step(tender)
        assert room(tender).stage is reached, (room(tender).stage, reached)
    assert room(tender).stage is stage
    return tender
