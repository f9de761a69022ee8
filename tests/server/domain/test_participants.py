"""Enrolment requests and the registry fold."""

from __future__ import annotations

import pytest

from server.domain.access import Role
from server.domain.catalogue import decode_event
from server.domain.errors import DuplicateParticipant, DuplicatePublicKey
from server.domain.participants import Enrolment, ParticipantEnrolled, Registry
from server.protocol.fields import InvalidFields

KEY = "ed25519:" + "A" * 43


def enrolment(**changes: object) -> dict[str, object]:
    return {"role": "bidder", "name": "Bidder A", "public_key": KEY} | changes


def test_enrolment_parses() -> None:
    parsed = Enrolment.parse(enrolment(attributes={"region": "Guangzhou"}))
    assert parsed.role is Role.BIDDER
    assert parsed.attributes == {"region": "Guangzhou"}


def test_enrolment_reports_every_problem() -> None:
    with pytest.raises(InvalidFields) as caught:
        Enrolment.parse({"role": "king", "name": "", "attributes": {"Bad Key": "x", "ok": 1}})
    paths = {p.path for p in caught.value.problems}
    assert paths == {"role", "name", "public_key", "attributes.Bad Key", "attributes.ok"}


def test_too_many_attributes_are_refused() -> None:
    with pytest.raises(InvalidFields, match="at most 16"):
        Enrolment.parse(enrolment(attributes={f"a{i}": "x" for i in range(17)}))


def test_registry_refuses_duplicates() -> None:
    registry = Registry()
    for event in registry.enroll("p-0001", Enrolment.parse(enrolment())):
        registry.apply(event)
    with pytest.raises(DuplicateParticipant):
        registry.enroll("p-0001", Enrolment.parse(enrolment(public_key="ed25519:other")))
    with pytest.raises(DuplicatePublicKey, match="p-0001"):
        registry.enroll("p-0002", Enrolment.parse(enrolment()))


def test_enrolment_events_round_trip() -> None:
    (event,) = Registry().enroll("p-0001", Enrolment.parse(enrolment()))
    assert isinstance(event, ParticipantEnrolled)
    assert decode_event(event.TYPE, event.payload()) == event
    assert "bidder" not in event.VISIBILITY  # names stay with the admin and supervisors
