"""Who is online at which site (docs/sites.md section 8): the entry, the port a node keeps it
behind, and the port's twin in memory.

A node in a cluster keeps presence in Redis (server/sites/presence.py), where every node of
every site sees it. A node alone keeps it in memory (`LocalPresence`): it is the only node, so
its own connections are everyone who is online, and the view reads the same either way. Both
count connections per key: a participant with two connections stays until both have closed.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from server.domain.access import Action, Role
from server.domain.events import PresenceLeft
from server.domain.tender import Tender, TenderState
from server.protocol.times import format_time, parse_time
from server.service.ledger import Origin
from server.service.views import OnlineView, PresenceView

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from server.clock import Clock
    from server.domain.access import Actor
    from server.domain.events import DomainEvent
    from server.service.gate import Gate
    from server.service.ledger import Aggregate, Ledger

logger = logging.getLogger(__name__)

_FIELDS: Final = ("participant", "role", "site", "node", "tender", "workstation", "since")


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    """One participant online: with which role, at which site and node, in which tender and at
    which workstation (when it has one), since when."""

    participant: str
    role: str
    site: str
    node: str
    tender: str | None
    workstation: str | None
    since: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "participant": self.participant, "role": self.role, "site": self.site,
            "node": self.node, "tender": self.tender, "workstation": self.workstation,
            "since": format_time(self.since),
        }  # fmt: skip

    @classmethod
    def from_json(cls, document: object) -> PresenceEntry:
        """ValueError if `document` is not an entry."""
        if not isinstance(document, dict) or set(document) != set(_FIELDS):
            raise ValueError("A presence entry has exactly the fields " + ", ".join(_FIELDS))
        texts = {name: document[name] for name in ("participant", "role", "site", "node")}
        optional = {name: document[name] for name in ("tender", "workstation")}
        since = document["since"]
        if not all(isinstance(value, str) for value in texts.values()):
            raise ValueError("A presence entry names its participant, role, site and node.")
        if not all(value is None or isinstance(value, str) for value in optional.values()):
            raise ValueError("A presence entry's tender and workstation are text or null.")
        if not isinstance(since, str):
            raise ValueError("A presence entry says since when, as a timestamp.")
        return cls(**texts, **optional, since=parse_time(since))


class PresencePort(Protocol):
    """Where a node keeps who is online. Entering and leaving never fail for the caller (a
    link down only delays what others see); `online` may raise LinkDown."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def enter(self, key: str, entry: PresenceEntry) -> None: ...

    async def update(self, key: str, tender: str | None) -> None: ...

    async def leave(self, key: str) -> None: ...

    async def online(self) -> list[PresenceEntry]: ...


class LocalPresence:
    """Presence of a node alone, in memory: the same counting as the one in Redis."""

    def __init__(self) -> None:
        self._held: dict[str, PresenceEntry] = {}
        self._connections: dict[str, int] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._held, self._connections = {}, {}

    async def enter(self, key: str, entry: PresenceEntry) -> None:
        self._connections[key] = self._connections.get(key, 0) + 1
        self._held[key] = entry

    async def update(self, key: str, tender: str | None) -> None:
        held = self._held.get(key)
        if held is not None:
            self._held[key] = dataclasses.replace(held, tender=tender)

    async def leave(self, key: str) -> None:
        count = self._connections.get(key, 0) - 1
        if count > 0:
            self._connections[key] = count
            return
        self._connections.pop(key, None)
        self._held.pop(key, None)

    async def online(self) -> list[PresenceEntry]:
        return sorted(
            self._held.values(), key=lambda entry: (entry.site, entry.participant, entry.node)
        )


class Attendance:
    """A node's side of presence: its live connections enter and leave `port`; supervisors
    read who is online; an expert's connection closing is recorded in the tender's log.

    The transport calls these through the node (server/service/node.py); on an edge, the
    record of a departure is made by the home (`Node.left`).
    """

    def __init__(
        self, port: PresencePort, ledger: Ledger, gate: Gate, clock: Clock, node: str, site: str
    ) -> None:
        self.port = port
        self._ledger = ledger
        self._gate = gate
        self._clock = clock
        self._node = node
        self._site = site

    async def enter(self, actor: Actor) -> None:
        entry = PresenceEntry(
            actor.id, actor.role.value, self._site, self._node, None, None, self._clock.now()
        )
        await self.port.enter(actor.id, entry)

    async def follows(self, actor: Actor, tender: str) -> None:
        await self.port.update(actor.id, tender)

    async def leave(self, actor: Actor) -> None:
        await self.port.leave(actor.id)

    async def view(self, actor: Actor) -> PresenceView:
        """Everyone online at every site: names included, so for supervisors and the admin
        only (an expert's identity is confidential until the result is final)."""
        await self._gate.check(actor, Action.VIEW_PRESENCE)
        return PresenceView([_online(entry) for entry in await self.port.online()])

    async def record_left(self, actor: Actor, tender_id: str, node: str, reason: str) -> bool:
        """Record `presence.left` for an expert whose live connection to a tender under
        evaluation closed (at the node `node`); False if there was nothing to record."""
        if actor.role is not Role.EXPERT:
            return False
        at = self._clock.now()

        def decide(aggregate: Aggregate) -> Sequence[DomainEvent]:
            if not isinstance(aggregate, Tender):
                return []
            if aggregate.state is not TenderState.EVALUATING:
                return []
            return [PresenceLeft(actor.id, actor.site, node, at, reason[:200])]

        return bool(await self._ledger.execute(tender_id, Origin.of(actor), decide))


def _online(entry: PresenceEntry) -> OnlineView:
    return OnlineView(
        entry.participant, entry.role, entry.site, entry.node, entry.tender, entry.workstation,
        format_time(entry.since),
    )  # fmt: skip
