"""A bundle's evaluation events, checked with no server: draws and replacements re-run,
signed acts and answers verified, the report's hash recomputed; each tamper is named."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from crypto import SigningKey, b64url_encode, sign
from recordings.bundle import Report
from recordings.documents import (
    CLARIFICATION_ANSWER_LABEL,
    clarification_answer_document,
    report_hash,
)
from recordings.draw import (
    DrawRequest,
    PoolEntry,
    Quota,
    Site,
    Workstation,
    draw,
    replacement,
    seed_hash,
    snapshot_hash,
    snapshot_of,
)
from recordings.verify_evaluation import EvaluationChecks

TENDER = "t-20261121-0123456789ab"
SEED = bytes(range(32))
EXPERT, BIDDER = SigningKey.generate(), SigningKey.generate()
KEYS = {
    "p-expert0001": {"role": "expert", "public_key": EXPERT.verify_key.to_text()},
    "p-bidder0001": {"role": "bidder", "public_key": BIDDER.verify_key.to_text()},
}
POOL = snapshot_of(
    PoolEntry.of(
        f"p-pool{i:04d}", {"specialty": "建筑工程", "region": "广州", "employer": f"院{i}"}
    )
    for i in range(8)
)
REQUEST = DrawRequest(
    (Quota("建筑工程", 5),),
    (Site("main", "广州", tuple(Workstation(f"M-0{i}", None) for i in range(1, 7))),),
    2,
)


def events() -> list[dict[str, Any]]:
    """A draw committed and revealed, one replacement, a signed act, an answer, a report."""
    committee = draw(SEED, POOL, REQUEST, ())
    leaving = committee.members[0]
    seat = replacement(
        POOL, REQUEST, list(committee.members), list(committee.standby), leaving.expert
    )
    act = {"v": 1, "type": "time-request", "tender": TENDER, "lot": "L1",
           "expert": "p-expert0001", "workstation": "M-01", "reason": "材料较多"}  # fmt: skip
    answer = clarification_answer_document(TENDER, "L1", "c1", "p-bidder0001", "已缴纳")
    report = {"v": 1, "type": "evaluation-report", "basic": {"tender": TENDER}}
    return [
        {"type": "evaluation.draw_committed", "payload": {
            "lot": "L1", "seed_hash": seed_hash(SEED), "snapshot_hash": snapshot_hash(POOL),
            "snapshot": [e.to_json() for e in POOL], "request": REQUEST.to_json(), "avoid": []}},
        {"type": "evaluation.committee_drawn", "payload": {
            "lot": "L1", "seed": SEED.hex(), "members": [s.to_json() for s in committee.members],
            "standby": list(committee.standby)}},
        {"type": "evaluation.member_replaced", "payload": {
            "lot": "L1", "leaving": leaving.expert, "seat": seat.to_json()}},
        {"type": "evaluation.time_requested", "payload": {
            "document": act, "signature": b64url_encode(sign(EXPERT, "time-request", act))}},
        {"type": "evaluation.clarification_answered", "payload": {
            "lot": "L1", "clarification": "c1", "bidder": "p-bidder0001", "answer": "已缴纳",
            "signature": b64url_encode(sign(BIDDER, CLARIFICATION_ANSWER_LABEL, answer))}},
        {"type": "evaluation.report_issued", "payload": {
            "lot": "L1", "report": report, "report_hash": report_hash(report)}},
    ]  # fmt: skip


def checked(stream: list[dict[str, Any]]) -> Report:
    report = Report()
    checks = EvaluationChecks(TENDER, KEYS, report)
    for i, event in enumerate(stream):
        checks.check(f"event {i}", event)
    return report


def test_an_untouched_evaluation_checks_out() -> None:
    report = checked(events())
    assert report.failures == []
    assert report.checked == {
        "draws re-run from their seed": 1,
        "replacements re-run": 1,
        "time-request signatures": 1,
        "clarification-answer signatures": 1,
    }


def _swap_member(e: list[dict[str, Any]]) -> None:
    e[1]["payload"]["members"][0]["expert"] = e[1]["payload"]["standby"][0]


def _other_seat(e: list[dict[str, Any]]) -> None:
    e[2]["payload"]["seat"]["workstation"] = "M-06"


def _no_commitment(e: list[dict[str, Any]]) -> None:
    del e[0]


TAMPERS: dict[str, tuple[Any, str]] = {
    "another pool": (lambda e: e[0]["payload"]["snapshot"].pop(), "snapshot does not have"),
    "another seed": (lambda e: e[1]["payload"].update(seed="00" * 32), "not the one committed"),
    "another committee": (_swap_member, "gives another committee"),
    "another successor": (_other_seat, "not the one the draw gives"),
    "no draw at all": (_no_commitment, "without a commitment"),
    "a forged act": (lambda e: e[3]["payload"]["document"].update(reason="x"), "does not verify"),
    "an act for another tender": (
        lambda e: e[3]["payload"]["document"].update(tender="t-20261121-ffffffffffff"),
        "another tender",
    ),
    "an act by a non-expert": (
        lambda e: e[3]["payload"]["document"].update(expert="p-bidder0001"),
        "no proven expert",
    ),
    "a changed answer": (lambda e: e[4]["payload"].update(answer="未缴纳"), "does not verify"),
    "a changed report": (lambda e: e[5]["payload"]["report"].update(v=2), "does not have the hash"),
}


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_each_tamper_is_named(tamper: str) -> None:
    change, expected = TAMPERS[tamper]
    stream = copy.deepcopy(events())
    change(stream)
    report = checked(stream)
    assert any(expected in failure for failure in report.failures), report.failures


def test_an_answer_under_a_key_of_small_order_is_not_taken() -> None:
    # R = identity, S = 0 "verifies" any message under the identity key: no private key needed.
    identity = (1).to_bytes(32, "little")
    keys = {"p-bidder0001": {"role": "bidder", "public_key": "ed25519:" + b64url_encode(identity)}}
    answer = events()[4]
    answer["payload"]["signature"] = b64url_encode(identity + bytes(32))
    report = Report()
    EvaluationChecks(TENDER, keys, report).check("event 4", answer)
    assert report.failures == [
        "event 4: the clarification-answer signature of p-bidder0001 does not verify"
    ]


def test_a_failed_draw_reruns_as_failed_and_a_faked_failure_does_not() -> None:
    short = DrawRequest((Quota("建筑工程", 9),), REQUEST.sites, 0)
    stream = events()[:1]
    stream[0]["payload"]["request"] = short.to_json()
    failed = {"type": "evaluation.draw_failed", "payload": {"lot": "L1", "seed": SEED.hex()}}
    assert checked([*stream, failed]).checked == {"failed draws re-run": 1}
    faked = [*events()[:1], failed]
    assert "gives another committee" in checked(faked).failures[0]
    drawn_short = events()[:2]
    drawn_short[0]["payload"]["request"] = short.to_json()
    assert "falls short" in checked(drawn_short).failures[0]
    orphan = [events()[0], events()[2]]
    assert "replacement without a draw" in checked(orphan).failures[0]
    unknown = events()[:3]
    unknown[2]["payload"]["leaving"] = "p-nobody0001"
    assert "no replacement follows" in checked(unknown).failures[0]
