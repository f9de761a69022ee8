"""The role x action table: complete, pinned, and the supervisor changes nothing."""

from __future__ import annotations

import pytest

from server.domain.access import (
    ALL_TENDERS,
    PERMISSIONS,
    READ_ONLY,
    Action,
    Actor,
    Role,
    authorize,
)
from server.domain.errors import AccessDenied, OutOfScope
from server.domain.events import PUBLIC

# The table written out the other way round, so that any change to it is a visible diff here.
READS = {"tender.list", "tender.view", "tender.read", "bid.sealed_list", "evaluation.result",
         "media.watch"}  # fmt: skip
EXPECTED = {
    Role.ADMIN: {
        "participant.enroll", "participant.list", "system.read", "audit.verify", "presence.view",
    },
    Role.HOST: READS | {
        "tender.create", "tender.publish", "tender.cancel", "tender.opening.start",
        "opening.view", "opening.pause", "opening.resume", "opening.record", "opening.answer",
        "opening.close", "opening.message", "evaluation.start", "evaluation.draw",
        "evaluation.replace", "evaluation.progress", "media.publish",
    },
    Role.BIDDER: READS | {
        "bid.submit", "bid.withdraw", "opening.view", "opening.sign_in", "opening.decrypt",
        "opening.confirm", "opening.object", "opening.message", "evaluation.answer",
    },
    # Experts never attend the opening (GP87 40); they read decrypted bids in their room.
    Role.EXPERT: READS | {
        "bid.document.read", "evaluation.act", "evaluation.room", "media.publish",
    },
    Role.SUPERVISOR: READS | {
        "participant.list", "system.read", "audit.verify", "opening.view", "bid.document.read",
        "bid.box.read", "evaluation.progress", "evaluation.room", "presence.view",
        "media.recordings",
    },
    Role.CUSTODIAN: READS | {"opening.view", "opening.share"},
    Role.PUBLIC: READS | {"opening.view"},
    # Another node of the deployment reads every stream for its replica, and nothing else.
    # It also records what it saw of the media it received (docs/media.md).
    # and watches another node's media for its own watchers.
    Role.NODE: {
        "system.read", "tender.read", "bid.box.read", "stream.list", "media.record", "media.watch",
    },
}  # fmt: skip


def test_every_action_is_in_the_table() -> None:
    assert set(PERMISSIONS) == set(Action)


@pytest.mark.parametrize("role", list(Role))
def test_table_is_exactly_as_pinned(role: Role) -> None:
    allowed = {action.value for action, roles in PERMISSIONS.items() if role in roles}
    assert allowed == EXPECTED[role]


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.NODE])
def test_supervisors_and_nodes_only_ever_read(role: Role) -> None:
    granted = {action for action, roles in PERMISSIONS.items() if role in roles}
    # A node's one write is the record of the media it received itself (docs/media.md 6).
    assert granted - {Action.RECORD_MEDIA} <= READ_ONLY
    assert Action.RECORD_MEDIA not in READ_ONLY


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_authorize_follows_the_table(role: Role, action: Action) -> None:
    actor = Actor("p-abcd", role, "198.51.100.7")
    if role in PERMISSIONS[action]:
        authorize(actor, action)
    else:
        with pytest.raises(AccessDenied, match=f"The {role} role may not perform {action}"):
            authorize(actor, action)


def test_scopes_limit_tenders() -> None:
    expert = Actor("p-abcd", Role.EXPERT, "local", frozenset({"t-one"}))
    authorize(expert, Action.VIEW_TENDER, "t-one")
    with pytest.raises(OutOfScope, match="t-two"):
        authorize(expert, Action.VIEW_TENDER, "t-two")
    host = Actor("p-efgh", Role.HOST, "local", frozenset({ALL_TENDERS}))
    authorize(host, Action.VIEW_TENDER, "t-anything")


def test_audiences_are_the_role_and_the_participant() -> None:
    actor = Actor("p-abcd", Role.BIDDER, "local")
    assert actor.audiences() == {"bidder", "participant:p-abcd"}


def test_a_node_is_in_every_role_audience_and_no_audience_names_it() -> None:
    node = Actor("n-0123456789abcdef", Role.NODE, "local")
    assert node.audiences() == {role.value for role in Role}
    assert "node" not in PUBLIC  # audiences stay named per event: the node role is not public


def test_refusals_name_their_rule() -> None:
    with pytest.raises(AccessDenied) as caught:
        authorize(Actor("p-abcd", Role.BIDDER, "local"), Action.CREATE_TENDER)
    assert caught.value.rule == "AccessDenied"
