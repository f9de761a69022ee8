"""Domain events: what happened, its payload, and who may see it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

from recordings.vocabulary import EventType
from server.domain.access import Role
from server.protocol import SYSTEM_STREAM, box_tender
from server.protocol.times import format_time, parse_time

if TYPE_CHECKING:
    from datetime import datetime

# Visibility audiences are role names and `participant:<id>`; supervisors are in every set.
PUBLIC: Final = frozenset(role.value for role in Role)
# Experts may not attend the opening (GP87 40); they get the opening record in their room.
OPENING_AUDIENCE: Final = PUBLIC - {Role.EXPERT.value}
STAFF: Final = frozenset({Role.HOST.value, Role.SUPERVISOR.value})
OVERSIGHT: Final = frozenset({Role.SUPERVISOR.value})
NODE_ADMIN: Final = frozenset({Role.ADMIN.value, Role.SUPERVISOR.value})

Payload = Mapping[str, Any]


class DomainEvent:
    """Base of every event. Subclasses are frozen dataclasses with a TYPE and a VISIBILITY."""

    TYPE: ClassVar[str]
    VISIBILITY: ClassVar[frozenset[str]]
    registry: ClassVar[dict[str, type[DomainEvent]]] = {}

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "TYPE" in cls.__dict__:
            DomainEvent.registry[cls.TYPE] = cls

    def payload(self) -> dict[str, Any]:
        raise NotImplementedError

    def visibility(self) -> frozenset[str]:
        return self.VISIBILITY

    @classmethod
    def from_payload(cls, payload: Payload) -> Self:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Marker(DomainEvent):
    """An event whose only content is the moment it marks."""

    at: datetime

    def payload(self) -> dict[str, Any]:
        return {"at": format_time(self.at)}

    @classmethod
    def from_payload(cls, payload: Payload) -> Self:
        return cls(parse_time(payload["at"]))


def decode_event(event_type: str, payload: Payload) -> DomainEvent | None:
    """Rebuild a domain event from the log; None for types the fold does not use."""
    cls = DomainEvent.registry.get(event_type)
    return None if cls is None else cls.from_payload(payload)


@dataclass(frozen=True, slots=True)
class CommandRejected(DomainEvent):
    """A command was refused by a rule. Kept in the log: refusals are operations too."""

    TYPE: ClassVar[str] = EventType.COMMAND_REJECTED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    command: str
    rule: str
    reason: str

    def payload(self) -> dict[str, Any]:
        return {"command": self.command, "rule": self.rule, "reason": self.reason}

    @classmethod
    def from_payload(cls, payload: Payload) -> Self:
        return cls(payload["command"], payload["rule"], payload["reason"])


@dataclass(frozen=True, slots=True)
class AccessThrottled(DomainEvent):
    """An actor passed the limit of refused requests; further refusals go unrecorded a while."""

    TYPE: ClassVar[str] = EventType.ACCESS_THROTTLED
    VISIBILITY: ClassVar[frozenset[str]] = NODE_ADMIN
    limit: int
    window_seconds: int

    def payload(self) -> dict[str, Any]:
        return {"limit": self.limit, "window_seconds": self.window_seconds}

    @classmethod
    def from_payload(cls, payload: Payload) -> Self:
        return cls(payload["limit"], payload["window_seconds"])


@dataclass(frozen=True, slots=True)
class AccessRefused(DomainEvent):
    """The role x action table (or the token's scope) refused a request."""

    TYPE: ClassVar[str] = EventType.ACCESS_DENIED
    VISIBILITY: ClassVar[frozenset[str]] = NODE_ADMIN
    action: str
    rule: str
    reason: str

    def payload(self) -> dict[str, Any]:
        return {"action": self.action, "rule": self.rule, "reason": self.reason}

    @classmethod
    def from_payload(cls, payload: Payload) -> Self:
        return cls(payload["action"], payload["rule"], payload["reason"])


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

    def payload(self) -> dict[str, Any]:
        return {"tree_head": dict(self.tree_head), "signature": self.signature}

    @classmethod
    def from_payload(cls, payload: Payload) -> Self:
        return cls(dict(payload["tree_head"]), payload["signature"])

    def visibility(self) -> frozenset[str]:
        stream = str(self.tree_head["stream"])
        if stream == SYSTEM_STREAM:
            return NODE_ADMIN
        return OVERSIGHT if box_tender(stream) is not None else PUBLIC
