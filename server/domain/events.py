"""Domain events: what happened, its payload, and who may see it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

from recordings.vocabulary import EventType
from server.domain.access import Role
from server.domain.codec import Codec
from server.protocol import SYSTEM_STREAM, box_tender

if TYPE_CHECKING:
    from datetime import datetime

# Visibility audiences are role names and `participant:<id>`; supervisors are in every set.
# Each audience names its roles: a role added later sees nothing until an audience names it.
PUBLIC: Final = frozenset(
    {
        Role.ADMIN.value,
        Role.HOST.value,
        Role.BIDDER.value,
        Role.EXPERT.value,
        Role.SUPERVISOR.value,
        Role.CUSTODIAN.value,
        Role.PUBLIC.value,
    }
)
# Experts may not attend the opening (GP87 40); they get the opening record in their room.
OPENING_AUDIENCE: Final = frozenset(
    {
        Role.ADMIN.value,
        Role.HOST.value,
        Role.BIDDER.value,
        Role.SUPERVISOR.value,
        Role.CUSTODIAN.value,
        Role.PUBLIC.value,
    }
)
STAFF: Final = frozenset({Role.HOST.value, Role.SUPERVISOR.value})
OVERSIGHT: Final = frozenset({Role.SUPERVISOR.value})
NODE_ADMIN: Final = frozenset({Role.ADMIN.value, Role.SUPERVISOR.value})

Payload = Mapping[str, Any]


class DomainEvent:
    """Base of every event: a frozen dataclass with a TYPE, a VISIBILITY and its payload.

    The payload is derived from the fields (server/domain/codec.py); every concrete event is
    listed in the catalogue (server/domain/catalogue.py), which is what the log is read with.
    """

    TYPE: ClassVar[str]
    VISIBILITY: ClassVar[frozenset[str]]

    def payload(self) -> dict[str, Any]:
        return codec_of(type(self)).encode(self)

    def visibility(self) -> frozenset[str]:
        return self.VISIBILITY

    @classmethod
    def from_payload(cls, payload: Payload) -> Self:
        event: Self = codec_of(cls).decode(payload)
        return event


_CODECS: dict[type[DomainEvent], Codec] = {}


def codec_of(cls: type[DomainEvent]) -> Codec:
    """The class's codec, built from its fields the first time it is needed."""
    codec = _CODECS.get(cls)
    if codec is None:
        codec = _CODECS[cls] = Codec(cls)
    return codec


@dataclass(frozen=True, slots=True)
class Marker(DomainEvent):
    """An event whose only content is the moment it marks."""

    at: datetime


@dataclass(frozen=True, slots=True)
class CommandRejected(DomainEvent):
    """A command was refused by a rule. Kept in the log: refusals are operations too."""

    TYPE: ClassVar[str] = EventType.COMMAND_REJECTED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    command: str
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class AccessThrottled(DomainEvent):
    """An actor passed the limit of refused requests; further refusals go unrecorded a while."""

    TYPE: ClassVar[str] = EventType.ACCESS_THROTTLED
    VISIBILITY: ClassVar[frozenset[str]] = NODE_ADMIN
    limit: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class AccessRefused(DomainEvent):
    """The role x action table (or the token's scope) refused a request."""

    TYPE: ClassVar[str] = EventType.ACCESS_DENIED
    VISIBILITY: ClassVar[frozenset[str]] = NODE_ADMIN
    action: str
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class TreeHeadSigned(DomainEvent):
    """The node's signed tree head over the first `size` records of a stream (audit-bundle.md).

    Seen by whoever reads the stream: everyone for a tender, supervisors for a bid box, the
    admin and supervisors for the system log.
    """

    TYPE: ClassVar[str] = EventType.AUDIT_TREE_HEAD
    VISIBILITY: ClassVar[frozenset[str]] = PUBLIC
    tree_head: Mapping[str, Any]
    signature: str

    def visibility(self) -> frozenset[str]:
        stream = str(self.tree_head["stream"])
        if stream == SYSTEM_STREAM:
            return NODE_ADMIN
        return OVERSIGHT if box_tender(stream) is not None else PUBLIC


@dataclass(frozen=True, slots=True)
class PresenceLeft(DomainEvent):
    """An expert's live connection to the tender closed (docs/sites.md section 8): at which
    site and node, when, and why. Who it was stays with supervisors, like the committee."""

    TYPE: ClassVar[str] = EventType.PRESENCE_LEFT
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    participant: str
    site: str
    node: str
    at: datetime
    reason: str
