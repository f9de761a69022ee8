"""Who may publish and watch which live media (docs/media.md section 2): pure rules.

The role x action table says which roles may publish or watch at all; these rules say where:
the host of a tender at its opening, each committee member at its own seat in its lot's room
(named by the workstation, never by the expert), watchers of the opening by the roles that
may view it (never experts: GP87 40), and a room's media to its members and supervisors
alone (GP87 66). A grant is the event `media.session_started`; a refusal is raised.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from server.domain.access import Role
from server.domain.errors import (
    MediaClosed,
    MediaNotLive,
    NotACommitteeMember,
    NotAtTheOpening,
    UnknownLot,
    WrongWorkstation,
)
from server.domain.media_events import SessionStarted
from server.domain.tender import TenderState

if TYPE_CHECKING:
    from datetime import datetime

    from server.domain.committee import Arrival
    from server.domain.tender import Tender

OPENING_ROOM: Final = "opening"
HOST_SOURCE: Final = "host"  # the host's desk at the opening
PROGRAM_SOURCE: Final = "program"  # the opening's audio as watchers hear it: host + 唱标
NODE_SOURCE: Final = "node"  # what the node itself says: the spoken 唱标

# The opening's room is open from publication until the tender moves past the opening.
_OPENING_OPEN: Final = frozenset({TenderState.PUBLISHED, TenderState.BIDDING, TenderState.OPENING})


class Direction(enum.StrEnum):
    PUBLISH = "publish"
    WATCH = "watch"


@dataclass(frozen=True, slots=True)
class MediaRequest:
    """One request for a media session, as the node that received it saw it.

    `source` is what a watcher asks to see (a publisher's is named by the rules); `live` says
    whether that source is published at the node asked right now.
    """

    session: str
    direction: Direction
    room: str
    source: str
    live: bool
    participant: str
    role: Role
    site: str
    node: str


def grant(tender: Tender, request: MediaRequest, arrival: Arrival, now: datetime) -> SessionStarted:
    """The grant of `request` on `tender`, with the source named; or the refusal, raised."""
    if request.room == OPENING_ROOM:
        source = _opening(tender, request)
    else:
        source = _room(tender, request, arrival)
    return SessionStarted(
        request.session, request.direction.value, request.room, source, request.participant,
        request.role.value, request.site, request.node, now,
    )  # fmt: skip


def _opening(tender: Tender, request: MediaRequest) -> str:
    if request.role is Role.EXPERT:
        raise NotAtTheOpening("Experts may not attend the opening, nor watch or speak at it.")
    if tender.state not in _OPENING_OPEN:
        raise MediaClosed(f"The opening of tender {tender.id} is not live (it is {tender.state}).")
    if request.direction is Direction.PUBLISH:
        if request.role is not Role.HOST or tender.host != request.participant:
            raise NotACommitteeMember("Only the tender's host publishes at its opening.")
        return HOST_SOURCE
    if request.source != HOST_SOURCE:
        raise MediaNotLive(f"The opening shows the source {HOST_SOURCE!r} only.")
    return HOST_SOURCE


def _room(tender: Tender, request: MediaRequest, arrival: Arrival) -> str:
    spec = tender.spec
    if spec is None or spec.lot(request.room) is None:
        raise UnknownLot(f"Tender {tender.id} has no lot {request.room}.")
    if tender.state is not TenderState.EVALUATING:
        raise MediaClosed(f"Lot {request.room}'s room is not in session.")
    room = tender.evaluation.room(request.room)
    if room.result is not None:
        raise MediaClosed(f"Lot {request.room}'s room has concluded.")
    if request.direction is Direction.PUBLISH:
        seat = room.members.get(request.participant)
        if request.role is not Role.EXPERT or seat is None:
            raise NotACommitteeMember(f"Only members of lot {request.room}'s committee publish.")
        if not arrival.through(seat.site):
            raise WrongWorkstation(f"Publish from your workstation at site {seat.site}.")
        return seat.workstation
    if request.role is Role.EXPERT:
        if request.participant not in room.members:
            raise NotACommitteeMember(f"Only members of lot {request.room}'s committee see it.")
    elif request.role not in (Role.SUPERVISOR, Role.NODE):  # a node relays to its own
        raise NotACommitteeMember(
            f"Only the committee and supervisors see lot {request.room}'s room."
        )
    seats = {seat.workstation for seat in room.members.values()}
    if request.source not in seats or not request.live:
        raise MediaNotLive(f"Workstation {request.source} is not publishing in this room.")
    return request.source
