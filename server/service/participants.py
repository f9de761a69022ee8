"""Enrolling participants and finding them again; the registry lives in the system log."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, cast

from crypto import EncryptionPublicKey, KeyFormatError, VerifyKey
from server.domain.access import Action, Actor, Role
from server.domain.committee import Arrival
from server.domain.errors import RegistryError
from server.domain.participants import Enrolment, Participant, ParticipantLoggedIn, Registry
from server.protocol import SYSTEM_STREAM
from server.protocol.fields import InvalidFields, Problem
from server.service.ledger import Ledger, Origin
from server.service.node_keys import node_id

if TYPE_CHECKING:
    from server.clock import Clock
    from server.service.gate import Gate

# Another process (the offline CLI) may enrol while the node runs; look again at most this often.
REFRESH_INTERVAL: Final = timedelta(seconds=1)


class Participants:
    def __init__(self, ledger: Ledger, gate: Gate, clock: Clock) -> None:
        self._ledger = ledger
        self._gate = gate
        self._clock = clock
        self._refreshed_at: datetime | None = None

    async def registry(self) -> Registry:
        return cast("Registry", await self._ledger.load(SYSTEM_STREAM))

    async def arrival(self, site: str, here: str) -> Arrival:
        """Where a request at `site` came in, and the sites that have a node of their own:
        those of the enrolled nodes, and `here`, this node's (committee.Arrival)."""
        sites = (await self.registry()).node_sites()
        return Arrival(site, sites | {here} if here else sites)

    async def enroll(self, actor: Actor, document: object) -> Participant:
        """Enrol from an enrolment request (JSON); the role is checked before the body."""
        await self._gate.check(actor, Action.ENROLL_PARTICIPANT)
        command = Action.ENROLL_PARTICIPANT.value
        enrolment = await self._gate.parse(actor, None, command, lambda: _enrolment(document))
        participant_id = _new_id(enrolment)
        try:
            await self._ledger.execute(
                SYSTEM_STREAM,
                Origin.of(actor),
                lambda registry: cast("Registry", registry).enroll(participant_id, enrolment),
            )
        except RegistryError as exc:
            await self._gate.reject(actor, SYSTEM_STREAM, Action.ENROLL_PARTICIPANT.value, exc)
            raise
        found = (await self.registry()).get(participant_id)
        if found is None:  # pragma: no cover - emit applied the event
            raise RuntimeError("Enrolment was not applied.")
        return found

    async def find(self, participant_id: str) -> Participant | None:
        registry = await self.registry()
        participant = registry.get(participant_id)
        now = self._clock.now()
        if participant is None and (
            self._refreshed_at is None or now - self._refreshed_at >= REFRESH_INTERVAL
        ):
            self._refreshed_at = now
            registry = cast("Registry", await self._ledger.refresh(SYSTEM_STREAM))
            participant = registry.get(participant_id)
        return participant

    def node_key(self, node: str) -> VerifyKey | None:
        """The enrolled key of another node of the deployment, or None if `node` is not one.

        Synchronous, for token checks: it reads the registry as loaded (the node loads it at
        start, and enrolments through the node update it). A node enrolled meanwhile by the
        offline console is seen once the registry is next refreshed (a login does that).
        """
        registry = self._ledger.cached(SYSTEM_STREAM)
        found = registry.get(node) if isinstance(registry, Registry) else None
        if found is None or found.role is not Role.NODE:
            return None
        try:
            return VerifyKey.from_text(found.public_key)
        except KeyFormatError:  # pragma: no cover - enrolment checks the key
            return None

    async def list_all(self, actor: Actor) -> list[Participant]:
        await self._gate.check(actor, Action.LIST_PARTICIPANTS)
        return (await self.registry()).all()

    async def record_login(self, actor: Actor) -> None:
        event = ParticipantLoggedIn(actor.id, actor.role)
        await self._ledger.execute(SYSTEM_STREAM, Origin.of(actor), lambda _: [event])


def _new_id(enrolment: Enrolment) -> str:
    """A person gets a random id; another node is enrolled under its node id, derived from
    its key (docs/sites.md 1), so the tokens it issues name the participant that checks them."""
    if enrolment.role is Role.NODE:
        return node_id(VerifyKey.from_text(enrolment.public_key))
    return "p-" + secrets.token_hex(6)


def _enrolment(document: object) -> Enrolment:
    """The enrolment with its keys checked and written in their normal form."""
    enrolment = Enrolment.parse(document)
    problems = []
    public_key = enrolment.public_key
    try:
        public_key = VerifyKey.from_text(public_key).to_text()
    except KeyFormatError as exc:
        problems.append(Problem("public_key", str(exc)))
    encryption_key = enrolment.encryption_key
    if encryption_key is not None:
        try:
            parsed = EncryptionPublicKey.from_text(encryption_key)
            parsed.check_usable()
            encryption_key = parsed.to_text()
        except KeyFormatError as exc:
            problems.append(Problem("encryption_key", str(exc)))
    if problems:
        raise InvalidFields(problems)
    return replace(enrolment, public_key=public_key, encryption_key=encryption_key)
