"""Client-to-node messages (docs/protocol.md 3.1): one dataclass and one parser per kind.

A new kind is a dataclass with its `KIND`, a parser in `CLIENT_PARSERS`, a member of
`ClientMessage`, a handler in `server/transport/ws.py` and a row in the spec's table;
tests/server/transport/test_message_table.py checks that none is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from server.protocol.channel import ProtocolError, message_text, parse_envelope, ref_of
from server.protocol.fields import InvalidFields, Reader
from server.protocol.streams import MAX_SEQ, STREAM_PATTERN

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


@dataclass(frozen=True, slots=True)
class Auth:
    KIND: ClassVar[str] = "auth"
    token: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Subscribe:
    KIND: ClassVar[str] = "subscribe"
    tender: str
    after_seq: int = 0
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    KIND: ClassVar[str] = "unsubscribe"
    tender: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    KIND: ClassVar[str] = "ping"
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Act:
    """An expert's signed act for its room (docs/spec/evaluation.md section 3); `ack` follows."""

    KIND: ClassVar[str] = "act"
    tender: str
    document: dict[str, Any]
    signature: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class MediaPublish:
    """Publish this client's camera and microphone in a room (docs/media.md section 3)."""

    KIND: ClassVar[str] = "media_publish"
    tender: str
    room: str
    sdp: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class MediaWatch:
    """Watch one source of a room; the offer receives its video and audio."""

    KIND: ClassVar[str] = "media_watch"
    tender: str
    room: str
    source: str
    sdp: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class MediaClose:
    KIND: ClassVar[str] = "media_close"
    session: str
    ref: str | None = None


ClientMessage = Auth | Subscribe | Unsubscribe | Ping | Act | MediaPublish | MediaWatch | MediaClose


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Parse one client message or raise ProtocolError with a machine-readable code."""
    document = parse_envelope(text)
    kind = document.get("type")
    ref = ref_of(document)
    reader = Reader(document)
    reader.optional("v")
    reader.optional("type")
    reader.optional("id")
    parse = CLIENT_PARSERS.get(str(kind))
    if parse is None:
        raise ProtocolError("unknown_type", f"Unknown message type {kind!r}.", ref)
    try:
        message = parse(reader, ref)
        reader.finish()
    except InvalidFields as exc:
        raise ProtocolError("invalid_message", str(exc), ref) from None
    return message


def client_message_json(message: ClientMessage) -> str:
    """Serialize a client message (used by clients and tests)."""
    return message_text(message)


def _parse_auth(reader: Reader, ref: str | None) -> Auth:
    return Auth(token=reader.text("token", max_len=4096), ref=ref)


def _parse_subscribe(reader: Reader, ref: str | None) -> Subscribe:
    tender = reader.text("tender", max_len=64, pattern=STREAM_PATTERN)
    after = reader.integer("after_seq", low=0, high=MAX_SEQ) if reader.optional("after_seq") else 0
    return Subscribe(tender=tender, after_seq=after, ref=ref)


def _parse_unsubscribe(reader: Reader, ref: str | None) -> Unsubscribe:
    return Unsubscribe(tender=reader.text("tender", max_len=64, pattern=STREAM_PATTERN), ref=ref)


def _parse_ping(reader: Reader, ref: str | None) -> Ping:
    return Ping(ref=ref)


def _parse_act(reader: Reader, ref: str | None) -> Act:
    tender = reader.text("tender", max_len=64, pattern=STREAM_PATTERN)
    document = reader.raw("document", "an object")
    signature = reader.text("signature", max_len=128)
    if not isinstance(document, dict):
        reader.problem("document", "must be the signed act document (a JSON object)")
        document = {}
    return Act(tender=tender, document=document, signature=signature, ref=ref)


# Rooms and sources are names (docs/media.md section 1); an SDP offer is text, checked by
# the media layer (its size limit is a setting).
MEDIA_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MEDIA_SESSION: Final = re.compile(r"m-[A-Za-z0-9_-]{8,32}")
MAX_SDP_CHARS: Final = 60 * 1024
# SDP is lines ended by CRLF; no other control character belongs in it.
_SDP_UNWANTED: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _sdp(reader: Reader) -> str:
    value = reader.raw("sdp", "a string")
    if not isinstance(value, str):
        reader.problem("sdp", "must be a string")
    elif not 1 <= len(value) <= MAX_SDP_CHARS:
        reader.problem("sdp", f"must be 1 to {MAX_SDP_CHARS} characters long")
    elif _SDP_UNWANTED.search(value):
        reader.problem("sdp", "must hold SDP lines only, without other control characters")
    else:
        return value
    return ""


def _parse_publish(reader: Reader, ref: str | None) -> MediaPublish:
    tender = reader.text("tender", max_len=64, pattern=STREAM_PATTERN)
    room = reader.text("room", max_len=64, pattern=MEDIA_NAME)
    return MediaPublish(tender, room, _sdp(reader), ref=ref)


def _parse_watch(reader: Reader, ref: str | None) -> MediaWatch:
    tender = reader.text("tender", max_len=64, pattern=STREAM_PATTERN)
    room = reader.text("room", max_len=64, pattern=MEDIA_NAME)
    source = reader.text("source", max_len=64, pattern=MEDIA_NAME)
    return MediaWatch(tender, room, source, _sdp(reader), ref=ref)


def _parse_close(reader: Reader, ref: str | None) -> MediaClose:
    return MediaClose(reader.text("session", max_len=40, pattern=MEDIA_SESSION), ref=ref)


# The parser of each kind: it reads the fields (the envelope's are read already) and the
# message's `id`; `Reader.finish` then refuses any field left over.
CLIENT_PARSERS: Final[Mapping[str, Callable[[Reader, str | None], ClientMessage]]] = {
    Auth.KIND: _parse_auth,
    Subscribe.KIND: _parse_subscribe,
    Unsubscribe.KIND: _parse_unsubscribe,
    Ping.KIND: _parse_ping,
    Act.KIND: _parse_act,
    MediaPublish.KIND: _parse_publish,
    MediaWatch.KIND: _parse_watch,
    MediaClose.KIND: _parse_close,
}
