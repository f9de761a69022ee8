"""The ranking, the evaluation report and the result, as a room issues them (no server)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from recordings.documents import report_hash
from server.domain.evaluation_events import MemberReplaced, ReportIssued, ResultPublished
from server.domain.report import plain, ranking, report_document, result_document
from server.domain.room import Stage
from server.domain.scores import price_scores
from server.protocol.times import format_time
from tests.server.domain.journeys import (
    BIDDERS,
    DEADLINE,
    NAMES,
    NORMAL,
    TENDER,
    acted,
    comply,
    context,
    drawn,
    elect,
    history,
    in_session,
    members,
    pledge,
    replayed,
    room,
    run,
    score,
    score_everyone,
    seat_everyone,
    sign,
    steps,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from server.domain.tender import Tender

A, B, C = BIDDERS
PRICES = {A: "900000.00", B: "800000.00", C: "850000.00"}


def evaluated() -> tuple[Tender, dict[str, Any]]:
    """A room with a declared conflict, more time, a clarification and a flagged round, up to
    its report; returns the tender and facts the report must show."""
    tender = in_session(prices=PRICES)
    conflicted = members(tender)[0]
    acted(tender, conflicted, "check-in", site=room(tender).members[conflicted].site)
    events = pledge(tender, conflicted, (("投标人2 Bidder 2", "worked there"),))
    newcomer = next(e for e in events if isinstance(e, MemberReplaced)).seat["expert"]
    seat_everyone(tender)
    m = members(tender)
    leader = elect(tender, m[1])
    acted(tender, m[2], "time-request", reason="long documents")
    acted(tender, m[3], "time-request", reason="long documents")
    comply(tender)
    acted(tender, leader, "clarification-request", bidder=A, question="Which warranty?")
    run(tender, tender.answer_clarification(DEADLINE, "L1", A, "c1", "Five years.", "asig"))
    better = NORMAL | {"T1": "28"}
    odd = {(m[4], A): NORMAL | {"T3": "10"}} | {(x, C): better for x in m}
    score_everyone(tender, odd)
    score(tender, m[4], A, NORMAL, comment="misread the table")
    assert room(tender).stage is Stage.REPORT
    facts = {"conflicted": conflicted, "newcomer": newcomer, "leader": leader, "members": m}
    return tender, facts


def test_the_ranking_adds_price_scores_to_each_members_scores() -> None:
    tender, _ = evaluated()
    r = room(tender)
    ranked = r.ranked
    assert ranked is not None
    assert ranking(r, context(tender)) == ranked  # the same facts give the same ranking
    prices = price_scores({b: Decimal(p) for b, p in PRICES.items()}, 30)
    assert ranked["price_scores"] == {b: plain(v) for b, v in prices.items()}
    assert ranked["price_scores"][B] == "30.00"  # the lowest price takes the full weight
    expected = {A: 55 + prices[A], B: 55 + prices[B], C: 59 + prices[C]}
    for bidder, total in expected.items():
        assert set(ranked["totals"][bidder].values()) == {plain(total)}
        assert ranked["aggregates"][bidder] == plain(total)
    assert [x["bidder"] for x in ranked["ranking"]] == [C, B, A]
    assert ranked["ranking"][0] == {
        "rank": 1, "bidder": C, "price": "850000.00", "score": plain(expected[C])
    }  # fmt: skip
    assert ranked["candidates"] == [C, B, A]
    assert ranked["round"] == 2


def test_the_report_holds_what_the_room_did() -> None:
    tender, facts = evaluated()
    r = room(tender)
    issued = next(e for e in history(tender) if isinstance(e, ReportIssued))
    report = issued.outcome["report"]
    assert r.report == report
    assert issued.outcome["report_hash"] == report_hash(report) == r.report_hash
    assert issued.outcome["sign_until"] == format_time(DEADLINE + timedelta(minutes=60))
    assert report == report_document(r, context(tender), DEADLINE)
    assert tender.spec is not None
    assert (report["v"], report["type"]) == (1, "evaluation-report")
    assert report["basic"] == {
        "tender": TENDER, "title": tender.spec.title, "tenderer": tender.spec.tenderer,
        "lot": "L1", "lot_name": "Lot 1",
    }  # fmt: skip
    seated = report["committee"]["members"]
    assert [x["expert"] for x in seated] == facts["members"]
    assert [x["expert"] for x in seated if x["leader"]] == [facts["leader"]]
    assert all(x["name"] == NAMES[x["expert"]] for x in seated)
    newcomer = next(x for x in seated if x["expert"] == facts["newcomer"])
    assert newcomer["workstation"] == "M-01"  # the seat of the one it replaced
    assert report["committee"]["replaced"] == [{
        "expert": facts["conflicted"], "name": NAMES[facts["conflicted"]],
        "reason": "declared conflict: 投标人2 Bidder 2: worked there", "by": "declaration",
    }]  # fmt: skip
    assert report["opening_record_hash"] == "ab" * 32
    assert report["bids"] == [
        {"bidder": b, "name": NAMES[b], "price": PRICES[b]} for b in BIDDERS
    ]  # fmt: skip
    assert (report["compliant"], report["rejected"]) == (list(BIDDERS), [])
    assert report["method"] == tender.spec.scoring.to_json()
    sheets = report["scores"]["sheets"]
    assert len(sheets) == 15  # the current members' latest versions only
    assert [(x["expert"], x["bidder"]) for x in sheets] == sorted(
        (x["expert"], x["bidder"]) for x in sheets
    )
    revised = next(x for x in sheets if (x["expert"], x["bidder"]) == (facts["members"][4], A))
    assert (revised["round"], revised["version"]) == (2, 2)
    assert revised["scores"] == NORMAL
    assert revised["comment"] == "misread the table"
    assert r.ranked is not None
    assert report["scores"]["aggregates"] == r.ranked["aggregates"]
    assert [(f["expert"], f["kind"], f["answer"]) for f in report["flags"]] == [
        (facts["members"][4], "objective", "revised")
    ]
    assert report["ranking"][0]["bidder"] == C
    assert report["candidates"] == [C, B, A]
    assert report["clarifications"] == [
        {"id": "c1", "bidder": A, "question": "Which warranty?", "answer": "Five years."}
    ]
    assert report["time"] == {
        "ends_at": format_time(DEADLINE + timedelta(minutes=240 + 120)), "extended": True
    }  # fmt: skip
    assert report["issued_at"] == format_time(DEADLINE)


def test_the_result_names_signatures_dissents_and_the_silent() -> None:
    tender, facts = evaluated()
    m: list[str] = facts["members"]
    r = room(tender)
    sign(tender, m[0])
    acted(tender, m[1], "report-dissent", report_hash=r.report_hash, reasons="B is better.")
    until = r.sign_until
    assert until is not None
    steps(tender, until)
    published = next(e for e in history(tender) if isinstance(e, ResultPublished))
    result: Mapping[str, Any] = published.outcome
    assert r.result == result
    assert result == result_document(r, context(tender), m[2:], until)
    assert result["report"] == r.report
    assert result["report_hash"] == r.report_hash
    assert [x["expert"] for x in result["committee"]] == m
    assert "workstation" not in result["committee"][0]  # the result is public
    assert [x["leader"] for x in result["committee"]] == [x == facts["leader"] for x in m]
    assert [(x["expert"], x["name"], x["signature"]) for x in result["signatures"]] == [
        (m[0], NAMES[m[0]], "sig")
    ]
    assert result["signatures"][0]["document"]["type"] == "report-signature"
    assert [x["expert"] for x in result["dissents"]] == [m[1]]
    assert result["dissents"][0]["document"]["reasons"] == "B is better."
    assert result["deemed_agreed"] == [{"expert": x, "name": NAMES[x]} for x in m[2:]]
    assert result["candidates"] == [{"bidder": b, "name": NAMES[b]} for b in (C, B, A)]
    assert result["at"] == format_time(until)
    assert replayed(tender).evaluation.rooms == tender.evaluation.rooms


def test_an_empty_room_still_makes_a_document() -> None:
    """Before any ranking or decision the report has empty parts, not missing ones."""
    tender = drawn()
    r = room(tender)
    report = report_document(r, context(tender), DEADLINE)
    assert (report["compliant"], report["rejected"], report["ranking"]) == ([], [], [])
    assert report["scores"] == {"sheets": [], "price_scores": {}, "totals": {},
                                "aggregates": {}}  # fmt: skip
    assert report["time"] == {"ends_at": None, "extended": False}
    result = result_document(r, context(tender), [], DEADLINE)
    assert (result["report"], result["candidates"], result["signatures"]) == ({}, [], [])


def test_decimals_are_written_plainly() -> None:
    assert plain(Decimal("1E+2")) == "100"
    assert plain(Decimal("0.10")) == "0.10"
    assert plain(Decimal("1E-7")) == "0.0000001"
