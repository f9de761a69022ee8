"""The command path: commands as values, one registry for every action, one entry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from crypto import canonical_json, parse_json
from server.domain.access import ALL_TENDERS, Action, Actor, Role
from server.domain.errors import AccessDenied, SignatureRejected
from server.errors import BadRequest, NotFound
from server.service import commands
from server.service.commands import HANDLERS, Command, Target

if TYPE_CHECKING:
    from tests.conftest import Harness

ARRIVED = datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=UTC)
EXPERT = Actor("p-0123456789ab", Role.EXPERT, "10.0.0.7", frozenset({"t-1", "t-2"}))


def test_every_action_has_a_handler() -> None:
    assert set(HANDLERS) == set(Action)
    assert all("" in steps for steps in HANDLERS.values())


def test_a_command_survives_the_trip_to_another_node() -> None:
    command = Command(
        Action.ACT_IN_ROOM, EXPERT, ARRIVED, "t-1", target=Target(lot="L1"),
        body={"document": {"type": "score-sheet", "n": [1, 2.5, None]}, "signature": "s"},
    )  # fmt: skip
    wire = canonical_json(command.to_json())
    again = Command.from_json(parse_json(wire))
    assert again == command
    assert again.address == "10.0.0.7"
    assert again.to_json()["target"] == {"lot": "L1"}


def test_a_command_with_steps_and_no_tender_survives_too() -> None:
    admin = Actor("p-aaaaaaaaaaaa", Role.ADMIN, "local")
    command = Command(Action.READ_SYSTEM_LOG, admin, ARRIVED, step="tree-head")
    again = Command.from_json(command.to_json())
    assert again == command
    assert again.actor.scopes == frozenset({ALL_TENDERS})


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        {"action": "tender.view"},
        {**Command(Action.VIEW_TENDER, EXPERT, ARRIVED).to_json(), "action": "nope"},
        {**Command(Action.VIEW_TENDER, EXPERT, ARRIVED).to_json(), "tender": 3},
        {**Command(Action.VIEW_TENDER, EXPERT, ARRIVED).to_json(), "target": {"lot": 1}},
        {**Command(Action.VIEW_TENDER, EXPERT, ARRIVED).to_json(), "target": {"seat": "x"}},
        {
            **Command(Action.VIEW_TENDER, EXPERT, ARRIVED).to_json(),
            "actor": {"id": "p", "role": "expert", "address": "a", "scopes": "t-1"},
        },
    ],
)
def test_what_is_not_a_command_is_refused(document: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - every way of failing is a ValueError
        Command.from_json(document)


async def test_a_step_an_action_does_not_have_is_not_found(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    actor = harness.node.authenticate(host.token, "127.0.0.1")
    with pytest.raises(NotFound):
        await harness.node.submit(Command(Action.VIEW_TENDER, actor, ARRIVED, "t-1", "nope"))


async def test_a_command_without_what_it_needs_is_a_bad_request(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    actor = harness.node.authenticate(host.token, "127.0.0.1")
    with pytest.raises(BadRequest, match="about a tender"):
        await harness.node.submit(Command(Action.VIEW_TENDER, actor, ARRIVED))
    with pytest.raises(BadRequest, match="integer after_seq"):
        await harness.node.submit(Command(Action.READ_TENDER_LOG, actor, ARRIVED, "t-1"))
    bidder = await harness.person(Role.BIDDER)
    actor = harness.node.authenticate(bidder.token, "127.0.0.1")
    upload = Target(upload="u")
    with pytest.raises(BadRequest, match="bytes"):
        await harness.node.submit(
            Command(Action.SUBMIT_BID, actor, ARRIVED, step="upload.write", target=upload)
        )


async def test_audits_are_verified_offline_and_by_whom(harness: Harness) -> None:
    supervisor = await harness.person(Role.SUPERVISOR)
    actor = harness.node.authenticate(supervisor.token, "127.0.0.1")
    with pytest.raises(NotFound, match="offline"):
        await harness.node.submit(Command(Action.VERIFY_AUDIT, actor, ARRIVED))
    host = await harness.person(Role.HOST)
    actor = harness.node.authenticate(host.token, "127.0.0.1")
    with pytest.raises(AccessDenied):
        await harness.node.submit(Command(Action.VERIFY_AUDIT, actor, ARRIVED))


async def test_a_signature_of_nobody_enrolled_or_not_theirs_is_refused(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = harness.node.pipeline
    stranger = Actor("p-ffffffffffff", Role.EXPERT, "10.0.0.9")
    signature = "A" * 86
    with pytest.raises(SignatureRejected):
        await pipeline.verify(stranger, "t-1", Action.ACT_IN_ROOM, "label", {}, signature)
    monkeypatch.setattr(commands, "MAX_KEYS_KEPT", 0)  # every key parsed starts the cache over
    expert = await harness.person(Role.EXPERT)
    actor = harness.node.authenticate(expert.token, "127.0.0.1")
    for _ in range(2):
        with pytest.raises(SignatureRejected):
            await pipeline.verify(actor, "t-1", Action.ACT_IN_ROOM, "label", {}, signature)


async def test_the_progress_of_a_tender_that_is_not_there_is_not_found(harness: Harness) -> None:
    host = await harness.person(Role.HOST)
    actor = harness.node.authenticate(host.token, "127.0.0.1")
    with pytest.raises(NotFound):
        await harness.node.submit(Command(Action.VIEW_PROGRESS, actor, ARRIVED, "t-1"))
