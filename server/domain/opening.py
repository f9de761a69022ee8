"""The opening session (不见面开标): decryption, custodians, the record, objections, closing.

The session lives inside the tender aggregate. Its commands check the rules and return events;
`apply` folds events in. Hashes and signatures come from the service: the domain does no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from server.domain.errors import (
    AlreadyResponded,
    BidNotPending,
    ConfirmationWindowClosed,
    DecryptionInProgress,
    DecryptionWindowClosed,
    InvalidTransition,
    NoBid,
    NotACustodian,
    NotSignedIn,
    OpeningAlreadyClosed,
    OpeningNotReady,
    OpeningStillOpen,
    UnknownObjection,
)
from server.domain.opening_events import (
    AttemptFailed,
    BidFailed,
    BidOpened,
    DecryptionClosed,
    DecryptionPaused,
    DecryptionResumed,
    DecryptionStarted,
    MessageSent,
    ObjectionAnswered,
    ObjectionRaised,
    OpeningClosed,
    OpeningKeyIssued,
    RecordConfirmed,
    RecordPublished,
    ResendRequested,
    ShareSubmitted,
    SheetExtracted,
    SignedIn,
)
from server.protocol import opening_sheet
from server.protocol.times import format_time

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from server.domain.events import DomainEvent
    from server.domain.spec import TenderSpec

# Deployed systems give a bidder a few tries at decrypting before its bid counts as revoked.
MAX_ATTEMPTS: Final = 3
MAX_TEXT: Final = 2000
# Messages one participant may send in one opening: enough for any opening, bounded for the log.
MAX_MESSAGES: Final = 200


class Phase(enum.StrEnum):
    DECRYPTING = "decrypting"
    PAUSED = "paused"
    DECRYPTION_CLOSED = "decryption_closed"
    RECORD_PUBLISHED = "record_published"
    CLOSED = "closed"


_P = Phase
# The session's lifecycle: from each phase (None: not started), the phases it may move to.
# The record is read out from a running window once every bid is decrypted, or after it.
ALLOWED: Final[Mapping[Phase | None, frozenset[Phase]]] = MappingProxyType(
    {
        None: frozenset({_P.DECRYPTING}),
        _P.DECRYPTING: frozenset({_P.PAUSED, _P.DECRYPTION_CLOSED, _P.RECORD_PUBLISHED}),
        _P.PAUSED: frozenset({_P.DECRYPTING}),
        _P.DECRYPTION_CLOSED: frozenset({_P.RECORD_PUBLISHED}),
        _P.RECORD_PUBLISHED: frozenset({_P.CLOSED}),
        _P.CLOSED: frozenset(),
    }
)


class BidState(enum.StrEnum):
    PENDING = "pending"
    DECRYPTED = "decrypted"
    REVOKED = "revoked"  # the bidder's fault (E-Measures 31)
    WITHDRAWN = "withdrawn"  # anyone else's fault


@dataclass
class OpeningBid:
    lot: str
    bidder: str
    state: BidState = BidState.PENDING
    attempts: int = 0
    by: str | None = None
    sheet: dict[str, Any] | None = None
    sealed_key: str | None = None
    fault: str | None = None
    reason: str | None = None


@dataclass
class Objection:
    id: str
    bidder: str
    text: str
    at: datetime
    answer: str | None = None


@dataclass
class OpeningKey:
    public_key: str
    threshold: int
    holders: dict[str, tuple[int, str]]  # custodian -> (index, commitment)


@dataclass
class Opening:
    phase: Phase | None = None
    ends_at: datetime | None = None
    remaining: timedelta | None = None
    bids: dict[tuple[str, str], OpeningBid] = field(default_factory=dict)
    failed_lots: dict[str, str] = field(default_factory=dict)
    signed_in: set[str] = field(default_factory=set)
    key: OpeningKey | None = None
    shares: dict[int, str] = field(default_factory=dict)
    record: dict[str, Any] | None = None
    record_hash: str | None = None
    confirm_until: datetime | None = None
    responses: dict[str, str] = field(default_factory=dict)
    objections: dict[str, Objection] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)  # sender -> messages sent

    # Decryption.

    def bid(self, lot: str, bidder: str) -> OpeningBid:
        found = self.bids.get((lot, bidder))
        if found is None:
            raise NoBid(f"{bidder} has no bid in the opening of lot {lot}.")
        return found

    def decryptable(
        self, now: datetime, lot: str, bidder: str, *, by_custodians: bool = False,
        asked_at: datetime | None = None,
    ) -> OpeningBid:  # fmt: skip
        """The bid, if it may be decrypted now; otherwise the refusal naming the rule.

        A bidder's key counts as sent in time if it arrived (`asked_at`) within the window:
        the window's end and pauses wait for the decryptions in flight (service/inflight.py).
        """
        if self.phase is None:
            raise OpeningNotReady("The opening has not started.")
        found = self.bid(lot, bidder)
        if found.state is not BidState.PENDING:
            raise BidNotPending(f"The bid of {bidder} in lot {lot} is already {found.state}.")
        if by_custodians:
            if self.phase is not Phase.DECRYPTION_CLOSED:
                raise OpeningNotReady("Custodians open bids after the window, before the record.")
            return found
        if bidder not in self.signed_in:
            raise NotSignedIn(f"{bidder} has not signed in for the opening.")
        if self.phase is Phase.PAUSED:
            raise OpeningNotReady("Decryption is paused; wait for the host to resume it.")
        sent = asked_at or now
        if self.phase is not Phase.DECRYPTING or (
            self.ends_at is not None and sent >= self.ends_at
        ):
            raise DecryptionWindowClosed("The decryption window is closed.")
        return found

    def opened(
        self, now: datetime, spec: TenderSpec, tender: str, lot: str, bidder: str,
        by: str, sheet: dict[str, Any], sealed_key: str, asked_at: datetime | None = None,
    ) -> list[DomainEvent]:  # fmt: skip
        self.decryptable(now, lot, bidder, by_custodians=by == "custodians", asked_at=asked_at)
        problem = sheet_problem(sheet, spec, tender, lot, bidder)
        if problem is not None:
            return [
                BidFailed(lot, bidder, "bidder", f"The opening sheet is invalid: {problem}", now)
            ]
        return [BidOpened(lot, bidder, by, now), SheetExtracted(lot, bidder, sheet, sealed_key)]

    def broken(
        self, now: datetime, lot: str, bidder: str, by: str, reason: str,
        asked_at: datetime | None = None,
    ) -> list[DomainEvent]:  # fmt: skip
        """The key opened the bid but its content is broken: the bidder's fault (E-Measures 31)."""
        self.decryptable(now, lot, bidder, by_custodians=by == "custodians", asked_at=asked_at)
        return [BidFailed(lot, bidder, "bidder", reason, now)]

    def attempt_failed(
        self, now: datetime, lot: str, bidder: str, reason: str, asked_at: datetime | None = None
    ) -> list[DomainEvent]:
        found = self.decryptable(now, lot, bidder, asked_at=asked_at)
        events: list[DomainEvent] = [AttemptFailed(lot, bidder, found.attempts + 1, reason)]
        if found.attempts + 1 >= MAX_ATTEMPTS:
            why = f"The bid could not be decrypted in {MAX_ATTEMPTS} attempts: {reason}"
            events.append(BidFailed(lot, bidder, "bidder", why, now))
        return events

    def platform_failed(
        self, now: datetime, lot: str, bidder: str, by: str, reason: str,
        asked_at: datetime | None = None,
    ) -> list[DomainEvent]:  # fmt: skip
        """The node could not read the bid: anyone's fault but the bidder's (withdrawn)."""
        self.decryptable(now, lot, bidder, by_custodians=by == "custodians", asked_at=asked_at)
        return [BidFailed(lot, bidder, "platform", reason, now)]

    def pause(self, now: datetime, reason: str) -> list[DomainEvent]:
        if self.phase is not Phase.DECRYPTING or self.ends_at is None or now >= self.ends_at:
            raise OpeningNotReady("Only a running decryption window can be paused.")
        return [DecryptionPaused(now, reason, (self.ends_at - now).total_seconds())]

    def resume(self, now: datetime) -> list[DomainEvent]:
        if self.phase is not Phase.PAUSED or self.remaining is None:
            raise OpeningNotReady("Decryption is not paused.")
        return [DecryptionResumed(now, now + self.remaining)]

    def due(self, now: datetime, spec: TenderSpec) -> list[DomainEvent]:
        """The window's end: pending bids count as revoked unless custodians may still open them."""
        if self.phase is not Phase.DECRYPTING or self.ends_at is None or now < self.ends_at:
            return []
        events: list[DomainEvent] = [DecryptionClosed(now)]
        if not spec.opening.wrap_bids:
            events += self._fail_pending(now, "not decrypted within the window")
        return events

    def next_due(self) -> datetime | None:
        return self.ends_at if self.phase is Phase.DECRYPTING else None

    def _fail_pending(self, now: datetime, reason: str) -> list[DomainEvent]:
        return [
            BidFailed(b.lot, b.bidder, "bidder", reason, now)
            for b in self.bids.values()
            if b.state is BidState.PENDING
        ]

    # Custodians.

    def share(
        self, now: datetime, spec: TenderSpec, custodian: str, index: int
    ) -> list[DomainEvent]:
        if (
            self.key is None
            or custodian not in self.key.holders
            or self.key.holders[custodian][0] != index
        ):
            raise NotACustodian(f"{custodian} holds no share {index} of this tender's opening key.")
        if not spec.opening.wrap_bids:
            raise OpeningNotReady("This tender does not let custodians open bids.")
        if self.phase is not Phase.DECRYPTION_CLOSED:
            # Bidders decrypt their own bids first; custodians open only what remains after.
            raise OpeningNotReady(
                "Custodians' shares are taken once the decryption window is over."
            )
        if index in self.shares:
            raise AlreadyResponded(f"Share {index} was already submitted.")
        if self.quorum:
            raise AlreadyResponded("Enough shares are in: the custodians' part is done.")
        return [ShareSubmitted(custodian, index, now)]

    @property
    def quorum(self) -> bool:
        return self.key is not None and len(self.shares) >= self.key.threshold

    # A node that starts afresh.

    def resend_requested(
        self, node: str, now: datetime, held: Collection[int] = ()
    ) -> list[DomainEvent]:
        """What a node starting afresh lost of this opening, as a request to send it again.

        Shares on record while bids remain closed, other than the indices `held` in memory,
        were held only in the previous node's memory: their custodians must send them again.
        In a running decryption window, the bidders whose bids are still closed may have had a
        decryption cut off. Nothing lost, no event.
        """
        pending = sorted(b.bidder for b in self.bids.values() if b.state is BidState.PENDING)
        lost = [custodian for index, custodian in self.shares.items() if index not in held]
        custodians = sorted(set(lost)) if pending else []
        bidders = pending if self.phase in (Phase.DECRYPTING, Phase.PAUSED) else []
        if not custodians and not bidders:
            return []
        return [ResendRequested(node, tuple(custodians), tuple(bidders), now)]

    # The record (唱标), confirmations and objections.

    def record_document(
        self, tender: str, spec: TenderSpec, names: dict[str, str], now: datetime
    ) -> dict[str, Any]:
        """The opening record as it will be read out at `now` (pending bids count as revoked)."""
        if (
            self.phase is Phase.DECRYPTING
            and any(b.state is BidState.PENDING for b in self.bids.values())
            and (self.ends_at is None or now < self.ends_at)
        ):
            raise DecryptionInProgress("Bids are still being decrypted; wait for the window.")
        if self.phase not in (Phase.DECRYPTING, Phase.DECRYPTION_CLOSED):
            raise OpeningNotReady("The record is read out after decryption, once.")
        lots = []
        for lot in spec.lots:
            entries = [self._entry(b, names) for b in self.bids.values() if b.lot == lot.id]
            item: dict[str, Any] = {"lot": lot.id, "name": lot.name, "bids": entries}
            if lot.id in self.failed_lots:
                item["failed"] = self.failed_lots[lot.id]
            lots.append(item)
        return {"v": 1, "type": "opening-record", "tender": tender, "title": spec.title,
                "tenderer": spec.tenderer, "at": format_time(now), "lots": lots}  # fmt: skip

    def _entry(self, bid: OpeningBid, names: dict[str, str]) -> dict[str, Any]:
        entry: dict[str, Any] = {"bidder": bid.bidder, "name": names.get(bid.bidder, bid.bidder)}
        if bid.state is BidState.PENDING:
            entry |= {
                "status": BidState.REVOKED.value,
                "fault": "bidder",
                "reason": "not decrypted",
            }
        elif bid.state is BidState.DECRYPTED:
            entry |= {"status": bid.state.value, "by": bid.by, "sheet": bid.sheet}
        else:
            entry |= {"status": bid.state.value, "fault": bid.fault, "reason": bid.reason}
        return entry

    def publish(
        self, now: datetime, spec: TenderSpec, record: dict[str, Any], record_hash: str
    ) -> list[DomainEvent]:
        events = self._fail_pending(now, "not decrypted")
        window = spec.opening.confirmation_window
        return [*events, RecordPublished(record, record_hash, now + window)]

    def _respondable(self, now: datetime, bidder: str) -> None:
        if self.phase is not Phase.RECORD_PUBLISHED or self.confirm_until is None:
            raise OpeningNotReady("There is no opening record to respond to yet.")
        if now > self.confirm_until:
            raise ConfirmationWindowClosed("The time to confirm or object has passed.")
        if not any(b.bidder == bidder for b in self.bids.values()):
            raise NoBid(f"{bidder} has no bid in this opening.")
        if bidder not in self.signed_in:
            raise NotSignedIn(f"{bidder} has not signed in for the opening.")
        if bidder in self.responses:
            raise AlreadyResponded(f"{bidder} has already {self.responses[bidder]}.")

    def confirm(self, now: datetime, bidder: str, signature: str) -> list[DomainEvent]:
        self._respondable(now, bidder)
        return [RecordConfirmed(bidder, signature, now)]

    def object(self, now: datetime, bidder: str, text: str, signature: str) -> list[DomainEvent]:
        self._respondable(now, bidder)
        return [ObjectionRaised(f"o{len(self.objections) + 1}", bidder, text, signature, now)]

    def answer(self, now: datetime, objection: str, text: str) -> list[DomainEvent]:
        found = self.objections.get(objection)
        if self.phase is not Phase.RECORD_PUBLISHED or found is None or found.answer is not None:
            raise UnknownObjection(f"There is no open objection {objection}.")
        return [ObjectionAnswered(objection, text, now)]

    def final_document(self, now: datetime) -> dict[str, Any]:
        """The record as closed: confirmations, objections with answers, who is deemed to accept."""
        self._closable(now)
        bidders = sorted({b.bidder for b in self.bids.values()})
        return {
            "v": 1,
            "type": "opening-record-final",
            "record": self.record,
            "record_hash": self.record_hash,
            "confirmed": sorted(b for b, r in self.responses.items() if r == "confirmed"),
            # GP87 42: a bidder who does not respond is deemed to accept the record.
            "deemed_accepted": [b for b in bidders if b not in self.responses],
            "objections": [
                {"id": o.id, "bidder": o.bidder, "text": o.text, "answer": o.answer}
                for o in self.objections.values()
            ],
            "closed_at": format_time(now),
        }

    def _closable(self, now: datetime) -> None:
        if self.phase is Phase.CLOSED:
            raise OpeningAlreadyClosed("The opening is already closed.")
        if self.phase is not Phase.RECORD_PUBLISHED or self.confirm_until is None:
            raise OpeningNotReady("The record has not been read out.")
        if any(o.answer is None for o in self.objections.values()):
            raise OpeningStillOpen("Every objection must be answered on record first.")
        everyone = {b.bidder for b in self.bids.values()} <= set(self.responses)
        if not everyone and now <= self.confirm_until:
            raise OpeningStillOpen("Bidders may still confirm or object.")

    def close(
        self, now: datetime, record: dict[str, Any], record_hash: str, signature: str
    ) -> list[DomainEvent]:
        self._closable(now)
        return [OpeningClosed(record, record_hash, signature, now)]

    # The fold.

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, OpeningKeyIssued):
            holders = {c: (i, h) for c, i, h in event.holders}
            self.key = OpeningKey(event.public_key, event.threshold, holders)
        elif isinstance(event, SignedIn):
            self.signed_in.add(event.bidder)
        elif isinstance(event, DecryptionStarted):
            self._enter(Phase.DECRYPTING)
            self.ends_at = event.ends_at
            self.bids = {(lot, b): OpeningBid(lot, b) for lot, b in event.bids}
            self.failed_lots = dict(event.failed_lots)
        elif isinstance(event, DecryptionPaused):
            self._enter(Phase.PAUSED)
            self.remaining = timedelta(seconds=event.remaining_seconds)
        elif isinstance(event, DecryptionResumed):
            self._enter(Phase.DECRYPTING)
            self.ends_at, self.remaining = event.ends_at, None
        elif isinstance(event, DecryptionClosed):
            self._enter(Phase.DECRYPTION_CLOSED)
        elif isinstance(event, AttemptFailed):
            self.bids[(event.lot, event.bidder)].attempts = event.attempt
        elif isinstance(event, BidOpened):
            found = self.bids[(event.lot, event.bidder)]
            found.state, found.by = BidState.DECRYPTED, event.by
        elif isinstance(event, SheetExtracted):
            found = self.bids[(event.lot, event.bidder)]
            found.sheet, found.sealed_key = event.sheet, event.sealed_key
        elif isinstance(event, BidFailed):
            found = self.bids[(event.lot, event.bidder)]
            found.state = BidState.REVOKED if event.fault == "bidder" else BidState.WITHDRAWN
            found.fault, found.reason = event.fault, event.reason
        elif isinstance(event, ShareSubmitted):
            self.shares[event.index] = event.custodian
        elif isinstance(event, RecordPublished):
            self._enter(Phase.RECORD_PUBLISHED)
            self.record = event.record
            self.record_hash, self.confirm_until = event.record_hash, event.confirm_until
        elif isinstance(event, RecordConfirmed):
            self.responses[event.bidder] = "confirmed"
        elif isinstance(event, ObjectionRaised):
            self.responses[event.bidder] = "objected"
            self.objections[event.objection] = Objection(
                event.objection, event.bidder, event.text, event.at
            )
        elif isinstance(event, ObjectionAnswered):
            self.objections[event.objection].answer = event.answer
        elif isinstance(event, MessageSent):
            self.messages[event.sender] = self.messages.get(event.sender, 0) + 1
        elif isinstance(event, OpeningClosed):
            self._enter(Phase.CLOSED)

    def _enter(self, phase: Phase) -> None:
        """Move to `phase` as the table allows; any other move is a defect."""
        if phase not in ALLOWED[self.phase]:
            now = self.phase or "not started"
            raise InvalidTransition(f"The opening is {now}; it can't become {phase} from there.")
        self.phase = phase


def sheet_problem(
    sheet: dict[str, Any], spec: TenderSpec, tender: str, lot: str, bidder: str
) -> str | None:
    """What is wrong with an opening sheet under `spec`, or None (protocol/opening_sheet.py)."""
    fields = (f.name for f in spec.opening.sheet_fields)
    return opening_sheet.sheet_problem(sheet, fields, tender, lot, bidder)
