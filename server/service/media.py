"""Live media on the command path (docs/media.md): grants, the node's media records, and
the recordings as the log lists them.

The media itself (peer connections, encoding, files) is server/media/'s; what is decided and
recorded passes here, as every command does: a grant is a command of the participant who asks
(`media.publish`, `media.watch`), decided by the tender's home and on record; what a node
records of the media it received (sessions ended, segments, the spoken 唱标) is a command of
that node (`media.record`), so an edge's records reach the home like any other command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from server.domain.access import Action, Actor, Role
from server.domain.catalogue import decode_event
from server.domain.media import Direction, MediaRequest, grant
from server.domain.media_events import (
    RecordingRead,
    RecordingsExpired,
    RecordSpoken,
    SegmentClosed,
    SegmentCut,
    SessionEnded,
)
from server.errors import BadRequest, NotFound
from server.protocol.fields import InvalidFields, Problem, Reader
from server.protocol.times import format_time

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime

    from recordings.audit import AuditRecord
    from server.clock import Clock
    from server.domain.events import DomainEvent
    from server.service.commands import Pipeline
    from server.service.participants import Participants
    from server.storage.base import EventStore

# The events a node records of its own media, by type: nothing else passes `media.record`.
NODE_RECORDS: Final[Mapping[str, type[DomainEvent]]] = {
    cls.TYPE: cls
    for cls in (SessionEnded, SegmentClosed, SegmentCut, RecordingsExpired, RecordSpoken)
}
ROOM_PATTERN: Final = re.compile(r"opening|[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SOURCE_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SESSION_PATTERN: Final = re.compile(r"m-[A-Za-z0-9_-]{8,32}")
SEGMENT_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,300}")
# Pages read when listing a tender's recordings from its log.
_PAGE: Final = 1000


@dataclass(frozen=True, slots=True)
class Granted:
    """A media session granted on record: its id and the source the rules named."""

    session: str
    room: str
    source: str

    def to_json(self) -> dict[str, str]:
        return {"session": self.session, "room": self.room, "source": self.source}


@dataclass(frozen=True, slots=True)
class Recording:
    """One segment as the log lists it."""

    name: str
    room: str
    source: str
    track: str
    sha256: str
    size: int
    duration_ms: int
    started: datetime
    ended: datetime
    complete: bool
    node: str
    expired: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "room": self.room,
            "source": self.source,
            "track": self.track,
            "sha256": self.sha256,
            "size": self.size,
            "duration_ms": self.duration_ms,
            "started": format_time(self.started),
            "ended": format_time(self.ended),
            "complete": self.complete,
            "node": self.node,
            "expired": self.expired,
        }


def media_body(
    session: str, room: str, source: str, *, live: bool
) -> dict[str, object]:  # fmt: skip
    """The body of a grant command, as the node that received the request builds it."""
    return {"session": session, "room": room, "source": source, "live": live}


def record_body(event: DomainEvent) -> dict[str, object]:
    """The body of a `media.record` command carrying `event`."""
    return {"type": event.TYPE, "payload": event.payload()}


class MediaRecords:
    """The media's use cases on the command path."""

    def __init__(
        self, pipeline: Pipeline, store: EventStore, clock: Clock, participants: Participants,
        site: str,
    ) -> None:  # fmt: skip
        self._pipeline = pipeline
        self._store = store
        self._clock = clock
        self._participants = participants
        self._site = site

    async def grant(
        self, actor: Actor, action: Action, tender_id: str, body: object
    ) -> Granted:  # fmt: skip
        """Decide and record a publish or watch request (docs/media.md section 2)."""
        direction = Direction.PUBLISH if action is Action.PUBLISH_MEDIA else Direction.WATCH
        arrival = await self._participants.arrival(actor.site, self._site)

        def parse() -> MediaRequest:
            reader = Reader(body)
            session = reader.text("session", max_len=40, pattern=SESSION_PATTERN)
            room = reader.text("room", max_len=64, pattern=ROOM_PATTERN)
            source = reader.text("source", max_len=64, min_len=0)
            live = reader.boolean("live")
            if source and not SOURCE_PATTERN.fullmatch(source):
                reader.problem("source", f"must match {SOURCE_PATTERN.pattern}")
            reader.finish()
            return MediaRequest(
                session, direction, room, source, live, actor.id, actor.role, actor.site,
                _node_of(actor),
            )  # fmt: skip

        def decide(tender: Any, now: datetime, request: MediaRequest) -> list[DomainEvent]:
            return [grant(tender, request, arrival, now)]

        records, request = await self._pipeline.run(actor, action, tender_id, parse, decide)
        source = str(records[0].payload["source"])
        return Granted(request.session, request.room, source)

    async def record(self, actor: Actor, tender_id: str, body: object) -> dict[str, int]:
        """Record what a node says of its own media: one of `NODE_RECORDS`."""
        await self._pipeline.authorize(actor, Action.RECORD_MEDIA, tender_id)

        def parse() -> DomainEvent:
            reader = Reader(body)
            kind = reader.text("type", max_len=64)
            payload = reader.raw("payload", "an object")
            if kind and kind not in NODE_RECORDS:
                reader.problem("type", f"must be one of {sorted(NODE_RECORDS)}")
            if payload is not None and not isinstance(payload, dict):
                reader.problem("payload", "must be an object")
            reader.finish()
            try:
                return decode_event(kind, cast("dict[str, Any]", payload))
            except (KeyError, TypeError, ValueError) as exc:
                problem = Problem("payload", f"is not a {kind} payload ({exc})")
                raise InvalidFields([problem]) from None

        event = await self._pipeline.parse(actor, tender_id, Action.RECORD_MEDIA, parse)
        records = await self._pipeline.decide_on_tender(
            actor, Action.RECORD_MEDIA, tender_id, lambda tender, now: [event]
        )
        return {"seq": records[-1].seq}

    async def recordings(self, actor: Actor, tender_id: str) -> list[Recording]:
        """Every segment the tender's log lists, for supervisors (docs/media.md section 7)."""
        await self._pipeline.authorize(actor, Action.READ_RECORDINGS, tender_id)
        await self._pipeline.visible(actor, tender_id)
        return await self.listed(tender_id)

    async def listed(self, tender_id: str) -> list[Recording]:
        """The segments of the tender's log, in the order they were recorded."""
        found: dict[str, Recording] = {}
        after = 0
        while True:
            page = await self._store.read(tender_id, after, _PAGE)
            for record in page:
                _fold(found, record)
            if len(page) < _PAGE:
                return list(found.values())
            after = page[-1].seq

    async def read(
        self, actor: Actor, tender_id: str, name: str, span: str
    ) -> Recording:  # fmt: skip
        """A supervisor's fetch of a segment (or a byte range of it), recorded before it starts."""
        await self._pipeline.authorize(actor, Action.READ_RECORDINGS, tender_id)
        await self._pipeline.visible(actor, tender_id)
        if not SEGMENT_PATTERN.fullmatch(name) or ".." in name.split("/"):
            raise BadRequest("That is not the name of a recording segment.")
        found = {r.name: r for r in await self.listed(tender_id)}.get(name)
        if found is None:
            raise NotFound(f"Tender {tender_id} has no recording {name}.")
        event = RecordingRead(name, actor.id, span[:100], self._clock.now())
        await self._pipeline.decide_on_tender(
            actor, Action.READ_RECORDINGS, tender_id, lambda tender, now: [event]
        )
        return found


def _node_of(actor: Actor) -> str:
    """The node a request came in at: its site names it for people; records name the site."""
    return actor.site or "local"


def recordings_of(records: Iterable[AuditRecord]) -> list[Recording]:
    """The segments a tender's records list, in the order they were recorded: what `listed`
    gives, for readers of a stored log (the offline `bidroom recordings` commands)."""
    found: dict[str, Recording] = {}
    for record in records:
        _fold(found, record)
    return list(found.values())


def _fold(found: dict[str, Recording], record: AuditRecord) -> None:
    if record.type in (SegmentClosed.TYPE, SegmentCut.TYPE):
        event = decode_event(record.type, record.payload)
        if isinstance(event, SegmentClosed | SegmentCut):
            found[event.name] = Recording(
                event.name, event.room, event.source, event.track, event.sha256, event.size,
                event.duration_ms, event.started, event.ended,
                isinstance(event, SegmentClosed), event.node,
            )  # fmt: skip
    elif record.type == RecordingsExpired.TYPE:
        for name in record.payload.get("names", ()):
            old = found.get(str(name))
            if old is not None:
                found[old.name] = Recording(
                    old.name, old.room, old.source, old.track, old.sha256, old.size,
                    old.duration_ms, old.started, old.ended, old.complete, old.node,
                    expired=True,
                )  # fmt: skip


def node_actor(node_id: str, site: str) -> Actor:
    """The node itself, as the actor of the media records it makes."""
    return Actor(node_id, Role.NODE, "local", site=site)


def listed_names(recordings: Sequence[Recording]) -> dict[str, str]:
    """Segment name -> logged SHA-256, for the recordings that should be on disk."""
    return {r.name: r.sha256 for r in recordings if not r.expired}
