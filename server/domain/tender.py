"""The tender aggregate: its specification, its lifecycle table and its commands."""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

from server.domain.errors import (
    BiddingNotOpenYet,
    DeadlineNotReached,
    InvalidTransition,
    OpeningTimeNotReached,
    ReasonRequired,
    ScheduleInPast,
)
from server.domain.events import OPENING_AUDIENCE, PUBLIC, STAFF, DomainEvent, Payload
from server.protocol.fields import UNSET_TIME, Reader
from server.protocol.times import format_time, parse_time

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger(__name__)

_LOT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")
# Regs 44: fewer than three bids and there is no opening.
MIN_BIDS_BY_LAW: Final = 3
# Law 37, GP87 47: an odd committee of at least five; seven for large procurements.
MIN_COMMITTEE: Final = 5
MIN_LARGE_COMMITTEE: Final = 7
MAX_COMMITTEE: Final = 49
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


class ScoringMethod(enum.StrEnum):
    COMPREHENSIVE = "comprehensive"  # 综合评估法
    LOWEST_EVALUATED_PRICE = "lowest_evaluated_price"  # 经评审的最低投标价法


@dataclass(frozen=True, slots=True)
class Lot:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class TenderSpec:
    """What the tender documents fix: lots, schedule, committee and scoring (placeholder)."""

    title: str
    tenderer: str
    lots: tuple[Lot, ...]
    bidding_opens_at: datetime
    deadline: datetime  # = opening time (E-Measures 29)
    sign_in_lead: timedelta
    decryption_window: timedelta
    committee_size: int
    large: bool
    min_bids: int
    scoring_method: ScoringMethod
    price_weight: int

    @classmethod
    def parse(cls, document: object) -> Self:
        """Validate a spec from JSON; every problem is reported at once (InvalidFields)."""
        root = Reader(document)
        lots = [
            Lot(item.text("id", max_len=32, pattern=_LOT_ID), item.text("name"))
            for item in root.items("lots", min_len=1, max_len=50)
        ]
        schedule, committee, scoring = (root.child(n) for n in ("schedule", "committee", "scoring"))
        spec = cls(
            title=root.text("title"),
            tenderer=root.text("tenderer"),
            lots=tuple(lots),
            bidding_opens_at=schedule.time("bidding_opens_at"),
            deadline=schedule.time("deadline"),
            sign_in_lead=timedelta(
                minutes=schedule.integer("sign_in_lead_minutes", low=0, high=240)
            ),
            decryption_window=timedelta(
                minutes=schedule.integer("decryption_window_minutes", low=1, high=480)
            ),
            committee_size=committee.integer("size", low=MIN_COMMITTEE, high=MAX_COMMITTEE),
            large=committee.boolean("large"),
            min_bids=root.integer("min_bids", low=MIN_BIDS_BY_LAW, high=1000),
            scoring_method=scoring.choice("method", ScoringMethod) or ScoringMethod.COMPREHENSIVE,
            price_weight=scoring.integer("price_weight", low=0, high=100),
        )
        spec._cross_check(root, schedule, committee)
        root.finish()
        return spec

    def _cross_check(self, root: Reader, schedule: Reader, committee: Reader) -> None:
        if len({lot.id for lot in self.lots}) != len(self.lots):
            root.problem("lots", "lot ids must be unique")
        times_known = UNSET_TIME not in (self.bidding_opens_at, self.deadline)
        if times_known and self.deadline <= self.bidding_opens_at:
            schedule.problem("deadline", "must be after bidding_opens_at")
        if self.committee_size % 2 == 0:
            committee.problem("size", "must be odd (Law 37)")
        if self.large and self.committee_size < MIN_LARGE_COMMITTEE:
            committee.problem("size", "must be at least 7 for a large procurement (GP87 47)")

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "tenderer": self.tenderer,
            "lots": [{"id": lot.id, "name": lot.name} for lot in self.lots],
            "schedule": {
                "bidding_opens_at": format_time(self.bidding_opens_at),
                "deadline": format_time(self.deadline),
                "sign_in_lead_minutes": self.sign_in_lead // timedelta(minutes=1),
                "decryption_window_minutes": self.decryption_window // timedelta(minutes=1),
            },
            "committee": {"size": self.committee_size, "large": self.large},
            "min_bids": self.min_bids,
            "scoring": {"method": self.scoring_method.value, "price_weight": self.price_weight},
        }


# Events.


@dataclass(frozen=True, slots=True)
class TenderCreated(DomainEvent):
    TYPE: ClassVar[str] = "tender.created"
    VISIBILITY: ClassVar[frozenset[str]] = STAFF  # a draft is internal to the trading centre
    spec: TenderSpec
    host: str

    def payload(self) -> dict[str, Any]:
        return {"spec": self.spec.to_json(), "host": self.host}

    @classmethod
    def from_payload(cls, payload: Payload) -> Self:
        return cls(TenderSpec.parse(payload["spec"]), payload["host"])


@dataclass(frozen=True, slots=True)
class TenderPublished(DomainEvent):
    TYPE: ClassVar[str] = "tender.published"
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC
    spec: TenderSpec  # repeated here: bidders never see the draft

    def payload(self) -> dict[str, Any]:
        return {"spec": self.spec.to_json()}

    @classmethod
    def from_payload(cls, payload: Payload) -> Self:
        return cls(TenderSpec.parse(payload["spec"]))


@dataclass(frozen=True, slots=True)
class _Marker(DomainEvent):
    """An event whose only content is the moment it marks."""

    at: datetime

    def payload(self) -> dict[str, Any]:
        return {"at": format_time(self.at)}

    @classmethod
    def from_payload(cls, payload: Payload) -> Self:
        return cls(parse_time(payload["at"]))


@dataclass(frozen=True, slots=True)
class BiddingOpened(_Marker):
    TYPE: ClassVar[str] = "tender.bidding_opened"
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC


@dataclass(frozen=True, slots=True)
class BiddingClosed(_Marker):
    TYPE: ClassVar[str] = "tender.bidding_closed"
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC


@dataclass(frozen=True, slots=True)
class OpeningStarted(_Marker):
    TYPE: ClassVar[str] = "tender.opening_started"
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE


@dataclass(frozen=True, slots=True)
class EvaluationStarted(_Marker):
    TYPE: ClassVar[str] = "tender.evaluation_started"
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC


@dataclass(frozen=True, slots=True)
class _Ended(DomainEvent):
    """An event that ends the tender, with the reason on record."""

    at: datetime
    reason: str

    def payload(self) -> dict[str, Any]:
        return {"at": format_time(self.at), "reason": self.reason}

    @classmethod
    def from_payload(cls, payload: Payload) -> Self:
        return cls(parse_time(payload["at"]), payload["reason"])


@dataclass(frozen=True, slots=True)
class TenderConcluded(_Ended):
    TYPE: ClassVar[str] = "tender.concluded"
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC


@dataclass(frozen=True, slots=True)
class TenderFailed(_Ended):
    TYPE: ClassVar[str] = "tender.failed"
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC


@dataclass(frozen=True, slots=True)
class TenderCancelled(_Ended):
    """Cancelling a draft stays internal: a tender never published never becomes public."""

    TYPE: ClassVar[str] = "tender.cancelled"
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC
    public: bool = True

    def payload(self) -> dict[str, Any]:
        return {"at": format_time(self.at), "reason": self.reason, "public": self.public}

    @classmethod
    def from_payload(cls, payload: Payload) -> Self:
        return cls(parse_time(payload["at"]), payload["reason"], bool(payload["public"]))

    def visibility(self) -> frozenset[str]:
        return PUBLIC if self.public else STAFF


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

    # Commands.

    @staticmethod
    def create(spec: TenderSpec, host: str) -> list[DomainEvent]:
        return [TenderCreated(spec, host)]

    def publish(self, now: datetime) -> list[DomainEvent]:
        spec = self._check(_S.PUBLISHED)
        if spec.deadline <= now:
            raise ScheduleInPast(
                f"The deadline {format_time(spec.deadline)} has passed; amend the schedule."
            )
        return [TenderPublished(spec)]

    def open_bidding(self, now: datetime) -> list[DomainEvent]:
        spec = self._check(_S.BIDDING)
        if now < spec.bidding_opens_at:
            raise BiddingNotOpenYet(f"Bidding opens at {format_time(spec.bidding_opens_at)}.")
        return [BiddingOpened(now)]

    def close_bidding(self, now: datetime) -> list[DomainEvent]:
        spec = self._require_spec()
        if self.state is not _S.BIDDING or self.bids_closed:
            raise InvalidTransition(f"Bidding is not open on tender {self.id}.")
        if now < spec.deadline:
            raise DeadlineNotReached(f"Bidding closes at {format_time(spec.deadline)}.")
        return [BiddingClosed(now)]

    def start_opening(self, now: datetime) -> list[DomainEvent]:
        spec = self._check(_S.OPENING)
        if now < spec.deadline:
            raise OpeningTimeNotReached(
                f"The opening can't start before {format_time(spec.deadline)}."
            )
        closing = [] if self.bids_closed else [BiddingClosed(now)]
        return [*closing, OpeningStarted(now)]

    def start_evaluation(self, now: datetime) -> list[DomainEvent]:
        self._check(_S.EVALUATING)
        return [EvaluationStarted(now)]

    def conclude(self, now: datetime, summary: str) -> list[DomainEvent]:
        self._check(_S.CONCLUDED)
        return [TenderConcluded(now, _reason(summary))]

    def fail(self, now: datetime, reason: str) -> list[DomainEvent]:
        self._check(_S.FAILED)
        return [TenderFailed(now, _reason(reason))]

    def cancel(self, now: datetime, reason: str) -> list[DomainEvent]:
        self._check(_S.CANCELLED)
        return [TenderCancelled(now, _reason(reason), public=self.published)]

    def due(self, now: datetime) -> list[DomainEvent]:
        """What the schedule makes happen by itself at `now` (bidding opens, deadline passes)."""
        if self.spec is None:
            return []
        if self.state is _S.PUBLISHED and now >= self.spec.bidding_opens_at:
            return self.open_bidding(now)
        if self.state is _S.BIDDING and not self.bids_closed and now >= self.spec.deadline:
            return self.close_bidding(now)
        return []

    def next_due(self) -> datetime | None:
        """When `due` will next have something to do, if ever."""
        if self.spec is None:
            return None
        if self.state is _S.PUBLISHED:
            return self.spec.bidding_opens_at
        if self.state is _S.BIDDING and not self.bids_closed:
            return self.spec.deadline
        return None

    # The fold.

    def apply(self, event: DomainEvent) -> None:
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
        if isinstance(event, _Ended):
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
