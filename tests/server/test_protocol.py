"""Wire messages, timestamps and frames: pure parsing and serialization."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from server.protocol import (
    Auth,
    CaughtUp,
    Error,
    Event,
    Ping,
    Pong,
    ProtocolError,
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
from server.protocol.frames import text_frame
from server.protocol.times import format_time, is_canonical_time, parse_time


@pytest.mark.parametrize(
    "message",
    [
        Auth("v1.abc.def", ref="r1"),
        Subscribe("t-20261121-abc", 42, ref="x"),
        Subscribe("system"),
        Unsubscribe("t-1"),
        Ping(ref="p"),
    ],
)
def test_client_messages_round_trip(message: Auth | Subscribe | Unsubscribe | Ping) -> None:
    assert parse_client_message(client_message_json(message)) == message


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{", "malformed_json"),
        ('{"v":1,"type":"ping","id":"a","id":"b"}', "malformed_json"),
        ("[1]", "invalid_message"),
        ('{"type":"ping"}', "unsupported_version"),
        ('{"v":2,"type":"ping"}', "unsupported_version"),
        ('{"v":true,"type":"ping"}', "unsupported_version"),
        ('{"v":1,"type":"dance"}', "unknown_type"),
        ('{"v":1}', "unknown_type"),
        ('{"v":1,"type":"subscribe"}', "invalid_message"),
        ('{"v":1,"type":"subscribe","tender":"T-UPPER"}', "invalid_message"),
        ('{"v":1,"type":"subscribe","tender":"t-1","after_seq":-1}', "invalid_message"),
        ('{"v":1,"type":"subscribe","tender":"t-1","after_seq":1.5}', "invalid_message"),
        ('{"v":1,"type":"ping","extra":1}', "invalid_message"),
        ('{"v":1,"type":"auth","token":""}', "invalid_message"),
    ],
)
def test_bad_client_messages_get_a_code(text: str, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(text)
    assert caught.value.code == code


def test_errors_echo_the_message_id() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_message('{"v":1,"type":"dance","id":"req-7"}')
    assert caught.value.ref == "req-7"


@pytest.mark.parametrize(
    "message",
    [
        Welcome(
            "p-1", "bidder", "2026-11-21T09:00:00.000000Z", "2026-11-21T08:45:00.000000Z", "n-1"
        ),
        Subscribed("t-1", 0, 9, ref="r"),
        CaughtUp("t-1", 9),
        Unsubscribed("t-1"),
        Pong("2026-11-21T08:45:00.000000Z", ref="p"),
        Error("forbidden", "No.", rule="AccessDenied", ref="q"),
    ],
)
def test_server_messages_round_trip(
    message: Welcome | Subscribed | CaughtUp | Unsubscribed | Pong | Error,
) -> None:
    assert parse_server_message(server_message_json(message)) == message


def test_event_messages_embed_the_record() -> None:
    text = event_frame_text('{"seq":3,"stream":"t-1","type":"tender.published"}', "ab" * 32)
    message = parse_server_message(text)
    assert isinstance(message, Event)
    assert (message.tender, message.seq, message.type) == ("t-1", 3, "tender.published")


@pytest.mark.parametrize(
    "text",
    ['{"v":1,"type":"event"}', '{"v":1,"type":"mystery"}', '{"v":1,"type":"pong","nope":1}'],
)
def test_bad_server_messages_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_server_message(text)


def test_times_have_one_canonical_spelling() -> None:
    moment = datetime(2026, 11, 21, 17, 30, tzinfo=timezone(timedelta(hours=8)))
    assert format_time(moment) == "2026-11-21T09:30:00.000000Z"
    assert is_canonical_time(format_time(moment))
    assert parse_time("2026-11-21T17:30:00.5+08:00") == datetime(
        2026, 11, 21, 9, 30, 0, 500000, tzinfo=UTC
    )
    assert parse_time("2026-11-21T09:30:00.123456789Z").microsecond == 123456


@pytest.mark.parametrize(
    "text", ["2026-11-21", "2026-11-21T09:30:00", "yesterday", "2026-13-01T00:00:00Z"]
)
def test_times_without_a_zone_or_invalid_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"RFC 3339|month"):
        parse_time(text)


def test_naive_times_cannot_be_formatted() -> None:
    with pytest.raises(ValueError, match="time zone"):
        format_time(datetime(2026, 1, 1))


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_text_frames_use_the_shortest_length_encoding(size: int) -> None:
    payload = b"x" * size
    frame = text_frame(payload)
    assert frame[0] == 0x81  # FIN + text, no RSV bits: no extension
    assert frame[1] & 0x80 == 0  # server frames are never masked
    header = {True: 2, False: 4 if size < 65536 else 10}[size < 126]
    assert frame[header:] == payload
    length = frame[1] & 0x7F
    if size < 126:
        assert length == size
    else:
        assert length == (126 if size < 65536 else 127)
        assert int.from_bytes(frame[2:header], "big") == size


def test_server_message_json_is_compact() -> None:
    text = server_message_json(CaughtUp("t-1", 3))
    assert json.loads(text) == {"v": 1, "type": "caught_up", "tender": "t-1", "seq": 3}
    assert " " not in text


def test_times_beyond_the_calendar_are_value_errors() -> None:
    with pytest.raises(ValueError, match="outside the range"):
        parse_time("9999-12-31T23:59:59-01:00")
