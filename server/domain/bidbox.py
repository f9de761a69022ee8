"""The bid box (投标箱): sealed bids and sign-ins before the deadline, in a stream of its own.

Bidder names and their number stay confidential until the deadline (E-Measures 21). Events hidden
inside a tender's stream would still show as gaps in its sequence numbers, which every reader of
the tender sees; so whatever reveals a bidder before the deadline is recorded here instead, in a
stream only supervisors read. At the deadline the box is sealed, and the tender's stream gets the
signed list of each lot and the sign-ins so far (server/service/tenders.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Final

from recordings.vocabulary import EventType
from server.domain.errors import DeadlinePassed, DuplicateBid, NoBid, TooManyRevisions
from server.domain.events import OVERSIGHT, DomainEvent, Marker
from server.domain.opening_events import SignedIn
from server.domain.sealed_bids import BidSubmitted, BidWithdrawn, Receipt
from server.protocol import box_tender

if TYPE_CHECKING:
    from datetime import datetime

    from server.domain.tender import Tender

# Every revision is a stored file until the next one replaces it: bound how often that happens.
MAX_RECEIPTS_PER_LOT: Final = 20


@dataclass(frozen=True, slots=True)
class BoxSealed(Marker):
    """The deadline: nothing more goes into the box."""

    TYPE: ClassVar[str] = EventType.BOX_SEALED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT


class BidBox:
    """The current bid of each bidder per lot, every receipt given, and who signed in."""

    def __init__(self, stream: str) -> None:
        tender = box_tender(stream)
        if tender is None:
            raise ValueError(f"{stream} is not the stream of a bid box.")
        self.tender = tender
        self.sealed = False
        self.current: dict[tuple[str, str], Receipt] = {}
        self.history: list[Receipt] = []
        self.signed_in: dict[str, datetime] = {}

    # Commands. `tender` is the tender's aggregate as it stands: it knows the schedule.

    def submit(
        self, now: datetime, tender: Tender, receipt: Receipt, signature: str
    ) -> list[DomainEvent]:
        self._open(tender)
        tender.check_submission(now, receipt.lot)
        current = self.current.get((receipt.lot, receipt.bidder))
        if current is not None and current.sha256 == receipt.sha256:
            raise DuplicateBid("This sealed file is already your current bid for the lot.")
        given = sum(1 for r in self.history if (r.lot, r.bidder) == (receipt.lot, receipt.bidder))
        if given >= MAX_RECEIPTS_PER_LOT:
            raise TooManyRevisions(
                f"A bid for a lot can be submitted or revised {MAX_RECEIPTS_PER_LOT} times at most."
            )
        return [BidSubmitted(receipt, signature)]

    def next_receipt(self, bidder: str) -> int:
        """The number of the bidder's next receipt in this tender: 1, 2, ... per bidder.

        Counting per bidder, not per box, so that a receipt says nothing of other bidders.
        """
        return 1 + sum(1 for receipt in self.history if receipt.bidder == bidder)

    def withdraw(self, now: datetime, tender: Tender, lot: str, bidder: str) -> list[DomainEvent]:
        self._open(tender)
        tender.check_submission(now, lot)
        if (lot, bidder) not in self.current:
            raise NoBid(f"There is no bid of yours in lot {lot} to withdraw.")
        return [BidWithdrawn(lot, bidder, now)]

    def sign_in(self, now: datetime, tender: Tender, bidder: str) -> list[DomainEvent]:
        """签到 before the deadline; after it, the tender takes sign-ins (Tender.sign_in)."""
        self._open(tender)
        tender.check_sign_in(now)
        if not any(b == bidder for _, b in self.current):
            raise NoBid("Only bidders with a sealed bid take part in the opening.")
        return [] if bidder in self.signed_in else [SignedIn(bidder, now)]

    def seal(self, now: datetime) -> list[DomainEvent]:
        return [] if self.sealed else [BoxSealed(now)]

    def of_lot(self, lot: str) -> list[Receipt]:
        """The lot's current bids in a stable order (by bidder id)."""
        receipts = [r for (lot_id, _), r in self.current.items() if lot_id == lot]
        return sorted(receipts, key=lambda r: r.bidder)

    def _open(self, tender: Tender) -> None:
        if self.sealed or tender.bids_closed:
            raise DeadlinePassed("The bid box is sealed: the deadline has passed.")

    # The fold.

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, BidSubmitted):
            receipt = event.receipt
            self.current[(receipt.lot, receipt.bidder)] = receipt  # a revision replaces
            self.history.append(receipt)
        elif isinstance(event, BidWithdrawn):
            self.current.pop((event.lot, event.bidder), None)
        elif isinstance(event, SignedIn):
            self.signed_in.setdefault(event.bidder, event.at)
        elif isinstance(event, BoxSealed):
            self.sealed = True
