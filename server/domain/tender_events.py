"""The tender's own lifecycle events: created, published, the phases, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from recordings.vocabulary import EventType
from server.domain.events import OPENING_AUDIENCE, PUBLIC, STAFF, DomainEvent, Marker
from server.domain.spec import TenderSpec  # noqa: TC001 - the codec reads field types at run time

if TYPE_CHECKING:
    from datetime import datetime


@dataclass(frozen=True, slots=True)
class TenderCreated(DomainEvent):
    TYPE: ClassVar[str] = EventType.TENDER_CREATED
    VISIBILITY: ClassVar[frozenset[str]] = STAFF  # a draft is internal to the trading centre
    spec: TenderSpec
    host: str


@dataclass(frozen=True, slots=True)
class TenderPublished(DomainEvent):
    TYPE: ClassVar[str] = EventType.TENDER_PUBLISHED
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC
    spec: TenderSpec  # repeated here: bidders never see the draft


@dataclass(frozen=True, slots=True)
class BiddingOpened(Marker):
    TYPE: ClassVar[str] = EventType.TENDER_BIDDING_OPENED
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC


@dataclass(frozen=True, slots=True)
class BiddingClosed(Marker):
    TYPE: ClassVar[str] = EventType.TENDER_BIDDING_CLOSED
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC


@dataclass(frozen=True, slots=True)
class OpeningStarted(Marker):
    TYPE: ClassVar[str] = EventType.TENDER_OPENING_STARTED
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE


@dataclass(frozen=True, slots=True)
class EvaluationStarted(Marker):
    TYPE: ClassVar[str] = EventType.TENDER_EVALUATION_STARTED
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC


@dataclass(frozen=True, slots=True)
class Ended(DomainEvent):
    """An event that ends the tender, with the reason on record."""

    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class TenderConcluded(Ended):
    TYPE: ClassVar[str] = EventType.TENDER_CONCLUDED
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC


@dataclass(frozen=True, slots=True)
class TenderFailed(Ended):
    TYPE: ClassVar[str] = EventType.TENDER_FAILED
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC


@dataclass(frozen=True, slots=True)
class TenderCancelled(Ended):
    """Cancelling a draft stays internal: a tender never published never becomes public."""

    TYPE: ClassVar[str] = EventType.TENDER_CANCELLED
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC
    public: bool = True

    def visibility(self) -> frozenset[str]:
        return PUBLIC if self.public else STAFF
