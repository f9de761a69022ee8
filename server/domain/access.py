"""Who may do what: roles, actions, and the one table that joins them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from recordings.vocabulary import Role as Role  # the roles are part of the log's words
from server.domain.errors import AccessDenied, OutOfScope

if TYPE_CHECKING:
    from collections.abc import Mapping


class Action(enum.StrEnum):
    ENROLL_PARTICIPANT = "participant.enroll"
    LIST_PARTICIPANTS = "participant.list"
    READ_SYSTEM_LOG = "system.read"
    CREATE_TENDER = "tender.create"
    PUBLISH_TENDER = "tender.publish"
    CANCEL_TENDER = "tender.cancel"
    START_OPENING = "tender.opening.start"
    LIST_TENDERS = "tender.list"
    VIEW_TENDER = "tender.view"
    READ_TENDER_LOG = "tender.read"
    VERIFY_AUDIT = "audit.verify"
    SUBMIT_BID = "bid.submit"
    WITHDRAW_BID = "bid.withdraw"
    VIEW_SEALED_LIST = "bid.sealed_list"
    READ_BID_BOX = "bid.box.read"
    READ_BID_DOCUMENT = "bid.document.read"
    VIEW_OPENING = "opening.view"
    SIGN_IN = "opening.sign_in"
    DECRYPT_BID = "opening.decrypt"
    SUBMIT_SHARE = "opening.share"
    PAUSE_OPENING = "opening.pause"
    RESUME_OPENING = "opening.resume"
    PUBLISH_RECORD = "opening.record"
    CONFIRM_RECORD = "opening.confirm"
    OBJECT_RECORD = "opening.object"
    ANSWER_OBJECTION = "opening.answer"
    SEND_MESSAGE = "opening.message"
    CLOSE_OPENING = "opening.close"
    START_EVALUATION = "evaluation.start"
    DRAW_EXPERTS = "evaluation.draw"
    REPLACE_MEMBER = "evaluation.replace"
    VIEW_PROGRESS = "evaluation.progress"
    ACT_IN_ROOM = "evaluation.act"
    VIEW_ROOM = "evaluation.room"
    ANSWER_CLARIFICATION = "evaluation.answer"
    VIEW_RESULT = "evaluation.result"
    LIST_STREAMS = "stream.list"
    VIEW_PRESENCE = "presence.view"
    PUBLISH_MEDIA = "media.publish"
    WATCH_MEDIA = "media.watch"
    READ_RECORDINGS = "media.recordings"
    RECORD_MEDIA = "media.record"


# Actions that change nothing. A supervisor may only ever be granted these.
READ_ONLY: Final = frozenset(
    {
        Action.LIST_PARTICIPANTS,
        Action.READ_SYSTEM_LOG,
        Action.LIST_TENDERS,
        Action.VIEW_TENDER,
        Action.READ_TENDER_LOG,
        Action.VERIFY_AUDIT,
        Action.VIEW_SEALED_LIST,
        Action.READ_BID_BOX,
        Action.READ_BID_DOCUMENT,
        Action.VIEW_OPENING,
        Action.VIEW_PROGRESS,
        Action.VIEW_ROOM,
        Action.VIEW_RESULT,
        Action.LIST_STREAMS,
        Action.VIEW_PRESENCE,
        Action.WATCH_MEDIA,
        Action.READ_RECORDINGS,
    }
)

# The people: every role but another node, which is granted its reads by name below.
_EVERYONE: Final = frozenset(Role) - {Role.NODE}
# Another node of the deployment reads every stream in full to keep its replica
# (docs/sites.md 7), and nothing else: no view, no act.
_NODE: Final = frozenset({Role.NODE})

PERMISSIONS: Final[Mapping[Action, frozenset[Role]]] = MappingProxyType(
    {
        Action.ENROLL_PARTICIPANT: frozenset({Role.ADMIN}),
        Action.LIST_PARTICIPANTS: frozenset({Role.ADMIN, Role.SUPERVISOR}),
        Action.READ_SYSTEM_LOG: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.NODE}),
        Action.CREATE_TENDER: frozenset({Role.HOST}),
        Action.PUBLISH_TENDER: frozenset({Role.HOST}),
        Action.CANCEL_TENDER: frozenset({Role.HOST}),
        Action.START_OPENING: frozenset({Role.HOST}),
        Action.LIST_TENDERS: _EVERYONE - {Role.ADMIN},
        Action.VIEW_TENDER: _EVERYONE - {Role.ADMIN},
        Action.READ_TENDER_LOG: (_EVERYONE - {Role.ADMIN}) | _NODE,
        Action.VERIFY_AUDIT: frozenset({Role.SUPERVISOR, Role.ADMIN}),
        Action.SUBMIT_BID: frozenset({Role.BIDDER}),
        Action.WITHDRAW_BID: frozenset({Role.BIDDER}),
        Action.VIEW_SEALED_LIST: _EVERYONE - {Role.ADMIN},
        # Before the deadline only supervisors may know who bid (E-Measures 21).
        Action.READ_BID_BOX: frozenset({Role.SUPERVISOR, Role.NODE}),
        # Decrypted bids go to the committee (with its tender scope) and to supervisors.
        Action.READ_BID_DOCUMENT: frozenset({Role.SUPERVISOR, Role.EXPERT}),
        # Experts may not attend the opening (GP87 40).
        Action.VIEW_OPENING: _EVERYONE - {Role.ADMIN, Role.EXPERT},
        Action.SIGN_IN: frozenset({Role.BIDDER}),
        Action.DECRYPT_BID: frozenset({Role.BIDDER}),
        Action.SUBMIT_SHARE: frozenset({Role.CUSTODIAN}),
        Action.PAUSE_OPENING: frozenset({Role.HOST}),
        Action.RESUME_OPENING: frozenset({Role.HOST}),
        Action.PUBLISH_RECORD: frozenset({Role.HOST}),
        Action.CONFIRM_RECORD: frozenset({Role.BIDDER}),
        Action.OBJECT_RECORD: frozenset({Role.BIDDER}),
        Action.ANSWER_OBJECTION: frozenset({Role.HOST}),
        # The message box between the host and the bidders of the opening (on record).
        Action.SEND_MESSAGE: frozenset({Role.HOST, Role.BIDDER}),
        Action.CLOSE_OPENING: frozenset({Role.HOST}),
        Action.START_EVALUATION: frozenset({Role.HOST}),
        # The host asks for the draw and sees the room's progress, never who sits in it.
        Action.DRAW_EXPERTS: frozenset({Role.HOST}),
        Action.REPLACE_MEMBER: frozenset({Role.HOST}),
        Action.VIEW_PROGRESS: frozenset({Role.HOST, Role.SUPERVISOR}),
        # Only experts act in a room (and only its members: the service checks); supervisors
        # watch it (GP87 66).
        Action.ACT_IN_ROOM: frozenset({Role.EXPERT}),
        Action.VIEW_ROOM: frozenset({Role.EXPERT, Role.SUPERVISOR}),
        Action.ANSWER_CLARIFICATION: frozenset({Role.BIDDER}),
        Action.VIEW_RESULT: _EVERYONE - {Role.ADMIN},
        Action.LIST_STREAMS: _NODE,
        # Who is online where, by name: experts' names are confidential until the result.
        Action.VIEW_PRESENCE: frozenset({Role.SUPERVISOR, Role.ADMIN}),
        # Live media (docs/media.md 2): the host's desk at the opening, each expert's
        # workstation in its room; which room and source is the media rules' to say.
        Action.PUBLISH_MEDIA: frozenset({Role.HOST, Role.EXPERT}),
        # Another node watches a source for its own watchers (docs/media.md section 9).
        Action.WATCH_MEDIA: (_EVERYONE - {Role.ADMIN}) | _NODE,
        # Recordings are evidence: supervisors retrieve them (GP87 39).
        Action.READ_RECORDINGS: frozenset({Role.SUPERVISOR}),
        # What a node records of the media it received: sessions, segments, the spoken 唱标.
        Action.RECORD_MEDIA: _NODE,
    }
)

ALL_TENDERS: Final = "*"
EVERY_ROLE: Final = frozenset(role.value for role in Role)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, from where, and over which tenders (`*` for all).

    `address` is the client's network address, recorded; `site` is the site of the node the
    request arrived at (docs/sites.md), which binds an expert's workstation to its venue.
    """

    id: str
    role: Role
    address: str
    scopes: frozenset[str] = field(default_factory=lambda: frozenset({ALL_TENDERS}))
    site: str = ""

    def audiences(self) -> frozenset[str]:
        """The visibility audiences this actor belongs to.

        Another node belongs to every role's audience, so it reads every record: each record
        names supervisors (domain/events.py), and records meant for one participant name them
        too. No event names the node role itself: audiences stay named per event.
        """
        if self.role is Role.NODE:
            return EVERY_ROLE
        return frozenset({self.role.value, participant_audience(self.id)})

    def covers(self, tender_id: str) -> bool:
        return ALL_TENDERS in self.scopes or tender_id in self.scopes


def participant_audience(participant_id: str) -> str:
    return f"participant:{participant_id}"


def authorize(actor: Actor, action: Action, tender_id: str | None = None) -> None:
    """Raise AccessDenied or OutOfScope unless the table and the token allow the action."""
    if actor.role not in PERMISSIONS[action]:
        raise AccessDenied(f"The {actor.role} role may not perform {action}.")
    if tender_id is not None and not actor.covers(tender_id):
        raise OutOfScope(f"This session does not cover tender {tender_id}.")
