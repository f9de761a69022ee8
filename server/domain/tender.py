"""The tender aggregate: its specification, its lifecycle table and its commands."""

from __future__ import annotations

import enum
import logging
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from server.domain.committee import Arrival, RoomContext
from server.domain.errors import (
    BiddingNotOpenYet,
    DeadlineNotReached,
    DeadlinePassed,
    DrawNotReady,
    InvalidTransition,
    MessagesClosed,
    NoBid,
    OpeningKeyMismatch,
    OpeningNotReady,
    OpeningTimeNotReached,
    ReasonRequired,
    ScheduleInPast,
    SignInNotOpen,
    TooManyMessages,
    UnknownLot,
    UnknownRecipient,
    WrongStage,
)
from server.domain.evaluation import Evaluation
from server.domain.opening import MAX_MESSAGES, BidState, Opening, Phase
from server.domain.opening_events import (
    DecryptionStarted,
    KeyShareIssued,
    MessageSent,
    OpeningKeyIssued,
    SignedIn,
)
from server.domain.room import Room
from server.domain.scores import Bid
from server.domain.sealed_bids import LotSealed, SealedBids, SealedList
from server.domain.tender_events import (
    BiddingClosed,
    BiddingOpened,
    Ended,
    EvaluationStarted,
    OpeningStarted,
    TenderCancelled,
    TenderConcluded,
    TenderCreated,
    TenderFailed,
    TenderPublished,
)
from server.protocol.times import format_time

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from recordings.draw import DrawRequest, PoolEntry
    from server.domain.acts import Act
    from server.domain.events import DomainEvent
    from server.domain.spec import TenderSpec

logger = logging.getLogger(__name__)

MAX_REASON: Final = 2000


class TenderState(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    BIDDING = "bidding"
    OPENING = "opening"
    EVALUATING = "evaluating"
    CONCLUDED = "concluded"
    FAILED = "failed"
    CANCELLED = "cancelled"


_S = TenderState
ALLOWED: Final[Mapping[TenderState, frozenset[TenderState]]] = MappingProxyType(
    {
        _S.DRAFT: frozenset({_S.PUBLISHED, _S.CANCELLED}),
        _S.PUBLISHED: frozenset({_S.BIDDING, _S.CANCELLED}),
        _S.BIDDING: frozenset({_S.OPENING, _S.FAILED, _S.CANCELLED}),
        _S.OPENING: frozenset({_S.EVALUATING, _S.FAILED, _S.CANCELLED}),
        _S.EVALUATING: frozenset({_S.CONCLUDED, _S.FAILED, _S.CANCELLED}),
        _S.CONCLUDED: frozenset(),
        _S.FAILED: frozenset(),
        _S.CANCELLED: frozenset(),
    }
)


class Due(enum.StrEnum):
    """What the schedule makes happen by itself."""

    OPEN_BIDDING = "open_bidding"
    CLOSE_BIDDING = "close_bidding"  # the deadline: bids are sealed into signed lists
    CLOSE_DECRYPTION = "close_decryption"
    CLOSE_SIGNING = "close_signing"  # a report's signing time is over (Regs 53)


_STATE_AFTER: Final[Mapping[type[DomainEvent], TenderState]] = MappingProxyType(
    {
        TenderCreated: _S.DRAFT,
        TenderPublished: _S.PUBLISHED,
        BiddingOpened: _S.BIDDING,
        OpeningStarted: _S.OPENING,
        EvaluationStarted: _S.EVALUATING,
        TenderConcluded: _S.CONCLUDED,
        TenderFailed: _S.FAILED,
        TenderCancelled: _S.CANCELLED,
    }
)


class Tender:
    """One tender. Commands return events and change nothing; `apply` folds events in."""

    def __init__(self, tender_id: str) -> None:
        self.id = tender_id
        self.state: TenderState | None = None
        self.spec: TenderSpec | None = None
        self.host: str | None = None
        self.bids_closed = False
        self.published = False  # once published, a tender stays public whatever happens
        self.ended_reason: str | None = None
        self.bids = SealedBids()
        self.opening = Opening()
        self.evaluation = Evaluation()
        # Facts of the closed opening that every act in a room reads (see `_closed_facts`).
        self._room_bids: dict[str, tuple[Bid, ...]] = {}
        self._to_evaluate: frozenset[str] | None = None

    # Commands.

    @staticmethod
    def create(spec: TenderSpec, host: str) -> list[DomainEvent]:
        return [TenderCreated(spec, host)]

    def publish(
        self, now: datetime, key: OpeningKeyIssued, shares: Sequence[KeyShareIssued]
    ) -> list[DomainEvent]:
        """Publish, with the opening key: its public half and each custodian's sealed share."""
        spec = self._check(_S.PUBLISHED)
        if spec.deadline <= now:
            raise ScheduleInPast(
                f"The deadline {format_time(spec.deadline)} has passed; amend the schedule."
            )
        custodians = sorted(spec.opening.custodians)
        if (
            sorted(holder for holder, _, _ in key.holders) != custodians
            or sorted(share.custodian for share in shares) != custodians
            or key.threshold != spec.opening.threshold
        ):
            raise OpeningKeyMismatch("The opening key does not match the tender's custodians.")
        return [TenderPublished(spec), key, *shares]

    def open_bidding(self, now: datetime) -> list[DomainEvent]:
        spec = self._check(_S.BIDDING)
        if now < spec.bidding_opens_at:
            raise BiddingNotOpenYet(f"Bidding opens at {format_time(spec.bidding_opens_at)}.")
        return [BiddingOpened(now)]

    def close_bidding(
        self,
        now: datetime,
        sealed: Sequence[tuple[SealedList, str]],
        signed_in: Mapping[str, datetime],
    ) -> list[DomainEvent]:
        """The deadline: each lot's bids sealed into a node-signed list (one per lot).

        The sign-ins the bid box took before the deadline are carried over, with their times.
        """
        spec = self._require_spec()
        if self.state is not _S.BIDDING or self.bids_closed:
            raise InvalidTransition(f"Bidding is not open on tender {self.id}.")
        if now < spec.deadline:
            raise DeadlineNotReached(f"Bidding closes at {format_time(spec.deadline)}.")
        if sorted(item.lot for item, _ in sealed) != sorted(lot.id for lot in spec.lots):
            raise InvalidTransition("Every lot is sealed at the deadline, each once.")
        # Only bidders in the lists: a sign-in of a bidder who withdrew would say it had bid.
        listed = {receipt.bidder for item, _ in sealed for receipt in item.receipts}
        carried = [SignedIn(b, at) for b, at in sorted(signed_in.items()) if b in listed]
        lots = [LotSealed(item, signature) for item, signature in sealed]
        return [BiddingClosed(now), *carried, *lots]

    def check_submission(self, now: datetime, lot: str) -> None:
        """Raise unless a bid for `lot` may be submitted, revised or withdrawn now."""
        spec = self._require_spec()
        if self.bids_closed or now >= spec.deadline:
            raise DeadlinePassed(
                f"The deadline {format_time(spec.deadline)} has passed: no bid can be submitted,"
                " revised or withdrawn."
            )
        if self.state is not _S.BIDDING:
            raise BiddingNotOpenYet(f"Bidding opens at {format_time(spec.bidding_opens_at)}.")
        if spec.lot(lot) is None:
            raise UnknownLot(f"Tender {self.id} has no lot {lot}.")

    def check_sign_in(self, now: datetime) -> None:
        """签到 runs from a set time before the opening until the record is read out."""
        spec = self._require_spec()
        opens = spec.deadline - spec.sign_in_lead
        done = self.opening.phase in (Phase.RECORD_PUBLISHED, Phase.CLOSED)
        if now < opens or self.state not in (_S.BIDDING, _S.OPENING) or done:
            raise SignInNotOpen(f"Sign-in opens at {format_time(opens)} and ends with the record.")

    def sign_in(self, now: datetime, bidder: str) -> list[DomainEvent]:
        """签到 after the deadline (before it, the bid box takes sign-ins: domain/bidbox.py)."""
        self.check_sign_in(now)
        if not self.bids_closed:
            raise SignInNotOpen("Before the deadline, sign-ins go into the bid box.")
        if bidder not in self.bids.bidders():
            raise NoBid("Only bidders with a sealed bid take part in the opening.")
        return [] if bidder in self.opening.signed_in else [SignedIn(bidder, now)]

    def message(
        self, now: datetime, sender: str, from_host: bool, to: str | None, text: str
    ) -> list[DomainEvent]:
        """The opening's message box, from the deadline until the opening closes.

        The host writes to one bidder with a bid (`to`) or to every signed-in bidder (no `to`);
        a bidder with a bid writes to the host. Before the deadline who bid is secret
        (E-Measures 21), so nobody writes then.
        """
        closed = self.opening.phase is Phase.CLOSED
        if not self.bids_closed or self.state not in (_S.BIDDING, _S.OPENING) or closed:
            raise MessagesClosed(
                "Messages with bidders open at the deadline and close with the opening."
            )
        bidders = self.bids.bidders()
        if from_host:
            if to is None:
                recipients = tuple(sorted(self.opening.signed_in))
                if not recipients:
                    raise UnknownRecipient("No bidder has signed in yet to write to.")
            elif to in bidders:
                recipients = (to,)
            else:
                raise UnknownRecipient(f"{to} has no bid in this opening.")
        else:
            if sender not in bidders:
                raise NoBid("Only bidders with a sealed bid take part in the opening.")
            if to is not None:
                raise UnknownRecipient("Bidders write to the host only.")
            recipients = ()
        if self.opening.messages.get(sender, 0) >= MAX_MESSAGES:
            raise TooManyMessages(f"At most {MAX_MESSAGES} messages per participant and opening.")
        number = sum(self.opening.messages.values()) + 1
        broadcast = from_host and to is None
        return [MessageSent(f"m{number}", sender, recipients, broadcast, text, now)]

    def start_opening(self, now: datetime) -> list[DomainEvent]:
        """开标: opens the decryption window, or fails lots (or the tender) with too few bids."""
        spec = self._check(_S.OPENING)
        if now < spec.deadline:
            raise OpeningTimeNotReached(
                f"The opening can't start before {format_time(spec.deadline)}."
            )
        if not self.bids_closed:
            raise OpeningNotReady("The bids are sealed at the deadline first.")
        bids: list[tuple[str, str]] = []
        failed: list[tuple[str, str]] = []
        for lot in spec.lots:
            sealed = self.bids.sealed.get(lot.id)
            receipts = sealed.receipts if sealed is not None else ()
            if len(receipts) < spec.min_bids:
                why = f"Only {len(receipts)} valid bids; at least {spec.min_bids} are needed"
                failed.append((lot.id, f"{why} (Regs 44)."))
            else:
                bids += [(lot.id, receipt.bidder) for receipt in receipts]
        if not bids:
            reasons = "; ".join(f"lot {lot}: {why}" for lot, why in failed)
            return [TenderFailed(now, f"The opening fails: {reasons}")]
        ends = now + spec.decryption_window
        return [OpeningStarted(now), DecryptionStarted(now, ends, tuple(bids), tuple(failed))]

    def session(self) -> Opening:
        """The opening session, if the tender is at its opening."""
        if self.state is not _S.OPENING:
            raise OpeningNotReady(f"Tender {self.id} is {self.state}, not at its opening.")
        return self.opening

    def start_evaluation(self, now: datetime) -> list[DomainEvent]:
        self._check(_S.EVALUATING)
        if self.opening.phase is not Phase.CLOSED:
            raise OpeningNotReady("The evaluation starts once the opening is closed.")
        return [EvaluationStarted(now)]

    # The evaluation: the draw and the rooms (room.py), per lot.

    def lots_to_evaluate(self) -> set[str]:
        """The lots with at least one bid opened: each needs its committee's result."""
        if self._to_evaluate is not None:
            return set(self._to_evaluate)
        lots = {b.lot for b in self.opening.bids.values() if b.state is BidState.DECRYPTED}
        if self._closed_facts():
            self._to_evaluate = frozenset(lots)
        return lots

    def _closed_facts(self) -> bool:
        """Whether the opening's facts are final, so what is derived from them may be kept.

        Once the opening is closed its bids, their sheets and the sealed lists never change
        again; every act in a room would otherwise derive them anew from all the tender's bids.
        """
        return self.opening.phase is Phase.CLOSED

    def context(self, lot: str, names: Mapping[str, str]) -> RoomContext:
        """The facts a lot's room decides with: the decrypted bids, their prices and receipts."""
        spec = self._require_spec()
        found = spec.lot(lot)
        if found is None:
            raise UnknownLot(f"Tender {self.id} has no lot {lot}.")
        bids = self._room_bids.get(lot)
        if bids is None:
            sealed = self.bids.sealed.get(lot)
            receipts = {r.bidder: r for r in sealed.receipts} if sealed else {}
            bids = tuple(
                Bid(
                    b.bidder,
                    Decimal(str(b.sheet["price"])),
                    receipts[b.bidder].received_at,
                    receipts[b.bidder].seq,
                )
                for b in self.opening.bids.values()
                if b.lot == lot
                and b.state is BidState.DECRYPTED
                and b.sheet
                and b.bidder in receipts
            )
            if self._closed_facts():
                self._room_bids[lot] = bids
        return RoomContext(self.id, spec, found, bids, self.opening.record_hash, names)

    def commit_draw(
        self, now: datetime, ctx: RoomContext, request: DrawRequest,
        snapshot: tuple[PoolEntry, ...], avoid: tuple[str, ...], committed_seed: str,
        sealed_seed: str,
    ) -> list[DomainEvent]:  # fmt: skip
        """专家抽取, step one: once the opening is closed, for a lot with bids to evaluate."""
        if self.state not in (_S.OPENING, _S.EVALUATING) or self.opening.phase is not Phase.CLOSED:
            raise DrawNotReady("Experts are drawn once the opening is closed.")
        if not ctx.bids:
            raise DrawNotReady(f"Lot {ctx.lot.id} has no opened bid to evaluate.")
        room = self.evaluation.rooms.get(ctx.lot.id) or Room(ctx.lot.id)
        return room.commit(now, ctx, request, snapshot, avoid, committed_seed, sealed_seed)

    def reveal_draw(self, now: datetime, lot: str, seed: bytes) -> list[DomainEvent]:
        return self.evaluation.room(lot).reveal(now, seed)

    def replace_member(
        self, now: datetime, lot: str, workstation: str, reason: str
    ) -> list[DomainEvent]:
        self._in_evaluation()
        return self.evaluation.room(lot).replace(now, workstation, _reason(reason))

    def act(
        self, now: datetime, ctx: RoomContext, act: Act, signature: str, arrival: Arrival
    ) -> list[DomainEvent]:
        self._in_evaluation()
        return self.evaluation.room(ctx.lot.id).act(now, ctx, act, signature, arrival)

    def answer_clarification(
        self, now: datetime, lot: str, bidder: str, clarification: str, text: str, signature: str
    ) -> list[DomainEvent]:
        self._in_evaluation()
        return self.evaluation.answer(now, lot, bidder, clarification, text, signature)

    def advance(self, now: datetime, ctx: RoomContext) -> list[DomainEvent]:
        """The node's next step in a lot's room; the tender concludes with the last result."""
        room = self.evaluation.rooms.get(ctx.lot.id)
        evaluating = self.state is _S.EVALUATING
        events = room.advance(now, ctx, evaluating) if room is not None else []
        if events or not evaluating:
            return events
        lots = self.lots_to_evaluate()
        if lots and self.evaluation.done(lots):
            done = ", ".join(sorted(lots))
            return [TenderConcluded(now, f"The committees' results are published (lots {done}).")]
        return []

    def _in_evaluation(self) -> None:
        if self.state is not _S.EVALUATING:
            raise WrongStage(f"Tender {self.id} is {self.state}, not under evaluation.")

    def conclude(self, now: datetime, summary: str) -> list[DomainEvent]:
        self._check(_S.CONCLUDED)
        return [TenderConcluded(now, _reason(summary))]

    def fail(self, now: datetime, reason: str) -> list[DomainEvent]:
        self._check(_S.FAILED)
        return [TenderFailed(now, _reason(reason))]

    def cancel(self, now: datetime, reason: str) -> list[DomainEvent]:
        self._check(_S.CANCELLED)
        return [TenderCancelled(now, _reason(reason), public=self.published)]

    def due(self, now: datetime) -> Due | None:
        """What the schedule makes happen by itself at `now`, if anything."""
        spec = self.spec
        if spec is None:
            return None
        if self.state is _S.PUBLISHED and now >= spec.bidding_opens_at:
            return Due.OPEN_BIDDING
        if self.state is _S.BIDDING and not self.bids_closed and now >= spec.deadline:
            return Due.CLOSE_BIDDING
        if self.state is _S.OPENING and self.opening.due(now, spec):
            return Due.CLOSE_DECRYPTION
        signing = self.evaluation.next_due()
        if self.state is _S.EVALUATING and signing is not None and now >= signing:
            return Due.CLOSE_SIGNING
        return None

    def close_decryption(self, now: datetime) -> list[DomainEvent]:
        return self.session().due(now, self._require_spec())

    def next_due(self) -> datetime | None:
        """When `due` will next have something to do, if ever."""
        if self.spec is None:
            return None
        if self.state is _S.PUBLISHED:
            return self.spec.bidding_opens_at
        if self.state is _S.BIDDING and not self.bids_closed:
            return self.spec.deadline
        if self.state is _S.OPENING:
            return self.opening.next_due()
        if self.state is _S.EVALUATING:
            return self.evaluation.next_due()
        return None

    # The fold.

    def apply(self, event: DomainEvent) -> None:
        self.bids.apply(event)
        self.opening.apply(event)
        self.evaluation.apply(event)
        if isinstance(event, TenderCreated):
            if self.state is not None:
                raise InvalidTransition(f"Tender {self.id} was already created.")
            self.state, self.spec, self.host = _S.DRAFT, event.spec, event.host
            return
        if isinstance(event, BiddingClosed):
            self.bids_closed = True
            return
        if isinstance(event, TenderPublished):
            self.published = True
        if isinstance(event, Ended):
            self.ended_reason = event.reason
        target = _STATE_AFTER.get(type(event))
        if target is not None:
            self._transition(target)

    # Helpers.

    def _require_spec(self) -> TenderSpec:
        if self.spec is None:
            raise InvalidTransition(f"Tender {self.id} does not exist.")
        return self.spec

    def _check(self, target: TenderState) -> TenderSpec:
        spec = self._require_spec()
        if self.state is None or target not in ALLOWED[self.state]:
            raise InvalidTransition(
                f"Tender {self.id} is {self.state}; it can't become {target} from there."
            )
        return spec

    def _transition(self, target: TenderState) -> None:
        self._check(target)
        logger.debug("%s -> %s", self.state, target)
        self.state = target


def _reason(text: str) -> str:
    reason = text.strip()
    if not reason or len(reason) > MAX_REASON:
        raise ReasonRequired(f"Give a reason of 1 to {MAX_REASON} characters; it goes on record.")
    return reason
