"""The catalogue of event types: every type is listed, decodes, is folded (or says why not)
and has a label; an unknown type is an error; audiences name their roles."""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

import pytest

from recordings.documents import ACT_LABELS
from recordings.vocabulary import EVENT_LABELS, ActType, EventType
from server.domain import events as events_module, room_fold
from server.domain.acts import ACT_TYPES
from server.domain.bidbox import BidBox
from server.domain.catalogue import CATALOGUE, Entry, Fold, UnknownEventType, decode_event
from server.domain.evaluation_events import ACT_EVENTS
from server.domain.events import OVERSIGHT, DomainEvent
from server.domain.opening_events import (
    AttemptFailed,
    BidFailed,
    DecryptionClosed,
    DecryptionPaused,
    DecryptionResumed,
    MessageSent,
    ObjectionAnswered,
    ObjectionRaised,
    ShareSubmitted,
)
from server.domain.participants import Enrolment, Registry
from server.domain.tender import Tender, TenderState
from server.protocol import box_stream
from tests.server.domain.journeys import (
    BIDDERS,
    DEADLINE,
    OPENS,
    TENDER,
    bidding,
    history,
    opening,
    read_out,
    receipt,
    replayed,
    tender_in,
)
from tests.server.domain.test_event_payloads import event_classes, instances

if TYPE_CHECKING:
    from collections.abc import Callable

# The parts of the tender's state that a journey reaches by folding decoded events.
JOURNEY_FOLDS = frozenset({Fold.TENDER, Fold.SEALED_BIDS, Fold.OPENING, Fold.BID_BOX})


def test_every_event_type_is_in_the_catalogue_once() -> None:
    assert set(CATALOGUE) == set(EventType)
    assert {entry.event for entry in CATALOGUE.values()} == set(event_classes())
    assert all(kind == entry.event.TYPE for kind, entry in CATALOGUE.items())


def test_every_event_type_has_a_label_in_both_languages() -> None:
    assert set(EVENT_LABELS) == set(EventType)
    for kind, (chinese, english) in EVENT_LABELS.items():
        assert chinese.strip(), kind
        assert english.strip(), kind
        assert not chinese.isascii(), kind
        assert english.isascii(), kind


def test_every_act_type_is_read_recorded_and_signed_under_its_one_name() -> None:
    assert set(ACT_TYPES) == set(ACT_EVENTS) == set(ACT_LABELS) == set(ActType)


def test_every_event_type_decodes_from_its_payload() -> None:
    for _case, event in instances():
        decoded = decode_event(event.TYPE, event.payload())
        assert decoded == event
        assert type(decoded) is CATALOGUE[event.TYPE].event


def test_an_unknown_type_is_an_error_not_a_silent_none() -> None:
    with pytest.raises(UnknownEventType) as raised:
        decode_event("tender.vanished", {"at": "2026-11-21T09:00:00Z"})
    assert raised.value.event_type == "tender.vanished"
    assert "not in the catalogue" in str(raised.value)


def test_an_entry_names_its_fold_or_why_it_has_none() -> None:
    event = CATALOGUE[EventType.COMMAND_REJECTED].event
    with pytest.raises(ValueError, match="name its fold"):
        Entry(event)
    with pytest.raises(ValueError, match="name its fold"):
        Entry(event, frozenset({Fold.TENDER}), ignored="both")


def test_the_room_fold_handles_exactly_the_room_events_of_the_catalogue() -> None:
    in_rooms = {e.event for e in CATALOGUE.values() if Fold.ROOM in e.folds}
    assert in_rooms == set(room_fold._FOLD)


def _off_the_journeys() -> list[tuple[Tender, list[DomainEvent]]]:
    """Folded events the standard journeys don't make, each after the state it follows."""
    decrypting = opening()
    assert decrypting.spec is not None
    custodian = decrypting.spec.opening.custodians[0]
    return [
        (decrypting, [
            DecryptionPaused(DEADLINE, "power cut at the centre", 60.0),
            DecryptionResumed(DEADLINE, DEADLINE + timedelta(hours=1)),
            AttemptFailed("L1", BIDDERS[0], 1, "wrong key"),
            BidFailed("L1", BIDDERS[1], "bidder", "no key", DEADLINE),
            ShareSubmitted(custodian, 1, DEADLINE),
            MessageSent("m1", BIDDERS[0], (), False, "解密遇到问题", DEADLINE),
            DecryptionClosed(DEADLINE),
        ]),
        (read_out(), [
            ObjectionRaised("o-1", BIDDERS[0], "the price was misread", "sig", DEADLINE),
            ObjectionAnswered("o-1", "read again: it stands", DEADLINE),
        ]),
    ]  # fmt: skip


def test_every_folded_event_folds_from_its_payload_without_raising() -> None:
    folded: set[str] = set()
    # The tender's own events, decoded from their payloads and folded (journeys.replayed).
    for state in TenderState:
        tender = tender_in(state)
        replayed(tender)
        folded |= {event.TYPE for event in history(tender)}
    for tender, later in _off_the_journeys():
        for event in later:
            tender.apply(decode_event(event.TYPE, event.payload()))
            folded.add(event.TYPE)
    # The bid box, fed by its commands and folded from the payloads.
    tender, box = bidding(), BidBox(box_stream(TENDER))
    commands: list[Callable[[], list[DomainEvent]]] = [
        lambda: box.submit(OPENS, tender, receipt(BIDDERS[0]), "sig"),
        lambda: box.submit(OPENS, tender, receipt(BIDDERS[1]), "sig"),
        lambda: box.sign_in(DEADLINE - timedelta(minutes=5), tender, BIDDERS[1]),
        lambda: box.withdraw(OPENS, tender, "L1", BIDDERS[0]),
        lambda: box.seal(DEADLINE),
    ]
    for command in commands:
        for event in command():
            box.apply(decode_event(event.TYPE, event.payload()))
            folded.add(event.TYPE)
    assert list(box.current) == [("L1", BIDDERS[1])]
    assert box.sealed
    # The registry, on the system log.
    registry = Registry()
    enrolment = Enrolment.parse({"role": "bidder", "name": "甲公司 A Ltd", "public_key": "k"})
    for event in registry.enroll("p-bidder0001", enrolment):
        registry.apply(decode_event(event.TYPE, event.payload()))
        folded.add(event.TYPE)
    assert registry.get("p-bidder0001") is not None
    expected = {
        kind for kind, entry in CATALOGUE.items() if entry.folds & (JOURNEY_FOLDS | {Fold.REGISTRY})
    }
    assert expected <= folded


def test_events_no_aggregate_folds_are_harmless_to_every_aggregate() -> None:
    ignored = {kind for kind, entry in CATALOGUE.items() if entry.ignored}
    assert ignored  # refusals, logins, tree heads and the like
    for case, event in instances():
        if event.TYPE not in ignored:
            continue
        decoded = decode_event(event.TYPE, event.payload())
        for aggregate in (Tender(TENDER), tender_in(TenderState.EVALUATING),
                          BidBox(box_stream(TENDER)), Registry()):  # fmt: skip
            aggregate.apply(decoded)  # does not raise
        assert case


def test_every_audience_names_its_roles() -> None:
    """A role added to Role later must not silently join an audience: each audience is a
    literal set of `Role.<NAME>.value`, or a union of such sets."""
    tree = ast.parse(inspect.getsource(events_module))
    audiences = {"PUBLIC", "OPENING_AUDIENCE", "STAFF", "OVERSIGHT", "NODE_ADMIN"}
    found: dict[str, ast.expr | None] = {}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and target.id in audiences:
            assert isinstance(node, ast.AnnAssign)
            found[target.id] = node.value
    assert set(found) == audiences
    for name, value in found.items():
        assert isinstance(value, ast.Call), name
        assert ast.unparse(value.func) == "frozenset", name
        (literal,) = value.args
        assert isinstance(literal, ast.Set), name
        for element in literal.elts:
            text = ast.unparse(element)
            assert text.startswith("Role."), (name, text)
            assert text.endswith(".value"), (name, text)


def test_the_codec_refuses_a_field_it_cannot_write() -> None:
    @dataclass(frozen=True)
    class Odd(DomainEvent):
        TYPE: ClassVar[str] = "odd.event"
        VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
        tags: set[str]

    with pytest.raises(TypeError, match="can't write a field of type"):
        Odd({"a"}).payload()
