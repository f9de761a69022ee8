"""Golden payloads: every event type, encoded, byte for byte as the log has always had it.

The fixture `event_payloads.json` was recorded from the hand-written codecs before the
generic one replaced them. Each case keeps the payload's JSON in key order (what the live
channel and views send), its canonical JSON (what the log hashes) and its visibility.
Regenerate only for a new event type: `python -m tests.server.domain.test_event_payloads`.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Union

from crypto import canonical_json
from server.domain import (
    bidbox,
    evaluation_events,
    events,
    logins,
    media_events,
    opening_events,
    participants,
    sealed_bids,
    tender_events,
)
from server.domain.access import Role
from server.domain.catalogue import decode_event
from server.domain.events import DomainEvent
from server.domain.logins import LoginFailure
from server.domain.participants import Participant
from server.domain.sealed_bids import Receipt, SealedList
from server.domain.spec import TenderSpec
from server.protocol import SYSTEM_STREAM, box_stream
from tests.conftest import START, tender_spec

FIXTURE = Path(__file__).with_name("event_payloads.json")
MODULES = (events, tender_events, opening_events, evaluation_events, sealed_bids, bidbox,
           participants, logins, media_events)  # fmt: skip
AT = START + timedelta(hours=2, microseconds=123000)
TENDER = "t-20261121-00000000000a"
RECEIPT = Receipt(TENDER, "L1", "p-bidder0001", 1024, "ab" * 32, AT, 1)
# Mappings carry what visibility reads of them (a bidder, a stream) and a nested value.
MAPPINGS: Mapping[str, Mapping[str, Any]] = {
    "tree_head": {"v": 1, "type": "tree-head", "stream": TENDER, "size": 3, "root": "00" * 32},
    "outcome": {"bidder": "p-bidder0002", "tally": {"p-expert0001": 2}, "leader": None},
}
MAPPING: Mapping[str, Any] = {"lot": "L1", "expert": "p-expert0001", "n": 2, "ok": True}


def event_classes() -> list[type[DomainEvent]]:
    found = {
        value
        for module in MODULES
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, DomainEvent) and "TYPE" in vars(value)
    }
    return sorted(found, key=lambda cls: cls.TYPE)


def _sample(name: str, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _sample(name, inner)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if typing.get_origin(item) is tuple:
            row = typing.get_args(item)
            return tuple(tuple(_sample(f"{name}{i}{j}", t) for j, t in enumerate(row))
                         for i in range(2))  # fmt: skip
        return tuple(_sample(f"{name}{i}", item) for i in range(2))
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        return dict(MAPPINGS.get(name, MAPPING))
    simple: dict[Any, Any] = {
        str: f"{name}-text", int: 7, float: 12.5, bool: False, datetime: AT,
        Role: Role.EXPERT, LoginFailure: LoginFailure.BAD_TIME, Receipt: RECEIPT,
        SealedList: SealedList(TENDER, "L1", AT, (RECEIPT,), "cd" * 32),
        TenderSpec: TenderSpec.parse(tender_spec(START)),
        Participant: Participant("p-expert0001", Role.EXPERT, "王 Wang", "ed25519:AAAA",
                                 {"site": "s1"}, "x25519:BBBB"),
    }  # fmt: skip
    return simple[hint]


def instances() -> list[tuple[str, DomainEvent]]:
    """One instance of every event type; optional fields both set and unset."""
    made: list[tuple[str, DomainEvent]] = []
    for cls in event_classes():
        module = vars(typing.cast("Any", __import__(cls.__module__, fromlist=["_"])))
        hints = typing.get_type_hints(cls, globalns=module | {"datetime": datetime,
                                                               "Mapping": Mapping})  # fmt: skip
        fields = [f for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
        values = {f.name: _sample(f.name, hints[f.name]) for f in fields if f.name != "audience"}
        if any(f.name == "audience" for f in fields):
            values["audience"] = ("p-expert0001", "p-expert0002")
        made.append((cls.TYPE, cls(**values)))
        optional = [f.name for f in fields if type(None) in typing.get_args(hints[f.name])]
        if optional:
            made.append((f"{cls.TYPE} unset", cls(**values | dict.fromkeys(optional))))
    for stream in (SYSTEM_STREAM, box_stream(TENDER)):
        tree_head = {**MAPPINGS["tree_head"], "stream": stream}
        made.append((f"audit.tree_head {stream}", events.TreeHeadSigned(tree_head, "sig")))
    cancelled = tender_events.TenderCancelled(AT, "halted", public=True)
    made.append(("tender.cancelled public", cancelled))
    made.append(("bid.decryption_failed bidder",
                 opening_events.BidFailed("L1", "p-bidder0001", "bidder", "why", AT)))  # fmt: skip
    return made


def encoded(event: DomainEvent) -> dict[str, Any]:
    payload = event.payload()
    return {
        "json": json.dumps(payload, ensure_ascii=False),
        "canonical": canonical_json(payload).decode(),
        "visibility": sorted(event.visibility()),
    }


def test_every_event_type_has_a_golden_case() -> None:
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert {case.split(" ")[0] for case in recorded} == {cls.TYPE for cls in event_classes()}


def test_payloads_are_byte_identical_to_the_recorded_ones() -> None:
    recorded = json.loads(FIXTURE.read_text(encoding="utf-8"))
    made = dict(instances())
    assert sorted(made) == sorted(recorded)
    for case, event in made.items():
        assert encoded(event) == recorded[case], case


def test_golden_payloads_decode_to_the_same_event() -> None:
    for _case, event in instances():
        assert decode_event(event.TYPE, event.payload()) == event


if __name__ == "__main__":
    cases = {case: encoded(event) for case, event in instances()}
    FIXTURE.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
