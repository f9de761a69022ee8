"""Who may do what: roles, actions, and the one table that joins them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from server.domain.errors import AccessDenied, OutOfScope

if TYPE_CHECKING:
    from collections.abc import Mapping


class Role(enum.StrEnum):
    ADMIN = "admin"  # platform administrator: enrols participants, reads the node log
    HOST = "host"  # trading-centre staff or agent running a tender
    BIDDER = "bidder"
    EXPERT = "expert"
    SUPERVISOR = "supervisor"  # watches everything, changes nothing
    CUSTODIAN = "custodian"  # holds a share of a tender's opening key
    PUBLIC = "public"  # read-only visitor of public openings


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


# Actions that change nothing. A supervisor may only ever be granted these.
READ_ONLY: Final = frozenset(
    {
        Action.LIST_PARTICIPANTS,
        Action.READ_SYSTEM_LOG,
        Action.LIST_TENDERS,
        Action.VIEW_TENDER,
        Action.READ_TENDER_LOG,
        Action.VERIFY_AUDIT,
    }
)

_EVERYONE: Final = frozenset(Role)

PERMISSIONS: Final[Mapping[Action, frozenset[Role]]] = MappingProxyType(
    {
        Action.ENROLL_PARTICIPANT: frozenset({Role.ADMIN}),
        Action.LIST_PARTICIPANTS: frozenset({Role.ADMIN, Role.SUPERVISOR}),
        Action.READ_SYSTEM_LOG: frozenset({Role.ADMIN, Role.SUPERVISOR}),
        Action.CREATE_TENDER: frozenset({Role.HOST}),
        Action.PUBLISH_TENDER: frozenset({Role.HOST}),
        Action.CANCEL_TENDER: frozenset({Role.HOST}),
        Action.START_OPENING: frozenset({Role.HOST}),
        Action.LIST_TENDERS: _EVERYONE - {Role.ADMIN},
        Action.VIEW_TENDER: _EVERYONE - {Role.ADMIN},
        Action.READ_TENDER_LOG: _EVERYONE - {Role.ADMIN},
        Action.VERIFY_AUDIT: frozenset({Role.SUPERVISOR, Role.ADMIN}),
    }
)

ALL_TENDERS: Final = "*"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, from where, and over which tenders (`*` for all)."""

    id: str
    role: Role
    address: str
    scopes: frozenset[str] = field(default_factory=lambda: frozenset({ALL_TENDERS}))

    def audiences(self) -> frozenset[str]:
        """The visibility audiences this actor belongs to."""
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
