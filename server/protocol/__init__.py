"""Live-channel wire messages (protocol v1): frozen dataclasses, parse and serialize; pure.

Both the node and the clients import this module, so it must not import aiohttp or any I/O.
The format is specified in docs/protocol.md.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from crypto import MalformedJSON, SigningKey, b64url_encode, parse_json, sign
from server.protocol.fields import InvalidFields, Reader

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

PROTOCOL_VERSION: Final = 1
MAX_SEQ: Final = 2**53 - 1
# Tender ids and the reserved `system` stream share one shape.
STREAM_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_REF_PATTERN: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")
SYSTEM_STREAM: Final = "system"
# A tender's stream is its id; its bid box (sealed bids before the deadline) is a stream apart.
TENDER_ID_PATTERN: Final = re.compile(r"t-[0-9]{8}-[0-9a-f]{12}")
BOX_SUFFIX: Final = "-box"


def box_stream(tender_id: str) -> str:
    """The stream of a tender's bid box: only supervisors read it (see docs/architecture.md)."""
    return tender_id + BOX_SUFFIX


def box_tender(stream: str) -> str | None:
    """The tender whose bid box `stream` is, or None."""
    tender = stream.removesuffix(BOX_SUFFIX)
    return tender if tender != stream and TENDER_ID_PATTERN.fullmatch(tender) else None


def is_tender_stream(stream: str) -> bool:
    return TENDER_ID_PATTERN.fullmatch(stream) is not None


# The purpose label of the signature a client makes to answer a login challenge.
LOGIN_LABEL: Final = "login"


class CloseCode(enum.IntEnum):
    """WebSocket close codes the node uses (RFC 6455 section 7.4; 4000-4999 are ours)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    UNAUTHORIZED = 4001
    SLOW_CONSUMER = 4008


class ProtocolError(ValueError):
    """A client message that can't be acted on; the connection stays open."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.ref = ref


def login_document(challenge: Mapping[str, Any], client_time: str) -> dict[str, str]:
    """What a client signs (label `login`) to answer a challenge from POST /api/auth/challenge."""
    return {
        "type": "login",
        "challenge": str(challenge["challenge"]),
        "participant": str(challenge["participant"]),
        "nonce": str(challenge["nonce"]),
        "node": str(challenge["node"]),
        "time": client_time,
    }


def answer_challenge(
    challenge: Mapping[str, Any], key: SigningKey, client_time: str
) -> dict[str, str]:
    """The body of POST /api/auth/login: the challenge signed with the participant's key."""
    signature = sign(key, LOGIN_LABEL, login_document(challenge, client_time))
    return {
        "challenge": str(challenge["challenge"]),
        "participant": str(challenge["participant"]),
        "time": client_time,
        "signature": b64url_encode(signature),
    }


# Client to node.


@dataclass(frozen=True, slots=True)
class Auth:
    token: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Subscribe:
    tender: str
    after_seq: int = 0
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    tender: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Act:
    """An expert's signed act for its room (docs/spec/evaluation.md section 3); `ack` follows."""

    tender: str
    document: dict[str, Any]
    signature: str
    ref: str | None = None


ClientMessage = Auth | Subscribe | Unsubscribe | Ping | Act


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Parse one client message or raise ProtocolError with a machine-readable code."""
    document = _parse_envelope(text)
    kind = document.get("type")
    ref = _ref_of(document)
    reader = Reader(document)
    reader.optional("v")
    reader.optional("type")
    reader.optional("id")
    try:
        message = _CLIENT_PARSERS[str(kind)](reader, ref)
        reader.finish()
    except KeyError:
        raise ProtocolError("unknown_type", f"Unknown message type {kind!r}.", ref) from None
    except InvalidFields as exc:
        raise ProtocolError("invalid_message", str(exc), ref) from None
    return message


def _parse_envelope(text: str | bytes) -> dict[str, Any]:
    try:
        document = parse_json(text)
    except MalformedJSON as exc:
        raise ProtocolError("malformed_json", str(exc)) from None
    if not isinstance(document, dict):
        raise ProtocolError("invalid_message", "A message is a JSON object.")
    version = document.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ProtocolError(
            "unsupported_version",
            f"This node speaks protocol version {PROTOCOL_VERSION}; the message says {version!r}.",
            _ref_of(document),
        )
    return document


def _ref_of(document: dict[str, Any]) -> str | None:
    ref = document.get("id")
    return ref if isinstance(ref, str) and _REF_PATTERN.fullmatch(ref) else None


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


_CLIENT_PARSERS: Final[Mapping[str, Callable[[Reader, str | None], ClientMessage]]] = {
    "auth": _parse_auth,
    "act": _parse_act,
    "subscribe": _parse_subscribe,
    "unsubscribe": _parse_unsubscribe,
    "ping": _parse_ping,
}


def client_message_json(message: ClientMessage) -> str:
    """Serialize a client message (used by clients and tests)."""
    body: dict[str, Any] = {"v": PROTOCOL_VERSION}
    match message:
        case Auth(token=token):
            body |= {"type": "auth", "token": token}
        case Subscribe(tender=tender, after_seq=after):
            body |= {"type": "subscribe", "tender": tender, "after_seq": after}
        case Unsubscribe(tender=tender):
            body |= {"type": "unsubscribe", "tender": tender}
        case Ping():
            body |= {"type": "ping"}
        case Act(tender=tender, document=document, signature=signature):
            body |= {"type": "act", "tender": tender, "document": document,
                     "signature": signature}  # fmt: skip
    if message.ref is not None:
        body["id"] = message.ref
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


# Node to client.


@dataclass(frozen=True, slots=True)
class Welcome:
    participant: str
    role: str
    expires_at: str
    server_time: str
    node: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Subscribed:
    tender: str
    after_seq: int
    head_seq: int
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """Replay from the store is complete; what follows is live."""

    tender: str
    seq: int


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    tender: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Pong:
    server_time: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Error:
    code: str
    message: str
    rule: str | None = None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Acked:
    """A signed act is on record, durably: the event's sequence number, hash and type."""

    tender: str
    seq: int
    hash: str
    recorded: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One audit-log event as the client sees it: the record and its chain hash."""

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


ServerMessage = Welcome | Subscribed | CaughtUp | Unsubscribed | Pong | Error | Acked | Event

_SERVER_TYPES: Final[dict[type[Any], str]] = {
    Welcome: "welcome",
    Subscribed: "subscribed",
    CaughtUp: "caught_up",
    Unsubscribed: "unsubscribed",
    Pong: "pong",
    Error: "error",
    Acked: "ack",
}


def server_message_json(
    message: Welcome | Subscribed | CaughtUp | Unsubscribed | Pong | Error | Acked,
) -> str:
    """Serialize a node message other than an event (events use `event_frame_text`)."""
    body: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": _SERVER_TYPES[type(message)]}
    for name in message.__slots__:
        value = getattr(message, name)
        if value is not None:
            body["id" if name == "ref" else name] = value
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def event_frame_text(record_json: str, record_hash: str) -> str:
    """The event message, built around the record's canonical JSON without re-encoding it."""
    return f'{{"v":{PROTOCOL_VERSION},"type":"event","hash":"{record_hash}","event":{record_json}}}'


def parse_server_message(text: str | bytes) -> ServerMessage:
    """Parse one node message (for clients); raise ProtocolError if it is not one."""
    document = _parse_envelope(text)
    kind = document.pop("type", None)
    document.pop("v")
    if "id" in document:
        document["ref"] = document.pop("id")
    if kind == "event":
        record, digest = document.get("event"), document.get("hash")
        if not isinstance(record, dict) or not isinstance(digest, str):
            raise ProtocolError("invalid_message", "An event message needs `event` and `hash`.")
        return Event(record=record, hash=digest)
    for cls, name in _SERVER_TYPES.items():
        if name == kind:
            try:
                message: ServerMessage = cls(**document)
            except TypeError:
                raise ProtocolError("invalid_message", f"Malformed {kind} message.") from None
            return message
    raise ProtocolError("unknown_type", f"Unknown message type {kind!r}.")
