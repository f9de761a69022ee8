"""The participant registry: enrolled identities with their role and public key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

from recordings.vocabulary import EventType
from server.domain.access import Role
from server.domain.codec import INLINE, key
from server.domain.errors import DuplicateParticipant, DuplicatePublicKey
from server.domain.events import NODE_ADMIN, DomainEvent
from server.protocol.fields import Reader

if TYPE_CHECKING:
    from collections.abc import Mapping

# A person's id, or another node's (its node id, `n-` and 16 hex digits of its key's hash).
PARTICIPANT_ID: Final = re.compile(r"p-[a-z0-9]{4,32}|n-[0-9a-f]{16}")
# The attribute that names the site another node serves (docs/sites.md): its workstations act
# through it.
SITE: Final = "site"
_ATTRIBUTE_KEY: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_ATTRIBUTES: Final = 16


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    role: Role
    name: str
    public_key: str  # text form, `ed25519:<base64url>`
    attributes: Mapping[str, str] = field(default_factory=dict)
    encryption_key: str | None = None  # `x25519:<base64url>`; custodians must have one

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role.value,
            "name": self.name,
            "public_key": self.public_key,
            "encryption_key": self.encryption_key,
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        return cls(
            id=document["id"],
            role=Role(document["role"]),
            name=document["name"],
            public_key=document["public_key"],
            attributes=dict(document["attributes"]),
            encryption_key=document.get("encryption_key"),
        )


@dataclass(frozen=True, slots=True)
class Enrolment:
    """An enrolment request as the admin sends it, validated."""

    role: Role
    name: str
    public_key: str
    attributes: Mapping[str, str]
    encryption_key: str | None = None

    @classmethod
    def parse(cls, document: object) -> Self:
        root = Reader(document)
        enrolment = cls(
            role=root.choice("role", Role) or Role.PUBLIC,
            name=root.text("name"),
            public_key=root.text("public_key", max_len=100),
            attributes=(
                root.text_map("attributes", key_pattern=_ATTRIBUTE_KEY, max_items=MAX_ATTRIBUTES)
                if root.optional("attributes")
                else {}
            ),
            encryption_key=root.optional_text("encryption_key", max_len=100),
        )
        if enrolment.role is Role.CUSTODIAN and enrolment.encryption_key is None:
            root.problem(
                "encryption_key", "a custodian needs an X25519 encryption key (x25519:...)"
            )
        root.finish()
        return enrolment


@dataclass(frozen=True, slots=True)
class ParticipantEnrolled(DomainEvent):
    TYPE: ClassVar[str] = EventType.PARTICIPANT_ENROLLED
    # Expert names are confidential (Law 37): only the admin and supervisors see enrolments.
    VISIBILITY: ClassVar[frozenset[str]] = NODE_ADMIN
    participant: Participant = field(metadata=INLINE)


@dataclass(frozen=True, slots=True)
class ParticipantLoggedIn(DomainEvent):
    TYPE: ClassVar[str] = EventType.PARTICIPANT_LOGGED_IN
    VISIBILITY: ClassVar[frozenset[str]] = NODE_ADMIN
    participant_id: str = field(metadata=key("participant"))
    role: Role


class Registry:
    """All enrolled participants, folded from the node's system log."""

    def __init__(self) -> None:
        self._by_id: dict[str, Participant] = {}
        self._by_key: dict[str, str] = {}
        self._node_sites: set[str] = set()

    def get(self, participant_id: str) -> Participant | None:
        return self._by_id.get(participant_id)

    def all(self) -> list[Participant]:
        return list(self._by_id.values())

    def node_sites(self) -> frozenset[str]:
        """The sites of the other nodes enrolled here (their `site` attribute)."""
        return frozenset(self._node_sites)

    def enroll(self, participant_id: str, enrolment: Enrolment) -> list[DomainEvent]:
        if participant_id in self._by_id:
            raise DuplicateParticipant(f"Participant id {participant_id} is taken.")
        if enrolment.public_key in self._by_key:
            raise DuplicatePublicKey(
                f"That public key already identifies {self._by_key[enrolment.public_key]}."
            )
        participant = Participant(
            participant_id,
            enrolment.role,
            enrolment.name,
            enrolment.public_key,
            dict(enrolment.attributes),
            enrolment.encryption_key,
        )
        return [ParticipantEnrolled(participant)]

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, ParticipantEnrolled):
            participant = event.participant
            self._by_id[participant.id] = participant
            self._by_key[participant.public_key] = participant.id
            if participant.role is Role.NODE and SITE in participant.attributes:
                self._node_sites.add(participant.attributes[SITE])
