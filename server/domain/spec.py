"""What the tender documents fix: lots, schedule, committee, scoring and the opening's rules."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Self

from server.protocol.fields import UNSET_TIME, Reader
from server.protocol.times import format_time

_LOT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")
_PARTICIPANT: Final = re.compile(r"p-[a-z0-9]{4,32}")
_FIELD_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
# Regs 44: fewer than three bids and there is no opening.
MIN_BIDS_BY_LAW: Final = 3
# Law 37, GP87 47: an odd committee of at least five; seven for large procurements.
MIN_COMMITTEE: Final = 5
MIN_LARGE_COMMITTEE: Final = 7
MAX_COMMITTEE: Final = 49
# The opening key is split among custodians so that no single insider can open a bid early.
MIN_CUSTODIAN_THRESHOLD: Final = 2
MAX_CUSTODIANS: Final = 16
MAX_SHEET_FIELDS: Final = 20


class ScoringMethod(enum.StrEnum):
    COMPREHENSIVE = "comprehensive"  # 综合评估法
    LOWEST_EVALUATED_PRICE = "lowest_evaluated_price"  # 经评审的最低投标价法


@dataclass(frozen=True, slots=True)
class Lot:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class SheetField:
    """A field the tender adds to the opening sheet (开标一览表), such as a warranty period."""

    name: str
    label: str


@dataclass(frozen=True, slots=True)
class OpeningPolicy:
    """How the opening runs: who holds the opening key, and the windows bidders get."""

    custodians: tuple[str, ...]
    threshold: int
    wrap_bids: bool  # bids must also be sealed to the opening key, so custodians can open them
    confirmation_window: timedelta
    sheet_fields: tuple[SheetField, ...]

    @classmethod
    def read(cls, reader: Reader) -> OpeningPolicy:
        custodians = tuple(
            reader.strings("custodians", pattern=_PARTICIPANT, max_len=MAX_CUSTODIANS)
        )
        policy = cls(
            custodians=custodians,
            threshold=reader.integer("threshold", low=MIN_CUSTODIAN_THRESHOLD, high=MAX_CUSTODIANS),
            wrap_bids=reader.boolean("wrap_bids"),
            confirmation_window=timedelta(
                minutes=reader.integer("confirmation_window_minutes", low=1, high=240)
            ),
            sheet_fields=tuple(
                SheetField(item.text("name", max_len=32, pattern=_FIELD_NAME), item.text("label"))
                for item in reader.items("sheet_fields", max_len=MAX_SHEET_FIELDS)
            ),
        )
        if len(set(custodians)) != len(custodians):
            reader.problem("custodians", "custodians must be distinct")
        if len(custodians) < policy.threshold:
            reader.problem("threshold", "can't exceed the number of custodians")
        if len({f.name for f in policy.sheet_fields}) != len(policy.sheet_fields):
            reader.problem("sheet_fields", "field names must be unique")
        return policy

    def to_json(self) -> dict[str, Any]:
        return {
            "custodians": list(self.custodians),
            "threshold": self.threshold,
            "wrap_bids": self.wrap_bids,
            "confirmation_window_minutes": self.confirmation_window // timedelta(minutes=1),
            "sheet_fields": [{"name": f.name, "label": f.label} for f in self.sheet_fields],
        }


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
    opening: OpeningPolicy

    @classmethod
    def parse(cls, document: object) -> Self:
        """Validate a spec from JSON; every problem is reported at once (InvalidFields)."""
        root = Reader(document)
        lots = [
            Lot(item.text("id", max_len=32, pattern=_LOT_ID), item.text("name"))
            for item in root.items("lots", min_len=1, max_len=50)
        ]
        schedule, committee, scoring, opening = (
            root.child(n) for n in ("schedule", "committee", "scoring", "opening")
        )
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
            opening=OpeningPolicy.read(opening),
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
            "opening": self.opening.to_json(),
        }

    def lot(self, lot_id: str) -> Lot | None:
        return next((lot for lot in self.lots if lot.id == lot_id), None)
