"""The events of live media and its recordings (docs/media.md).

Media events name experts and workstations together, so most are for supervisors only; the
spoken 唱标 is for everyone who may see the record it reads out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from recordings.vocabulary import EventType
from server.domain.events import OPENING_AUDIENCE, OVERSIGHT, DomainEvent

if TYPE_CHECKING:
    from datetime import datetime


@dataclass(frozen=True, slots=True)
class SessionStarted(DomainEvent):
    """A media session was granted: who publishes or watches which source, where."""

    TYPE: ClassVar[str] = EventType.MEDIA_SESSION_STARTED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    session: str
    direction: str  # "publish" or "watch"
    room: str
    source: str
    participant: str
    role: str
    site: str
    node: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SessionEnded(DomainEvent):
    """A media session ended, and why (docs/media.md section 3)."""

    TYPE: ClassVar[str] = EventType.MEDIA_SESSION_ENDED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    session: str
    reason: str
    packets: int
    at: datetime


@dataclass(frozen=True, slots=True)
class _Segment(DomainEvent):
    """What the log holds of a recording segment (docs/spec/recordings.md)."""

    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    name: str
    room: str
    source: str
    track: str
    index: int
    sha256: str
    size: int
    duration_ms: int
    started: datetime
    ended: datetime
    packets: int
    codec: str
    node: str


@dataclass(frozen=True, slots=True)
class SegmentClosed(_Segment):
    """A recording segment is complete on disk; its hash puts the media under the log."""

    TYPE: ClassVar[str] = EventType.MEDIA_SEGMENT_CLOSED


@dataclass(frozen=True, slots=True)
class SegmentCut(_Segment):
    """A segment was being written when its node stopped; found and hashed at restart."""

    TYPE: ClassVar[str] = EventType.MEDIA_SEGMENT_CUT


@dataclass(frozen=True, slots=True)
class RecordingRead(DomainEvent):
    """A supervisor fetched (part of) a segment; recorded before the bytes go out."""

    TYPE: ClassVar[str] = EventType.MEDIA_RECORDING_READ
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    name: str
    participant: str
    range: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RecordingsExpired(DomainEvent):
    """Segments past their retention were removed from the node's disk."""

    TYPE: ClassVar[str] = EventType.MEDIA_RECORDINGS_EXPIRED
    VISIBILITY: ClassVar[frozenset[str]] = OVERSIGHT
    names: tuple[str, ...]
    node: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RecordSpoken(DomainEvent):
    """The opening record was read out by the node's voice (or could not be, and why).

    `text_sha256` is over the UTF-8 text built from the record alone, so anyone holding the
    record can rebuild the text and check it; `audio_sha256` is over the s16 PCM spoken.
    """

    TYPE: ClassVar[str] = EventType.OPENING_RECORD_SPOKEN
    VISIBILITY: ClassVar[frozenset[str]] = OPENING_AUDIENCE | OVERSIGHT
    record_hash: str
    spoken: bool
    text_sha256: str
    audio_sha256: str
    duration_ms: int
    engine: str
    voice: str
    reason: str
    at: datetime
