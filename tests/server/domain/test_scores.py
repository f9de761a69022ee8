"""Scores (docs/spec/evaluation.md section 5): allowed values, price scores, the GP87 64 checks,
aggregation and ranking, all in exact decimals."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from server.demo.scoring import sample_scoring
from server.domain.scores import (
    Bid,
    Flag,
    aggregate,
    cents,
    price_scores,
    rank,
    run_checks,
    value_problem,
)
from server.domain.spec import Criterion, CriterionKind, ScoringMethod, ScoringScheme
from server.protocol.fields import Reader

# Reproducible property tests: the same examples on every run, no deadline.
PROPERTY = settings(deadline=None, derandomize=True)
D = Decimal
Sheets = dict[tuple[str, str], dict[str, Decimal]]


def scoring(**changes: Any) -> ScoringScheme:
    """The sample scheme (server/demo/scoring.py), read as a tender's spec is. T1 and T2 are
    subjective (maxima 30 and 20, so the abnormal limit is 0.3 x 50 = 15), T3 is objective."""
    document = sample_scoring(**changes)
    reader = Reader(document)
    scheme = ScoringScheme.read(reader)
    reader.finish()
    return scheme


SCHEME = scoring()
T1, T2, T3 = SCHEME.criteria
MEMBERS = ("x-1", "x-2", "x-3", "x-4", "x-5")


def sheet(t1: str, t2: str, t3: str) -> dict[str, Decimal]:
    return {"T1": D(t1), "T2": D(t2), "T3": D(t3)}


def sheets_for(bidder: str, rows: dict[str, dict[str, Decimal]]) -> Sheets:
    return {(expert, bidder): scores for expert, scores in rows.items()}


def kinds(flags: list[Flag]) -> set[tuple[str, str, str]]:
    return {(f.expert, f.bidder, f.kind) for f in flags}


# Values.


def test_the_sample_scheme_is_read_as_written() -> None:
    assert (T1.kind, T1.max, T1.step) == (CriterionKind.SUBJECTIVE, D(30), D("0.5"))
    assert (T3.kind, T3.max, T3.step) == (CriterionKind.OBJECTIVE, D(20), D(1))
    assert SCHEME.subjective_max == D(50)
    assert SCHEME.deviation == D("0.3")


@pytest.mark.parametrize("text", ["0", "0.0", "0.5", "12", "29.5", "30", "30.0000"])
def test_values_on_the_step_within_the_maximum_are_allowed(text: str) -> None:
    assert value_problem(T1, text) is None


@pytest.mark.parametrize("text", ["30.5", "31", "100", "999999.5"])
def test_values_above_the_maximum_are_out_of_range(text: str) -> None:
    problem = value_problem(T1, text)
    assert problem is not None
    assert problem[0] == "ScoreOutOfRange"
    assert "T1" in problem[1]
    assert "above the maximum 30" in problem[1]


@pytest.mark.parametrize(
    "text", ["-1", "-0.5", "", "abc", "1e1", "01", "1.", ".5", "1.23456", " 1", "1000000", "NaN"]
)
def test_values_that_are_not_plain_decimals_are_out_of_range(text: str) -> None:
    problem = value_problem(T1, text)
    assert problem is not None
    assert problem[0] == "ScoreOutOfRange"
    assert "is not a decimal score" in problem[1]


@pytest.mark.parametrize("text", ["0.25", "12.1", "29.75", "0.0001"])
def test_values_off_the_step_are_refused(text: str) -> None:
    problem = value_problem(T1, text)
    assert problem is not None
    assert problem[0] == "ScoreOffStep"
    assert "not a multiple of 0.5" in problem[1]


def test_an_integer_step_refuses_halves() -> None:
    problem = value_problem(T3, "7.5")
    assert problem is not None
    assert problem[0] == "ScoreOffStep"
    assert value_problem(T3, "7") is None


@settings(PROPERTY, max_examples=100)
@given(
    step=st.sampled_from(["0.01", "0.05", "0.25", "0.5", "1", "2.5"]),
    steps=st.integers(min_value=1, max_value=400),
    k=st.integers(min_value=0, max_value=400),
)
def test_every_multiple_of_the_step_up_to_the_maximum_is_allowed(
    step: str, steps: int, k: int
) -> None:
    criterion = Criterion("T9", "test", CriterionKind.SUBJECTIVE, D(step) * steps, D(step))
    value = D(step) * k
    problem = value_problem(criterion, str(value))
    if k <= steps:
        assert problem is None
    else:
        assert problem is not None
        assert problem[0] == "ScoreOutOfRange"


# Price scores.


def test_the_lowest_price_gets_the_full_weight() -> None:
    scores = price_scores({"a": D("800000.00"), "b": D("1000000.00"), "c": D("1600000")}, 30)
    assert scores == {"a": D("30.00"), "b": D("24.00"), "c": D("15.00")}


def test_price_scores_are_rounded_to_cents() -> None:
    # 30 x 100 / 300 = 10 exactly; 30 x 100 / 700 = 4.2857... -> 4.29.
    scores = price_scores({"a": D(100), "b": D(300), "c": D(700)}, 30)
    assert scores == {"a": D("30.00"), "b": D("10.00"), "c": D("4.29")}
    assert all(v.as_tuple().exponent == -2 for v in scores.values())


def test_a_price_score_on_a_half_cent_rounds_up_when_the_quotient_ends() -> None:
    # 1 x 100 / 800 = 0.125 -> 0.13 (half up, not half even).
    assert price_scores({"a": D(100), "b": D(800)}, 1)["b"] == D("0.13")
    # 30 x 7 / 16 = 13.125 -> 13.13.
    assert price_scores({"a": D(7), "b": D(16)}, 30)["b"] == D("13.13")


@pytest.mark.parametrize(
    ("benchmark", "price", "weight", "expected"),
    [
        # 700000 / 4800000 x 30 = 4.375 exactly -> 4.38; the code gives 4.37.
        ("700000.00", "4800000.00", 30, "4.38"),
        # 5 / 24 x 3 = 0.625 exactly -> 0.63; the code gives 0.62.
        ("5", "24", 3, "0.63"),
    ],
)
def test_a_price_score_on_an_exact_half_cent_rounds_up(
    benchmark: str, price: str, weight: int, expected: str
) -> None:
    assert price_scores({"low": D(benchmark), "high": D(price)}, weight)["high"] == D(expected)


def test_no_prices_give_no_scores() -> None:
    assert price_scores({}, 30) == {}


def test_a_zero_price_takes_the_full_weight() -> None:
    # The code's rule for a free bid: it is the benchmark, and every other price scores zero.
    assert price_scores({"a": D(0), "b": D(100)}, 30) == {"a": D(30), "b": D("0.00")}


@settings(PROPERTY, max_examples=200)
@given(
    prices=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.decimals(min_value=D("0.01"), max_value=D("99999999.99"), places=2),
        min_size=1,
    ),
    weight=st.integers(min_value=0, max_value=100),
)
def test_price_scores_are_within_half_a_cent_of_the_exact_formula(
    prices: dict[str, Decimal], weight: int
) -> None:
    scores = price_scores(prices, weight)
    benchmark = min(prices.values())
    assert scores.keys() == prices.keys()
    for bidder, price in prices.items():
        exact = Fraction(benchmark) / Fraction(price) * weight
        assert abs(Fraction(scores[bidder]) - exact) <= Fraction(1, 200)
        assert D(0) <= scores[bidder] <= weight
        if price == benchmark:
            assert scores[bidder] == weight


def test_cents_round_half_up() -> None:
    assert cents(D("0.125")) == D("0.13")
    assert cents(D("0.135")) == D("0.14")
    assert cents(D("0.1249")) == D("0.12")
    assert cents(D(7)) == D("7.00")


# The checks: objective mismatch.


def test_matching_sheets_raise_no_flag() -> None:
    rows = {m: sheet("20", "15", "10") for m in MEMBERS}
    assert run_checks(SCHEME, sheets_for("b-1", rows), MEMBERS, ["b-1"], []) == []


def test_members_off_the_most_common_objective_value_are_flagged() -> None:
    values = ["10", "10", "10", "12", "8"]
    rows = {m: sheet("20", "15", v) for m, v in zip(MEMBERS, values, strict=True)}
    flags = run_checks(SCHEME, sheets_for("b-1", rows), MEMBERS, ["b-1"], [])
    assert kinds(flags) == {("x-4", "b-1", "objective"), ("x-5", "b-1", "objective")}
    by_expert = {f.expert: f.detail for f in flags}
    assert by_expert["x-4"] == "T3: 12 where most members gave 10"
    assert by_expert["x-5"] == "T3: 8 where most members gave 10"


def test_on_a_tie_the_lowest_common_value_stands() -> None:
    values = ["12", "12", "10", "10", "15"]
    rows = {m: sheet("20", "15", v) for m, v in zip(MEMBERS, values, strict=True)}
    flags = run_checks(SCHEME, sheets_for("b-1", rows), MEMBERS, ["b-1"], [])
    assert {f.expert for f in flags} == {"x-1", "x-2", "x-5"}
    assert all("most members gave 10" in f.detail for f in flags)


def test_when_everyone_differs_all_but_the_lowest_are_flagged() -> None:
    members = MEMBERS[:3]
    rows = {m: sheet("20", "15", v) for m, v in zip(members, ["3", "1", "2"], strict=True)}
    flags = run_checks(SCHEME, sheets_for("b-1", rows), members, ["b-1"], [])
    assert {f.expert for f in flags} == {"x-1", "x-3"}


def test_a_confirmation_does_not_excuse_an_objective_mismatch() -> None:
    members = MEMBERS[:3]
    rows = {m: sheet("20", "15", v) for m, v in zip(members, ["10", "10", "11"], strict=True)}
    flags = run_checks(SCHEME, sheets_for("b-1", rows), members, ["b-1"], [("x-3", "b-1")])
    assert kinds(flags) == {("x-3", "b-1", "objective")}


def test_each_bid_is_checked_on_its_own() -> None:
    members = MEMBERS[:3]
    sheets = sheets_for("b-1", {m: sheet("20", "15", "10") for m in members})
    sheets |= sheets_for(
        "b-2", {m: sheet("20", "15", v) for m, v in zip(members, ["5", "5", "6"], strict=True)}
    )
    flags = run_checks(SCHEME, sheets, members, ["b-1", "b-2"], [])
    assert kinds(flags) == {("x-3", "b-2", "objective")}


def test_only_the_listed_bidders_are_checked() -> None:
    members = MEMBERS[:3]
    rows = {m: sheet("20", "15", v) for m, v in zip(members, ["5", "5", "6"], strict=True)}
    assert run_checks(SCHEME, sheets_for("b-1", rows), members, [], []) == []


# The checks: abnormal subjective subtotals.


def test_a_subtotal_beyond_the_deviation_from_the_others_mean_is_abnormal() -> None:
    # Subtotals 40, 40, 40, 20: x-4 is 20 from the others' mean 40, beyond 0.3 x 50 = 15.
    members = MEMBERS[:4]
    rows = {m: sheet("25", "15", "10") for m in members[:3]} | {"x-4": sheet("10", "10", "10")}
    flags = run_checks(SCHEME, sheets_for("b-1", rows), members, ["b-1"], [])
    assert flags == [
        Flag(
            "x-4",
            "b-1",
            "abnormal",
            "subjective subtotal 20 is 20.00 from the others' mean 40.00; the limit is 15.00",
        )
    ]


def test_a_subtotal_exactly_at_the_limit_is_not_abnormal() -> None:
    # Subtotals 40, 40, 25: 25 is exactly 15 from 40.
    members = MEMBERS[:3]
    rows = {"x-1": sheet("25", "15", "10"), "x-2": sheet("25", "15", "10")}
    rows["x-3"] = sheet("15", "10", "10")
    assert run_checks(SCHEME, sheets_for("b-1", rows), members, ["b-1"], []) == []
    rows["x-3"] = sheet("15", "9.5", "10")
    flags = run_checks(SCHEME, sheets_for("b-1", rows), members, ["b-1"], [])
    assert kinds(flags) == {("x-3", "b-1", "abnormal")}


def test_the_limit_follows_the_deviation() -> None:
    members = MEMBERS[:4]
    rows = {m: sheet("25", "15", "10") for m in members[:3]} | {"x-4": sheet("20", "10", "10")}
    # x-4 is 10 from the others' mean: within 0.3 x 50 = 15, beyond 0.1 x 50 = 5.
    assert run_checks(SCHEME, sheets_for("b-1", rows), members, ["b-1"], []) == []
    strict = scoring(deviation="0.1")
    flags = run_checks(strict, sheets_for("b-1", rows), members, ["b-1"], [])
    assert kinds(flags) == {("x-4", "b-1", "abnormal")}


def test_the_objective_criterion_is_not_part_of_the_subtotal() -> None:
    # Equal subjective scores, far apart on T3: one objective flag, never an abnormal one.
    members = MEMBERS[:3]
    rows = {m: sheet("25", "15", v) for m, v in zip(members, ["0", "0", "20"], strict=True)}
    flags = run_checks(SCHEME, sheets_for("b-1", rows), members, ["b-1"], [])
    assert kinds(flags) == {("x-3", "b-1", "objective")}


def test_two_far_apart_members_are_both_abnormal() -> None:
    members = MEMBERS[:2]
    rows = {"x-1": sheet("30", "20", "10"), "x-2": sheet("5", "5", "10")}
    flags = run_checks(SCHEME, sheets_for("b-1", rows), members, ["b-1"], [])
    assert kinds(flags) == {("x-1", "b-1", "abnormal"), ("x-2", "b-1", "abnormal")}


def test_a_confirmed_abnormal_score_stands() -> None:
    members = MEMBERS[:4]
    low = sheet("10", "10", "10")
    rows = {m: sheet("25", "15", "10") for m in members[:3]} | {"x-4": low}
    sheets = sheets_for("b-1", rows) | sheets_for("b-2", rows)
    flags = run_checks(SCHEME, sheets, members, ["b-1", "b-2"], [("x-4", "b-1")])
    # Confirmed for b-1 only: b-2's identical sheet is flagged again.
    assert kinds(flags) == {("x-4", "b-2", "abnormal")}
    # A confirmation of another member changes nothing.
    flags = run_checks(SCHEME, sheets, members, ["b-1"], [("x-1", "b-1")])
    assert kinds(flags) == {("x-4", "b-1", "abnormal")}


def test_a_single_member_is_never_abnormal() -> None:
    rows = {"x-1": sheet("30", "20", "20")}
    assert run_checks(SCHEME, sheets_for("b-1", rows), ["x-1"], ["b-1"], []) == []


def test_a_scheme_without_subjective_criteria_has_no_abnormal_check() -> None:
    objective_only = scoring(
        criteria=[
            {"id": "T3", "name": "类似工程业绩", "kind": "objective", "max": "70", "step": "1"}
        ]
    )
    members = MEMBERS[:3]
    rows = {m: {"T3": D(v)} for m, v in zip(members, ["70", "70", "0"], strict=True)}
    flags = run_checks(objective_only, sheets_for("b-1", rows), members, ["b-1"], [])
    assert kinds(flags) == {("x-3", "b-1", "objective")}


def test_flags_survive_json() -> None:
    flag = Flag("x-1", "b-1", "abnormal", "subjective subtotal 20 is 20.00 from ...")
    assert Flag.from_json(flag.to_json()) == flag
    assert flag.to_json() == {
        "expert": "x-1",
        "bidder": "b-1",
        "kind": "abnormal",
        "detail": "subjective subtotal 20 is 20.00 from ...",
    }


half_points = st.integers(min_value=0, max_value=40).map(lambda k: D(k) / 2)


@settings(PROPERTY, max_examples=150)
@given(
    data=st.data(),
    count=st.integers(min_value=1, max_value=7),
    bidders=st.lists(st.sampled_from(["b-1", "b-2", "b-3"]), min_size=1, max_size=3, unique=True),
    deviation=st.sampled_from(["0.05", "0.1", "0.2", "0.3", "0.5"]),
)
def test_the_checks_match_the_spec(
    data: st.DataObject, count: int, bidders: list[str], deviation: str
) -> None:
    scheme = scoring(deviation=deviation)
    members = MEMBERS[:count] + ("x-6", "x-7")[: max(0, count - 5)]
    sheets: Sheets = {
        (m, b): {
            "T1": data.draw(half_points.filter(lambda v: v <= 30)),
            "T2": data.draw(half_points),
            "T3": D(data.draw(st.integers(min_value=0, max_value=3))),
        }
        for m in members
        for b in bidders
    }
    confirmed = data.draw(st.sets(st.sampled_from([(m, b) for m in members for b in bidders])))
    expected: set[tuple[str, str, str]] = set()
    limit = Fraction(D(deviation)) * 50
    for b in bidders:
        t3 = [sheets[m, b]["T3"] for m in members]
        most = max(t3.count(v) for v in t3)
        common = min(v for v in t3 if t3.count(v) == most)
        expected |= {(m, b, "objective") for m in members if sheets[m, b]["T3"] != common}
        if count < 2:
            continue
        subtotal = {m: Fraction(sheets[m, b]["T1"] + sheets[m, b]["T2"]) for m in members}
        for m in members:
            others = [subtotal[o] for o in members if o != m]
            gap = abs(subtotal[m] - sum(others, Fraction(0)) / len(others))
            if gap > limit and (m, b) not in confirmed:
                expected.add((m, b, "abnormal"))
    flags = run_checks(scheme, sheets, members, bidders, confirmed)
    assert len(flags) == len(kinds(flags))
    assert kinds(flags) == expected


# Aggregation.


def test_the_aggregate_is_the_mean_to_cents() -> None:
    assert aggregate([D("80.00"), D("90.00"), D("85.50")], drop_extremes=False) == D("85.17")
    assert aggregate([D("1.00"), D("1.01")], drop_extremes=False) == D("1.01")  # 1.005 half up
    assert aggregate([D("70")], drop_extremes=True) == D("70.00")


def test_with_five_members_the_highest_and_lowest_are_dropped() -> None:
    totals = [D(90), D(80), D(10), D(85), D(100)]
    assert aggregate(totals, drop_extremes=True) == D("85.00")
    assert aggregate(totals, drop_extremes=False) == D("73.00")


def test_with_four_members_nothing_is_dropped() -> None:
    totals = [D(90), D(80), D(10), D(100)]
    assert aggregate(totals, drop_extremes=True) == D("70.00")


def test_only_one_of_equal_extremes_is_dropped() -> None:
    totals = [D(100), D(100), D(80), D(60), D(60)]
    assert aggregate(totals, drop_extremes=True) == D("80.00")


@settings(PROPERTY, max_examples=150)
@given(
    totals=st.lists(st.decimals(min_value=0, max_value=100, places=2), min_size=1, max_size=9),
    drop=st.booleans(),
)
def test_the_aggregate_matches_the_spec(totals: list[Decimal], drop: bool) -> None:
    kept = sorted(totals)[1:-1] if drop and len(totals) >= 5 else totals
    exact = Fraction(sum(kept, D(0))) / len(kept)
    half_up = math.floor(exact * 100 + Fraction(1, 2))
    got = aggregate(totals, drop)
    assert got == D(half_up) / 100
    assert got.as_tuple().exponent == -2
    assert min(kept) <= got <= max(kept)


# Ranking.

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def bid(bidder: str, price: str, minutes: int = 0, seq: int = 0) -> Bid:
    return Bid(bidder, D(price), T0 + timedelta(minutes=minutes), seq)


def test_the_highest_aggregate_ranks_first() -> None:
    bids = [bid("a", "100"), bid("b", "200"), bid("c", "150")]
    aggregates = {"a": D("70.00"), "b": D("90.50"), "c": D("80.25")}
    assert rank(SCHEME, bids, aggregates) == ["b", "c", "a"]


def test_equal_aggregates_go_to_the_lower_price() -> None:
    # b is cheaper than a but came in later: the price decides.
    bids = [bid("a", "120", minutes=1), bid("b", "100", minutes=9), bid("c", "110")]
    aggregates = {"a": D("80.00"), "b": D("80.00"), "c": D("90.00")}
    assert rank(SCHEME, bids, aggregates) == ["c", "b", "a"]


def test_equal_aggregates_and_prices_go_to_the_earlier_receipt() -> None:
    bids = [bid("a", "100", minutes=5), bid("b", "100", minutes=1), bid("c", "100", minutes=3)]
    aggregates = dict.fromkeys("abc", D("80.00"))
    assert rank(SCHEME, bids, aggregates) == ["b", "c", "a"]


def test_receipts_at_the_same_instant_go_by_sequence() -> None:
    bids = [bid("a", "100", seq=7), bid("b", "100", seq=3)]
    assert rank(SCHEME, bids, dict.fromkeys("ab", D(80))) == ["b", "a"]


def test_the_lowest_evaluated_price_method_ranks_by_price_then_receipt() -> None:
    lowest = scoring(method="lowest_evaluated_price", criteria=[], price_weight=100)
    assert lowest.method is ScoringMethod.LOWEST_EVALUATED_PRICE
    bids = [bid("a", "300"), bid("b", "100", minutes=2), bid("c", "100", minutes=1)]
    assert rank(lowest, bids, {}) == ["c", "b", "a"]


def test_no_bids_rank_as_an_empty_list() -> None:
    assert rank(SCHEME, [], {}) == []
