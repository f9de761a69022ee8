"""What every message on the live channel shares: the version, the JSON envelope and its `id`,
the error a message that can't be acted on raises, and the close codes (docs/protocol.md 3)."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import fields
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

from crypto import MalformedJSON, parse_json

if TYPE_CHECKING:
    from dataclasses import Field

PROTOCOL_VERSION: Final = 1
REF_PATTERN: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")


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


class Message(Protocol):
    """A message of either direction: a frozen dataclass that names its kind (the `type`)."""

    KIND: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]


def message_text(message: Message) -> str:
    """The compact JSON of a message: version, type, its fields in order (those that are not
    None), and `ref` spelled `id`."""
    body: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": message.KIND}
    for field in fields(message):
        value = getattr(message, field.name)
        if value is not None:
            body["id" if field.name == "ref" else field.name] = value
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def parse_envelope(text: str | bytes) -> dict[str, Any]:
    """The message as a JSON object of this protocol version, or ProtocolError."""
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
            ref_of(document),
        )
    return document


def ref_of(document: dict[str, Any]) -> str | None:
    """The message's `id`, if it has a well-formed one (replies echo it)."""
    ref = document.get("id")
    return ref if isinstance(ref, str) and REF_PATTERN.fullmatch(ref) else None
