"""Scores: values as the tender allows them, price scores, the GP87 64 checks, aggregation and
ranking (docs/spec/evaluation.md section 5). Pure arithmetic on Decimals, no floats."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Final

from server.domain.spec import CriterionKind, ScoringMethod

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime

    from server.domain.spec import Criterion, ScoringScheme

CENT: Final = Decimal("0.01")
_DECIMAL: Final = re.compile(r"(0|[1-9][0-9]{0,5})(\.[0-9]{1,4})?")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def value_problem(criterion: Criterion, text: str) -> tuple[str, str] | None:
    """(rule, message) if `text` is not a value the criterion allows; None if it is."""
    if not _DECIMAL.fullmatch(text):
        return "ScoreOutOfRange", f'{criterion.id}: "{text}" is not a decimal score'
    value = Decimal(text)
    if value > criterion.max:
        return "ScoreOutOfRange", f"{criterion.id}: {text} is above the maximum {criterion.max}"
    if value % criterion.step:
        return "ScoreOffStep", f"{criterion.id}: {text} is not a multiple of {criterion.step}"
    return None


def price_scores(prices: Mapping[str, Decimal], weight: int) -> dict[str, Decimal]:
    """Low-price-first (GP87 55): benchmark ÷ price x weight, benchmark the lowest price."""
    if not prices:
        return {}
    benchmark = min(prices.values())
    return {
        # Multiplied first: an exact half cent then divides exactly and rounds up as it should.
        bidder: cents(benchmark * weight / price) if price else Decimal(weight)
        for bidder, price in prices.items()
    }


@dataclass(frozen=True, slots=True)
class Flag:
    """A sheet the checks single out: `objective` must be revised, `abnormal` confirmed or
    revised."""

    expert: str
    bidder: str
    kind: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"expert": self.expert, "bidder": self.bidder, "kind": self.kind,
                "detail": self.detail}  # fmt: skip

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Flag:
        return cls(document["expert"], document["bidder"], document["kind"], document["detail"])


def run_checks(
    scheme: ScoringScheme, sheets: Mapping[tuple[str, str], Mapping[str, Decimal]],
    members: Sequence[str], bidders: Sequence[str], confirmed: Iterable[tuple[str, str]],
) -> list[Flag]:  # fmt: skip
    """The flags over the members' current sheets; confirmed abnormal scores stand."""
    flags: list[Flag] = []
    standing = set(confirmed)
    subjective = [c for c in scheme.criteria if c.kind is CriterionKind.SUBJECTIVE]
    limit = scheme.deviation * scheme.subjective_max
    for bidder in bidders:
        for criterion in scheme.criteria:
            if criterion.kind is CriterionKind.OBJECTIVE:
                flags += _objective(criterion.id, bidder, members, sheets)
        if len(members) < 2 or not subjective:
            continue
        subtotal = {
            e: sum((sheets[e, bidder][c.id] for c in subjective), Decimal(0)) for e in members
        }
        for expert in members:
            others = [subtotal[o] for o in members if o != expert]
            mean = sum(others, Decimal(0)) / len(others)
            gap = abs(subtotal[expert] - mean)
            if gap > limit and (expert, bidder) not in standing:
                detail = (
                    f"subjective subtotal {subtotal[expert]} is {cents(gap)} from the others' "
                    f"mean {cents(mean)}; the limit is {cents(limit)}"
                )
                flags.append(Flag(expert, bidder, "abnormal", detail))
    return flags


def _objective(
    criterion: str, bidder: str, members: Sequence[str],
    sheets: Mapping[tuple[str, str], Mapping[str, Decimal]],
) -> list[Flag]:  # fmt: skip
    values = {e: sheets[e, bidder][criterion] for e in members}
    counts = Counter(values.values())
    if len(counts) < 2:
        return []
    top = max(counts.values())
    common = min(v for v, n in counts.items() if n == top)
    return [
        Flag(e, bidder, "objective", f"{criterion}: {v} where most members gave {common}")
        for e, v in values.items()
        if v != common
    ]


def aggregate(totals: Sequence[Decimal], drop_extremes: bool) -> Decimal:
    """The mean of the members' totals; the highest and lowest dropped when asked (≥5)."""
    kept = sorted(totals)
    if drop_extremes and len(kept) >= 5:
        kept = kept[1:-1]
    return cents(sum(kept, Decimal(0)) / len(kept))


@dataclass(frozen=True, slots=True)
class Bid:
    """A compliant bid as ranking sees it."""

    bidder: str
    price: Decimal
    received_at: datetime
    seq: int


def rank(
    scheme: ScoringScheme, bids: Sequence[Bid], aggregates: Mapping[str, Decimal]
) -> list[str]:
    """Best first; ties go to the lower price, then the earlier receipt."""
    if scheme.method is ScoringMethod.LOWEST_EVALUATED_PRICE:
        ordered = sorted(bids, key=lambda b: (b.price, b.received_at, b.seq))
    else:
        ordered = sorted(bids, key=lambda b: (-aggregates[b.bidder], b.price, b.received_at, b.seq))
    return [b.bidder for b in ordered]
