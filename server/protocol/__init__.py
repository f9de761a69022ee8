"""Live-channel wire messages (protocol v1): frozen dataclasses, parse and serialize; pure.

Both the node and the clients import this package, so it must not import aiohttp or any I/O.
The format is specified in docs/protocol.md. The modules, by concern:

- `streams`: stream names (a tender's id, its bid box, `system`);
- `login`: what a client signs to log in;
- `channel`: the version, the envelope, `ProtocolError` and the close codes;
- `client_messages`: client to node, a parser per kind;
- `server_messages`: node to client, a parser per kind;
- `fields`, `times`, `frames`: reading JSON objects, timestamps, WebSocket frames.

The names below are re-exported here, so importers need not know which module holds them.
"""

from server.protocol.channel import PROTOCOL_VERSION, CloseCode, ProtocolError
from server.protocol.client_messages import (
    Act,
    Auth,
    ClientMessage,
    MediaClose,
    MediaPublish,
    MediaWatch,
    Ping,
    Subscribe,
    Unsubscribe,
    client_message_json,
    parse_client_message,
)
from server.protocol.login import LOGIN_LABEL, answer_challenge, login_document
from server.protocol.server_messages import (
    Acked,
    CaughtUp,
    Error,
    Event,
    MediaAnswer,
    MediaEnded,
    Pong,
    ServerMessage,
    Subscribed,
    Unsubscribed,
    Welcome,
    event_frame_text,
    parse_server_message,
    server_message_json,
)
from server.protocol.streams import (
    BOX_SUFFIX,
    MAX_SEQ,
    STREAM_PATTERN,
    SYSTEM_STREAM,
    TENDER_ID_PATTERN,
    box_stream,
    box_tender,
    is_tender_stream,
)

__all__ = [
    "BOX_SUFFIX",
    "LOGIN_LABEL",
    "MAX_SEQ",
    "PROTOCOL_VERSION",
    "STREAM_PATTERN",
    "SYSTEM_STREAM",
    "TENDER_ID_PATTERN",
    "Acked",
    "Act",
    "Auth",
    "CaughtUp",
    "ClientMessage",
    "CloseCode",
    "Error",
    "Event",
    "MediaAnswer",
    "MediaClose",
    "MediaEnded",
    "MediaPublish",
    "MediaWatch",
    "Ping",
    "Pong",
    "ProtocolError",
    "ServerMessage",
    "Subscribe",
    "Subscribed",
    "Unsubscribe",
    "Unsubscribed",
    "Welcome",
    "answer_challenge",
    "box_stream",
    "box_tender",
    "client_message_json",
    "event_frame_text",
    "is_tender_stream",
    "login_document",
    "parse_client_message",
    "parse_server_message",
    "server_message_json",
]
