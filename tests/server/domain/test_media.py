"""Who may publish and watch which media (docs/media.md section 2): the pure rules, on tenders
brought to each state by the commands the node runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from server.domain.access import Role
from server.domain.committee import Arrival
from server.domain.errors import (
    DomainError,
    DrawNotReady,
    MediaClosed,
    MediaNotLive,
    NotACommitteeMember,
    NotAtTheOpening,
    UnknownLot,
    WrongWorkstation,
)
from server.domain.media import Direction, MediaRequest, grant
from tests.server.domain.journeys import DEADLINE, S, closed, in_session, members, room, tender_in

if TYPE_CHECKING:
    from server.domain.tender import Tender, TenderState

HERE = Arrival("main")


def ask(
    role: Role, *, participant: str = "p-someone", direction: Direction = Direction.WATCH,
    room: str = "opening", source: str = "host", live: bool = True,
) -> MediaRequest:  # fmt: skip
    return MediaRequest(
        "m-abcdefgh12", direction, room, source, live, participant, role, "main", "n"
    )


def refused(tender: Tender, request: MediaRequest, arrival: Arrival = HERE) -> DomainError:
    with pytest.raises(DomainError) as caught:
        grant(tender, request, arrival, DEADLINE)
    return caught.value


@pytest.mark.parametrize("state", [S.PUBLISHED, S.BIDDING, S.OPENING])
def test_the_host_publishes_its_opening_and_watchers_see_it(state: TenderState) -> None:
    tender = tender_in(state)
    started = grant(tender, ask(Role.HOST, participant="p-host", direction=Direction.PUBLISH,
                                source=""), HERE, DEADLINE)  # fmt: skip
    assert (started.source, started.direction, started.participant) == ("host", "publish", "p-host")
    for role in (Role.BIDDER, Role.PUBLIC, Role.SUPERVISOR, Role.CUSTODIAN, Role.HOST):
        assert grant(tender, ask(role), HERE, DEADLINE).source == "host"


def test_the_opening_is_not_for_experts_nor_for_another_host_nor_after_it() -> None:
    tender = tender_in(S.OPENING)
    assert isinstance(refused(tender, ask(Role.EXPERT)), NotAtTheOpening)
    assert NotAtTheOpening.cite == "GP87 40"
    other = ask(Role.HOST, participant="p-other-host", direction=Direction.PUBLISH)
    assert isinstance(refused(tender, other), NotACommitteeMember)
    assert isinstance(refused(tender, ask(Role.BIDDER, source="screen")), MediaNotLive)
    for state in (S.DRAFT, S.EVALUATING, S.CONCLUDED, S.CANCELLED):
        assert isinstance(refused(tender_in(state), ask(Role.BIDDER)), MediaClosed), state


def test_a_member_publishes_at_its_seat_named_by_its_workstation() -> None:
    tender = in_session()
    member = members(tender)[0]
    seat = room(tender).members[member]
    publish = ask(
        Role.EXPERT, participant=member, direction=Direction.PUBLISH, room="L1", source=""
    )
    started = grant(tender, publish, Arrival(seat.site), DEADLINE)
    assert started.source == seat.workstation
    assert member not in started.source
    # Through another site's node, when the seat's site has a node of its own: refused.
    elsewhere = Arrival("elsewhere", frozenset({seat.site, "elsewhere"}))
    assert isinstance(refused(tender, publish, elsewhere), WrongWorkstation)
    outsider = ask(Role.EXPERT, participant="p-expert-x", direction=Direction.PUBLISH, room="L1")
    assert isinstance(refused(tender, outsider), NotACommitteeMember)


def test_a_room_is_seen_by_its_members_and_supervisors_only_and_only_what_is_live() -> None:
    tender = in_session()
    first, second = members(tender)[:2]
    desk = room(tender).members[first].workstation
    watch = ask(Role.EXPERT, participant=second, room="L1", source=desk)
    assert grant(tender, watch, HERE, DEADLINE).source == desk
    assert (
        grant(tender, ask(Role.SUPERVISOR, room="L1", source=desk), HERE, DEADLINE).source == desk
    )
    for role in (Role.HOST, Role.BIDDER, Role.PUBLIC, Role.CUSTODIAN):
        assert isinstance(refused(tender, ask(role, room="L1", source=desk)), NotACommitteeMember)
    stranger = ask(Role.EXPERT, participant="p-expert-x", room="L1", source=desk)
    assert isinstance(refused(tender, stranger), NotACommitteeMember)
    silent = ask(Role.EXPERT, participant=second, room="L1", source=desk, live=False)
    assert isinstance(refused(tender, silent), MediaNotLive)
    unseated = ask(Role.SUPERVISOR, room="L1", source="Z-99")
    assert isinstance(refused(tender, unseated), MediaNotLive)


def test_a_room_that_does_not_exist_or_is_not_in_session_has_no_media() -> None:
    assert isinstance(refused(in_session(), ask(Role.SUPERVISOR, room="L9")), UnknownLot)
    assert isinstance(refused(closed(), ask(Role.SUPERVISOR, room="L1")), MediaClosed)
    undrawn = tender_in(S.EVALUATING)  # the evaluation started, no committee drawn yet
    assert isinstance(refused(undrawn, ask(Role.SUPERVISOR, room="L1")), DrawNotReady)
