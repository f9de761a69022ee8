"""The documents experts sign in the room (docs/spec/evaluation.md section 3), read and checked
for shape. Whether an act fits the room (member, stage, round, ranges) is the room's to say."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from recordings.vocabulary import ActType
from server.domain.spec import MAX_CRITERIA
from server.protocol.fields import Reader

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

MAX_TEXT: Final = 2000
MAX_BIDDERS: Final = 1000
MAX_CONFLICTS: Final = 20
_PARTICIPANT: Final = re.compile(r"p-[a-z0-9]{4,32}")
_CRITERION: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,15}")
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_HASH: Final = re.compile(r"[0-9a-f]{64}")
_TENDER: Final = re.compile(r"t-[0-9]{8}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class Act:
    """One signed act, read. Members that a type does not have keep their defaults."""

    type: str
    tender: str
    lot: str
    expert: str
    workstation: str
    document: Mapping[str, Any]
    site: str = ""
    conflicts: tuple[tuple[str, str], ...] = ()
    round: int = 0
    candidate: str = ""
    results: Mapping[str, Mapping[str, tuple[bool, str]]] = field(default_factory=dict)
    version: int = 0
    bidder: str = ""
    scores: Mapping[str, str] = field(default_factory=dict)
    comment: str = ""
    text: str = ""  # the reason, question or dissent
    report_hash: str = ""


def _check_in(reader: Reader) -> dict[str, Any]:
    return {"site": reader.text("site", max_len=32, pattern=_ID)}


def _pledge(reader: Reader) -> dict[str, Any]:
    conflicts = tuple(
        (item.text("organisation"), item.text("reason", max_len=MAX_TEXT))
        for item in reader.items("conflicts", max_len=MAX_CONFLICTS)
    )
    return {"conflicts": conflicts}


def _vote(reader: Reader) -> dict[str, Any]:
    return {
        "round": reader.integer("round", low=1, high=1000),
        "candidate": reader.text("candidate", max_len=40, pattern=_PARTICIPANT),
    }


def _compliance(reader: Reader) -> dict[str, Any]:
    results = {
        bidder: {
            criterion: (item.boolean("pass"), item.text("reason", max_len=MAX_TEXT, min_len=0))
            for criterion, item in criteria.entries(key_pattern=_CRITERION, max_items=MAX_CRITERIA)
        }
        for bidder, criteria in reader.members(
            "results", key_pattern=_PARTICIPANT, max_items=MAX_BIDDERS
        )
    }
    return {"results": results}


def _score(reader: Reader) -> dict[str, Any]:
    return {
        "round": reader.integer("round", low=1, high=1000),
        "version": reader.integer("version", low=1, high=1000),
        "bidder": reader.text("bidder", max_len=40, pattern=_PARTICIPANT),
        "scores": reader.text_map(
            "scores", key_pattern=_CRITERION, max_items=MAX_CRITERIA, max_len=24
        ),
        "comment": reader.text("comment", max_len=MAX_TEXT, min_len=0),
    }


def _confirmation(reader: Reader) -> dict[str, Any]:
    return {
        "round": reader.integer("round", low=1, high=1000),
        "bidder": reader.text("bidder", max_len=40, pattern=_PARTICIPANT),
        "text": reader.text("reason", max_len=MAX_TEXT),
    }


def _clarification(reader: Reader) -> dict[str, Any]:
    return {
        "bidder": reader.text("bidder", max_len=40, pattern=_PARTICIPANT),
        "text": reader.text("question", max_len=MAX_TEXT),
    }


def _time(reader: Reader) -> dict[str, Any]:
    return {"text": reader.text("reason", max_len=MAX_TEXT)}


def _signature(reader: Reader) -> dict[str, Any]:
    return {"report_hash": reader.text("report_hash", max_len=64, pattern=_HASH)}


def _dissent(reader: Reader) -> dict[str, Any]:
    return _signature(reader) | {"text": reader.text("reasons", max_len=MAX_TEXT)}


_READERS: Final[Mapping[str, Callable[[Reader], dict[str, Any]]]] = MappingProxyType(
    {
        ActType.CHECK_IN: _check_in,
        ActType.PLEDGE: _pledge,
        ActType.LEADER_VOTE: _vote,
        ActType.COMPLIANCE_SHEET: _compliance,
        ActType.SCORE_SHEET: _score,
        ActType.FLAG_CONFIRMATION: _confirmation,
        ActType.CLARIFICATION_REQUEST: _clarification,
        ActType.TIME_REQUEST: _time,
        ActType.REPORT_SIGNATURE: _signature,
        ActType.REPORT_DISSENT: _dissent,
    }
)
ACT_TYPES: Final = frozenset(_READERS)


def parse_act(document: object) -> Act:
    """Read a signed act's document; InvalidFields lists everything wrong with its shape."""
    reader = Reader(document)
    if reader.integer("v", low=1, high=1) != 1:
        reader.problem("v", "this node reads act documents of version 1")
    kind = reader.text("type", max_len=32)
    read = _READERS.get(kind)
    if read is None and kind:
        reader.problem("type", f"must be one of: {', '.join(sorted(_READERS))}")
    tender = reader.text("tender", max_len=32, pattern=_TENDER)
    lot = reader.text("lot", max_len=32)
    expert = reader.text("expert", max_len=40, pattern=_PARTICIPANT)
    workstation = reader.text("workstation", max_len=32, pattern=_ID)
    more: dict[str, Any] = read(reader) if read is not None else {}
    reader.finish()
    assert isinstance(document, dict)  # noqa: S101 - Reader.finish() refused anything else
    return Act(kind, tender, lot, expert, workstation, document, **more)
