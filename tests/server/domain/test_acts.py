"""Reading experts' signed acts (docs/spec/evaluation.md section 3): shapes, not room rules."""

from __future__ import annotations

from typing import Any

import pytest

from server.domain.acts import ACT_TYPES, MAX_CONFLICTS, MAX_TEXT, Act, parse_act
from server.domain.evaluation_events import ACT_EVENTS
from server.protocol.fields import InvalidFields
from tests.server.domain.journeys import TENDER

EXPERT, BIDDER = "p-expert01", "p-bidder0001"
HASH = "ab" * 32
RESULTS = {BIDDER: {"C1": {"pass": False, "reason": "未盖章"}, "C2": {"pass": True, "reason": ""}}}
# Each type's own members, as a workstation signs them.
MORE: dict[str, dict[str, Any]] = {
    "check-in": {"site": "main"},
    "pledge": {"conflicts": [{"organisation": "投标人2 Bidder 2", "reason": "worked there"}]},
    "leader-vote": {"round": 1, "candidate": "p-expert02"},
    "compliance-sheet": {"results": RESULTS},
    "score-sheet": {"round": 2, "version": 3, "bidder": BIDDER,
                    "scores": {"T1": "24.5", "T2": "15"}, "comment": ""},
    "flag-confirmation": {"round": 2, "bidder": BIDDER, "reason": "the plan is weak"},
    "clarification-request": {"bidder": BIDDER, "question": "Which warranty?"},
    "time-request": {"reason": "long documents"},
    "report-signature": {"report_hash": HASH},
    "report-dissent": {"report_hash": HASH, "reasons": "B was underrated."},
}  # fmt: skip


def document(kind: str, **changes: Any) -> dict[str, Any]:
    base = {"v": 1, "type": kind, "tender": TENDER, "lot": "L1", "expert": EXPERT,
            "workstation": "M-01"}  # fmt: skip
    return base | MORE.get(kind, {}) | changes


def problems(doc: object) -> dict[str, str]:
    with pytest.raises(InvalidFields) as caught:
        parse_act(doc)
    return {p.path: p.message for p in caught.value.problems}


def test_every_act_type_has_a_reader_and_an_event() -> None:
    assert set(MORE) == ACT_TYPES == set(ACT_EVENTS)


@pytest.mark.parametrize("kind", sorted(MORE))
def test_each_act_is_read_with_its_own_members(kind: str) -> None:
    doc = document(kind)
    act = parse_act(doc)
    assert (act.type, act.tender, act.lot, act.expert, act.workstation) == (
        kind, TENDER, "L1", EXPERT, "M-01"
    )  # fmt: skip
    assert act.document is doc  # recorded as signed


def test_the_members_of_each_act_are_typed() -> None:
    assert parse_act(document("check-in")).site == "main"
    assert parse_act(document("pledge")).conflicts == (("投标人2 Bidder 2", "worked there"),)
    assert parse_act(document("pledge", conflicts=[])).conflicts == ()
    vote = parse_act(document("leader-vote"))
    assert (vote.round, vote.candidate) == (1, "p-expert02")
    sheet = parse_act(document("compliance-sheet"))
    assert sheet.results == {BIDDER: {"C1": (False, "未盖章"), "C2": (True, "")}}
    scores = parse_act(document("score-sheet"))
    assert (scores.round, scores.version, scores.bidder) == (2, 3, BIDDER)
    assert (scores.scores, scores.comment) == ({"T1": "24.5", "T2": "15"}, "")
    confirmed = parse_act(document("flag-confirmation"))
    assert (confirmed.round, confirmed.bidder, confirmed.text) == (2, BIDDER, "the plan is weak")
    question = parse_act(document("clarification-request"))
    assert (question.bidder, question.text) == (BIDDER, "Which warranty?")
    assert parse_act(document("time-request")).text == "long documents"
    assert parse_act(document("report-signature")).report_hash == HASH
    dissent = parse_act(document("report-dissent"))
    assert (dissent.report_hash, dissent.text) == (HASH, "B was underrated.")


def test_members_of_other_types_keep_their_defaults() -> None:
    act = parse_act(document("check-in"))
    assert act == Act("check-in", TENDER, "L1", EXPERT, "M-01", act.document, site="main")


def test_a_document_that_is_not_an_object_is_refused() -> None:
    assert problems([1, 2]) == {
        "": "must be a JSON object",
        "v": "is required (an integer)",
        "type": "is required (a string)",
        "tender": "is required (a string)",
        "lot": "is required (a string)",
        "expert": "is required (a string)",
        "workstation": "is required (a string)",
    }


def test_the_version_and_type_are_checked() -> None:
    assert problems(document("check-in", v=2)) == {"v": "must be between 1 and 1"}
    found = problems(document("vote"))
    assert found["type"].startswith("must be one of: check-in, clarification-request")
    assert problems(document("", site="main"))["site"] == "is not a known field"


def test_ids_and_hashes_follow_their_patterns() -> None:
    found = problems(document("report-signature", report_hash="AB" * 32, expert="expert",
                              tender="t-1", workstation="-x"))  # fmt: skip
    assert set(found) == {"report_hash", "expert", "tender", "workstation"}
    assert all(message.startswith("must match") for message in found.values())


def test_the_members_of_a_type_are_required_and_bounded() -> None:
    assert set(problems(document("score-sheet", round=0, version=1001, scores={"1x": "2"}))) == {
        "round", "version", "scores.1x"
    }  # fmt: skip
    assert set(problems({k: v for k, v in document("leader-vote").items() if k != "round"})) == {
        "round"
    }
    assert set(problems(document("time-request", reason="x" * (MAX_TEXT + 1)))) == {"reason"}
    many = [{"organisation": "X", "reason": "kin"}] * (MAX_CONFLICTS + 1)
    assert set(problems(document("pledge", conflicts=many))) == {"conflicts"}
    assert set(problems(document("check-in", extra=1))) == {"extra"}
    assert set(problems(document("compliance-sheet", results={BIDDER: {"C1": {"pass": 1}}}))) == {
        "results.p-bidder0001.C1.pass", "results.p-bidder0001.C1.reason"
    }  # fmt: skip
