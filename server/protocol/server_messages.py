"""Node-to-client messages (docs/protocol.md 3.2): one dataclass per kind, built by
`server_message_json` (events by `event_frame_text`) and read back by `parse_server_message`.

A new kind is a dataclass with its `KIND`, a member of `ServerMessage` and a row in the spec's
table; tests/server/transport/test_message_table.py checks that each one round-trips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from server.protocol.channel import PROTOCOL_VERSION, ProtocolError, message_text, parse_envelope

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


@dataclass(frozen=True, slots=True)
class Welcome:
    KIND: ClassVar[str] = "welcome"
    participant: str
    role: str
    expires_at: str
    server_time: str
    node: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Subscribed:
    KIND: ClassVar[str] = "subscribed"
    tender: str
    after_seq: int
    head_seq: int
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """Replay from the store is complete; what follows is live."""

    KIND: ClassVar[str] = "caught_up"
    tender: str
    seq: int


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    KIND: ClassVar[str] = "unsubscribed"
    tender: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Pong:
    KIND: ClassVar[str] = "pong"
    server_time: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Error:
    KIND: ClassVar[str] = "error"
    code: str
    message: str
    rule: str | None = None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Acked:
    """A signed act is on record, durably: the event's sequence number, hash and type."""

    KIND: ClassVar[str] = "ack"
    tender: str
    seq: int
    hash: str
    recorded: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class MediaAnswer:
    """A media session is granted: the node's complete SDP answer (docs/media.md section 3)."""

    KIND: ClassVar[str] = "media_answer"
    session: str
    room: str
    source: str
    sdp: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class MediaEnded:
    """A media session ended (docs/media.md section 3): why, in a word."""

    KIND: ClassVar[str] = "media_ended"
    session: str
    reason: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One audit-log event as the client sees it: the record and its chain hash."""

    KIND: ClassVar[str] = "event"
    record: dict[str, Any]
    hash: str

    @property
    def tender(self) -> str:
        return str(self.record["stream"])

    @property
    def seq(self) -> int:
        return int(self.record["seq"])

    @property
    def type(self) -> str:
        return str(self.record["type"])


ServerMessage = (
    Welcome | Subscribed | CaughtUp | Unsubscribed | Pong | Error | Acked | MediaAnswer
    | MediaEnded | Event
)  # fmt: skip
# Every kind but the event, which has its own builder.
Reply = (
    Welcome | Subscribed | CaughtUp | Unsubscribed | Pong | Error | Acked | MediaAnswer | MediaEnded
)


def server_message_json(message: Reply) -> str:
    """Serialize a node message other than an event (events use `event_frame_text`)."""
    return message_text(message)


def event_frame_text(record_json: str, record_hash: str) -> str:
    """The event message, built around the record's canonical JSON without re-encoding it."""
    return f'{{"v":{PROTOCOL_VERSION},"type":"event","hash":"{record_hash}","event":{record_json}}}'


def parse_server_message(text: str | bytes) -> ServerMessage:
    """Parse one node message (for clients); raise ProtocolError if it is not one."""
    document = parse_envelope(text)
    kind = document.pop("type", None)
    document.pop("v")
    if "id" in document:
        document["ref"] = document.pop("id")
    parse = SERVER_PARSERS.get(kind) if isinstance(kind, str) else None
    if parse is None:
        raise ProtocolError("unknown_type", f"Unknown message type {kind!r}.")
    return parse(document)


def _parse_event(document: dict[str, Any]) -> Event:
    record, digest = document.get("event"), document.get("hash")
    if not isinstance(record, dict) or not isinstance(digest, str):
        raise ProtocolError("invalid_message", "An event message needs `event` and `hash`.")
    return Event(record=record, hash=digest)


def _fields_of(cls: type[ServerMessage]) -> Callable[[dict[str, Any]], ServerMessage]:
    """The parser of a kind whose members are its dataclass fields, as `message_text` writes."""

    def parse(document: dict[str, Any]) -> ServerMessage:
        try:
            return cls(**document)
        except TypeError:
            raise ProtocolError("invalid_message", f"Malformed {cls.KIND} message.") from None

    return parse


SERVER_PARSERS: Final[Mapping[str, Callable[[dict[str, Any]], ServerMessage]]] = {
    Event.KIND: _parse_event,
    **{cls.KIND: _fields_of(cls) for cls in (Welcome, Subscribed, CaughtUp, Unsubscribed, Pong)},
    **{cls.KIND: _fields_of(cls) for cls in (Error, Acked, MediaAnswer, MediaEnded)},
}
