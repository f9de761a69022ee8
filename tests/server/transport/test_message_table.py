"""The live channel's message table: every kind has a parser, a handler and its line in the spec."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import pytest
from websockets.asyncio.client import connect

import server.protocol
from server.protocol import (
    Acked,
    Act,
    Auth,
    CaughtUp,
    ClientMessage,
    Error,
    Event,
    MediaAnswer,
    MediaClose,
    MediaEnded,
    MediaPublish,
    MediaWatch,
    Ping,
    Pong,
    ServerMessage,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    Welcome,
    client_message_json,
    event_frame_text,
    parse_client_message,
    parse_server_message,
    server_message_json,
)
from server.protocol.client_messages import CLIENT_PARSERS
from server.protocol.server_messages import SERVER_PARSERS
from server.transport import ws

if TYPE_CHECKING:
    from tests.conftest import Harness

SPEC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"
CLIENT_KINDS = {cls.KIND for cls in get_args(ClientMessage)}
SERVER_KINDS = {cls.KIND for cls in get_args(ServerMessage)}

CLIENT_SAMPLES: dict[str, ClientMessage] = {
    "auth": Auth("v1.abc.def", ref="a"),
    "subscribe": Subscribe("t-20261121-0123456789ab", 7, ref="s"),
    "unsubscribe": Unsubscribe("system"),
    "ping": Ping(),
    "act": Act("t-20261121-0123456789ab", {"v": 1, "type": "pledge"}, "c2ln", ref="act-1"),
    "media_publish": MediaPublish("t-1", "opening", "v=0\r\n", ref="m-1"),
    "media_watch": MediaWatch("t-1", "L1", "M-01", "v=0\r\n", ref="m-2"),
    "media_close": MediaClose("m-abcdefgh12"),
}
SERVER_SAMPLES: dict[str, ServerMessage] = {
    "welcome": Welcome("p-1", "expert", "2026-11-21T09:00:00.000000Z", "2026-11-21T08:45:00Z", "n"),
    "subscribed": Subscribed("t-1", 0, 12, ref="s"),
    "caught_up": CaughtUp("t-1", 12),
    "unsubscribed": Unsubscribed("t-1", ref="u"),
    "pong": Pong("2026-11-21T08:45:00.000000Z"),
    "error": Error("rule_violation", "No.", rule="WrongStage", ref="act-1"),
    "ack": Acked("t-1", 13, "ab" * 32, "evaluation.pledged", ref="act-1"),
    "media_answer": MediaAnswer("m-abcdefgh12", "opening", "host", "v=0\r\n", ref="m-1"),
    "media_ended": MediaEnded("m-abcdefgh12", "source_ended"),
    "event": Event({"seq": 13, "stream": "t-1", "type": "evaluation.pledged"}, "cd" * 32),
}


def spec_kinds(heading: str) -> set[str]:
    """The kinds in the first column of the table under `heading` in docs/protocol.md."""
    section = SPEC.read_text(encoding="utf-8").split(heading, 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))


def build(message: ServerMessage) -> str:
    """The node's text for a message: events are framed around their record's stored JSON."""
    if isinstance(message, Event):
        return event_frame_text(json.dumps(message.record, separators=(",", ":")), message.hash)
    return server_message_json(message)


def test_every_client_kind_has_a_parser_a_handler_and_a_line_in_the_spec() -> None:
    assert set(CLIENT_PARSERS) == CLIENT_KINDS
    assert set(ws.HANDLERS) == CLIENT_KINDS
    assert spec_kinds("### 3.1 Client to node") == CLIENT_KINDS
    assert set(CLIENT_SAMPLES) == CLIENT_KINDS


def test_before_authenticating_only_auth_and_ping_are_answered() -> None:
    early = {kind for kind, handler in ws.HANDLERS.items() if handler.before_auth}
    assert early == {"auth", "ping"}


@pytest.mark.parametrize("kind", sorted(CLIENT_SAMPLES))
def test_every_client_kind_round_trips(kind: str) -> None:
    message = CLIENT_SAMPLES[kind]
    assert kind == message.KIND
    assert parse_client_message(client_message_json(message)) == message


def test_every_server_kind_has_a_builder_a_parser_and_a_line_in_the_spec() -> None:
    assert set(SERVER_PARSERS) == SERVER_KINDS
    assert spec_kinds("### 3.2 Node to client") == SERVER_KINDS
    assert set(SERVER_SAMPLES) == SERVER_KINDS


@pytest.mark.parametrize("kind", sorted(SERVER_SAMPLES))
def test_every_server_kind_round_trips(kind: str) -> None:
    message = SERVER_SAMPLES[kind]
    assert kind == message.KIND
    text = build(message)
    assert text.startswith(f'{{"v":1,"type":"{kind}"')
    assert parse_server_message(text) == message


def test_the_package_exports_what_it_lists() -> None:
    missing = [name for name in server.protocol.__all__ if not hasattr(server.protocol, name)]
    assert missing == []


async def test_a_kind_without_a_handler_is_an_unknown_type(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(ws.HANDLERS, "ping")
    async with connect(harness.ws_url) as live:
        await live.send(json.dumps({"v": 1, "type": "ping", "id": "p"}))
        async with asyncio.timeout(10):
            error: dict[str, Any] = json.loads(await live.recv())
        assert (error["type"], error["code"], error["id"]) == ("error", "unknown_type", "p")
