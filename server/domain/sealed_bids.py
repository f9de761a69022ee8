"""Sealed bids: receipts, revisions and withdrawals (in the bid box), sealed lists (the tender)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

from recordings.vocabulary import EventType
from server.domain.access import participant_audience
from server.domain.codec import key
from server.domain.events import OVERSIGHT, PUBLIC, DomainEvent, Payload
from server.protocol.times import format_time, parse_time

if TYPE_CHECKING:
    from datetime import datetime

# Uploads are refused past this size; a sealed bid of hundreds of MB is normal.
MAX_BID_BYTES: Final = 4 * 1024**3


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the node signs (label `receipt`) when a sealed bid has arrived whole."""

    tender: str
    lot: str
    bidder: str
    size: int
    sha256: str
    received_at: datetime
    seq: int

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "type": "bid-receipt",
            "tender": self.tender,
            "lot": self.lot,
            "bidder": self.bidder,
            "size": self.size,
            "sha256": self.sha256,
            "received_at": format_time(self.received_at),
            "seq": self.seq,
        }

    @classmethod
    def from_json(cls, document: Payload) -> Self:
        return cls(
            document["tender"], document["lot"], document["bidder"], document["size"],
            document["sha256"], parse_time(document["received_at"]), document["seq"],
        )  # fmt: skip


def _bidder_only(bidder: str) -> frozenset[str]:
    # Bidder names and their number stay hidden from all but supervisors before the deadline
    # (E-Measures 21): each bidder sees its own, supervisors see all.
    return OVERSIGHT | {participant_audience(bidder)}


@dataclass(frozen=True, slots=True)
class BidSubmitted(DomainEvent):
    TYPE: ClassVar[str] = EventType.BID_SUBMITTED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    receipt: Receipt
    signature: str  # the node's, base64url

    def visibility(self) -> frozenset[str]:
        return _bidder_only(self.receipt.bidder)


@dataclass(frozen=True, slots=True)
class BidWithdrawn(DomainEvent):
    TYPE: ClassVar[str] = EventType.BID_WITHDRAWN
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    lot: str
    bidder: str
    at: datetime

    def visibility(self) -> frozenset[str]:
        return _bidder_only(self.bidder)


@dataclass(frozen=True, slots=True)
class SealedList:
    """The bids of a lot as they stood at the deadline, with their Merkle root, node-signed."""

    tender: str
    lot: str
    sealed_at: datetime
    receipts: tuple[Receipt, ...]
    root: str  # hex RFC 6962 root over the receipts' canonical JSON, in list order

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "type": "sealed-list",
            "tender": self.tender,
            "lot": self.lot,
            "sealed_at": format_time(self.sealed_at),
            "receipts": [receipt.to_json() for receipt in self.receipts],
            "root": self.root,
        }

    @classmethod
    def from_json(cls, document: Payload) -> Self:
        return cls(
            document["tender"], document["lot"], parse_time(document["sealed_at"]),
            tuple(Receipt.from_json(r) for r in document["receipts"]), document["root"],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class LotSealed(DomainEvent):
    TYPE: ClassVar[str] = EventType.LOT_SEALED
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC  # after the deadline, names may be known
    sealed: SealedList = field(metadata=key("list"))
    signature: str


@dataclass
class SealedBids:
    """The tender's side of its bids: each lot's signed list as sealed at the deadline."""

    sealed: dict[str, SealedList] = field(default_factory=dict)
    signatures: dict[str, str] = field(default_factory=dict)

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, LotSealed):
            self.sealed[event.sealed.lot] = event.sealed
            self.signatures[event.sealed.lot] = event.signature

    def bidders(self) -> set[str]:
        return {receipt.bidder for listing in self.sealed.values() for receipt in listing.receipts}
