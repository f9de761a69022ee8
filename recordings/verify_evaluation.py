"""What a bundle's evaluation events must satisfy, checked with no server (evaluation.md 2, 3, 6).

Every draw is re-run from its revealed seed over the committed pool snapshot, and every
replacement after it; every act an expert signed verifies with that expert's proven key;
the report has the hash members signed; a bidder's written answer verifies with its key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from crypto import CryptoError, VerifyKey, b64url_decode, verify
from recordings.documents import (
    CLARIFICATION_ANSWER_LABEL,
    clarification_answer_document,
    report_hash,
)
from recordings.draw import (
    DrawRequest,
    DrawShortfall,
    PoolEntry,
    Seat,
    draw,
    replacement,
    seed_hash,
    snapshot_hash,
)
from recordings.vocabulary import EventType

if TYPE_CHECKING:
    from collections.abc import Mapping

    from recordings.bundle import Report

# The events that carry an expert's signed act: {"document": ..., "signature": ...}.
ACT_EVENTS: Final = frozenset(
    {
        EventType.EVALUATION_CHECKED_IN,
        EventType.EVALUATION_PLEDGED,
        EventType.EVALUATION_VOTE_CAST,
        EventType.EVALUATION_COMPLIANCE_SUBMITTED,
        EventType.EVALUATION_SHEET_SUBMITTED,
        EventType.EVALUATION_FLAG_CONFIRMED,
        EventType.EVALUATION_CLARIFICATION_REQUESTED,
        EventType.EVALUATION_TIME_REQUESTED,
        EventType.EVALUATION_REPORT_SIGNED,
        EventType.EVALUATION_REPORT_DISSENTED,
    }
)


@dataclass
class _Draw:
    commitment: dict[str, Any]
    snapshot: tuple[PoolEntry, ...]
    request: DrawRequest
    members: list[Seat] = field(default_factory=list)
    standby: list[str] = field(default_factory=list)


class EvaluationChecks:
    """Fed a tender's events in order; reports what does not hold."""

    def __init__(
        self, tender: str, keys: Mapping[str, dict[str, Any]], report: Report, *,
        signatures: bool = True,
    ) -> None:  # fmt: skip
        self._tender = tender
        self._keys = keys
        self._report = report
        self._signatures = signatures
        self._draws: dict[str, _Draw] = {}

    def check(self, where: str, event: dict[str, Any]) -> None:
        kind, payload = event["type"], event["payload"]
        if kind in ACT_EVENTS and self._signatures:
            self._act(where, payload)
        elif kind == EventType.EVALUATION_DRAW_COMMITTED:
            self._committed(where, payload)
        elif kind in (EventType.EVALUATION_COMMITTEE_DRAWN, EventType.EVALUATION_DRAW_FAILED):
            self._revealed(where, kind, payload)
        elif kind == EventType.EVALUATION_MEMBER_REPLACED:
            self._replaced(where, payload)
        elif kind == EventType.EVALUATION_REPORT_ISSUED:
            if report_hash(payload["report"]) != payload["report_hash"]:
                self._report.fail(where, "the report does not have the hash members sign")
        elif kind == EventType.EVALUATION_CLARIFICATION_ANSWERED and self._signatures:
            document = clarification_answer_document(
                self._tender, payload["lot"], payload["clarification"], payload["bidder"],
                payload["answer"],
            )  # fmt: skip
            self._signed(where, str(payload["bidder"]), "bidder", CLARIFICATION_ANSWER_LABEL,
                         document, str(payload["signature"]))  # fmt: skip

    def _act(self, where: str, payload: dict[str, Any]) -> None:
        document = payload["document"]
        if document.get("tender") != self._tender:
            self._report.fail(where, "an act signed for another tender")
            return
        self._signed(where, str(document["expert"]), "expert", str(document["type"]), document,
                     str(payload["signature"]))  # fmt: skip

    def _signed(
        self, where: str, signer: str, role: str, label: str, document: object, signature: str
    ) -> None:
        person = self._keys.get(signer)
        if person is None or person.get("role") != role:
            self._report.fail(where, f"{signer} is no proven {role}")
            return
        try:
            key = VerifyKey.from_text(str(person["public_key"]))
            verify(key, label, document, b64url_decode(signature))
        except CryptoError:
            self._report.fail(where, f"the {label} signature of {signer} does not verify")
            return
        self._report.count(f"{label} signatures")

    def _committed(self, where: str, payload: dict[str, Any]) -> None:
        snapshot = tuple(PoolEntry.from_json(e) for e in payload["snapshot"])
        if snapshot_hash(snapshot) != payload["snapshot_hash"]:
            self._report.fail(where, "the pool snapshot does not have its committed hash")
        request = DrawRequest.from_json(payload["request"])
        self._draws[str(payload["lot"])] = _Draw(payload, snapshot, request)

    def _revealed(self, where: str, kind: str, payload: dict[str, Any]) -> None:
        found = self._draws.get(str(payload["lot"]))
        if found is None:
            self._report.fail(where, "a draw revealed without a commitment before it")
            return
        seed = bytes.fromhex(payload["seed"])
        if seed_hash(seed) != found.commitment["seed_hash"]:
            self._report.fail(where, "the revealed seed is not the one committed to")
            return
        try:
            committee = draw(seed, found.snapshot, found.request, found.commitment["avoid"])
        except DrawShortfall:
            if kind != EventType.EVALUATION_DRAW_FAILED:
                self._report.fail(where, "the draw can't be re-run: the pool falls short")
            else:
                self._report.count("failed draws re-run")
            return
        members = [s.to_json() for s in committee.members]
        same = members == payload.get("members") and list(committee.standby) == payload.get(
            "standby"
        )
        if kind == EventType.EVALUATION_DRAW_FAILED or not same:
            self._report.fail(where, "re-running the draw from its seed gives another committee")
            return
        found.members, found.standby = list(committee.members), list(committee.standby)
        self._report.count("draws re-run from their seed")

    def _replaced(self, where: str, payload: dict[str, Any]) -> None:
        found = self._draws.get(str(payload["lot"]))
        if found is None or not found.members:
            self._report.fail(where, "a replacement without a draw before it")
            return
        leaving = str(payload["leaving"])
        try:
            seat = replacement(found.snapshot, found.request, found.members, found.standby, leaving)
        except (DrawShortfall, ValueError):
            self._report.fail(where, "no replacement follows from the draw for this member")
            return
        if seat.to_json() != payload["seat"]:
            self._report.fail(where, "the replacement is not the one the draw gives")
            return
        found.members = [s for s in found.members if s.expert != leaving] + [seat]
        found.standby = [e for e in found.standby if e != seat.expert]
        self._report.count("replacements re-run")
