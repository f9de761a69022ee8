"""What the tender documents fix: lots, schedule, committee, scoring and the opening's rules."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Self

from server.protocol.fields import UNSET_TIME, Reader
from server.protocol.times import format_time

if TYPE_CHECKING:
    from collections.abc import Mapping

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
MAX_CRITERIA: Final = 50
_CRITERION_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,15}")


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


class CriterionKind(enum.StrEnum):
    SUBJECTIVE = "subjective"  # judgement: experts may differ, within limits (GP87 64)
    OBJECTIVE = "objective"  # facts: every expert must give the same value


@dataclass(frozen=True, slots=True)
class Criterion:
    id: str
    name: str
    kind: CriterionKind
    max: Decimal
    step: Decimal


@dataclass(frozen=True, slots=True)
class ScoringScheme:
    """How bids are reviewed and scored (docs/spec/evaluation.md section 1)."""

    method: ScoringMethod
    price_weight: int
    compliance: tuple[tuple[str, str], ...]  # (id, name): pass/fail criteria
    criteria: tuple[Criterion, ...]
    deviation: Decimal  # a fraction of the subjective maximum total
    drop_extremes: bool
    candidates: int
    evaluation_time: timedelta
    signing_time: timedelta

    @classmethod
    def read(cls, reader: Reader) -> ScoringScheme:
        criteria = tuple(
            Criterion(
                item.text("id", max_len=16, pattern=_CRITERION_ID), item.text("name"),
                item.choice("kind", CriterionKind) or CriterionKind.SUBJECTIVE,
                item.decimal("max", low=Decimal("0.5"), high=Decimal(100)),
                item.decimal("step", low=Decimal("0.01"), high=Decimal(100)),
            )
            for item in reader.items("criteria", max_len=MAX_CRITERIA)
        )  # fmt: skip
        scheme = cls(
            method=reader.choice("method", ScoringMethod) or ScoringMethod.COMPREHENSIVE,
            price_weight=reader.integer("price_weight", low=0, high=100),
            compliance=tuple(
                (item.text("id", max_len=16, pattern=_CRITERION_ID), item.text("name"))
                for item in reader.items("compliance", min_len=1, max_len=MAX_CRITERIA)
            ),
            criteria=criteria,
            deviation=reader.decimal("deviation", low=Decimal("0.01"), high=Decimal(1)),
            drop_extremes=reader.boolean("drop_extremes"),
            candidates=reader.integer("candidates", low=1, high=3),
            evaluation_time=timedelta(
                minutes=reader.integer("evaluation_minutes", low=10, high=7 * 24 * 60)
            ),
            signing_time=timedelta(minutes=reader.integer("signing_minutes", low=1, high=24 * 60)),
        )
        scheme._cross_check(reader)
        return scheme

    def _cross_check(self, reader: Reader) -> None:
        ids = [c.id for c in self.criteria] + [c for c, _ in self.compliance]
        if len(set(ids)) != len(ids):
            reader.problem("criteria", "criterion ids must be unique")
        for criterion in self.criteria:
            if criterion.max % criterion.step:
                reader.problem("criteria", f"{criterion.id}: max must be a multiple of step")
        if self.method is ScoringMethod.COMPREHENSIVE:
            if sum((c.max for c in self.criteria), Decimal(0)) + self.price_weight != 100:
                reader.problem("criteria", "the maxima and the price weight must add up to 100")
        elif self.criteria:
            reader.problem("criteria", "the lowest evaluated price method scores no criteria")

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    @property
    def subjective_max(self) -> Decimal:
        return sum((c.max for c in self.criteria if c.kind is CriterionKind.SUBJECTIVE), Decimal(0))

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method.value,
            "price_weight": self.price_weight,
            "compliance": [{"id": i, "name": n} for i, n in self.compliance],
            "criteria": [
                {
                    "id": c.id,
                    "name": c.name,
                    "kind": c.kind.value,
                    "max": str(c.max),
                    "step": str(c.step),
                }
                for c in self.criteria
            ],
            "deviation": str(self.deviation),
            "drop_extremes": self.drop_extremes,
            "candidates": self.candidates,
            "evaluation_minutes": self.evaluation_time // timedelta(minutes=1),
            "signing_minutes": self.signing_time // timedelta(minutes=1),
        }


@dataclass(frozen=True, slots=True)
class TenderSpec:
    """What the tender documents fix: lots, schedule, committee, scoring and the opening."""

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
    scoring: ScoringScheme
    opening: OpeningPolicy
    # The lots by id: a room asks for its lot on every act and every step.
    _lots_by_id: Mapping[str, Lot] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_lots_by_id", MappingProxyType({lot.id: lot for lot in reversed(self.lots)})
        )

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
            scoring=ScoringScheme.read(scoring),
            opening=OpeningPolicy.read(opening),
        )
        spec._cross_check(root, schedule, committee)
        root.finish()
        return spec

    # What the log holds is read as the host's document was: the codec's name for `parse`.
    from_json = parse

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
            "scoring": self.scoring.to_json(),
            "opening": self.opening.to_json(),
        }

    def lot(self, lot_id: str) -> Lot | None:
        return self._lots_by_id.get(lot_id)
