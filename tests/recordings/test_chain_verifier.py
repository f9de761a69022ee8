"""The chain verifier's fast way gives the verdict of the plain one, on any row."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings, strategies as st

from crypto import canonical_json
from recordings.audit import (
    GENESIS,
    AuditRecord,
    ChainHead,
    ChainVerifier,
    read_body,
    record_hash,
    verify_chain,
)
from recordings.errors import ChainBroken, RecordFormatError
from tests.recordings.test_audit import Row, chain, rows

if TYPE_CHECKING:
    from collections.abc import Iterable


def plain_verify_chain(stream: str, rows: Iterable[Row]) -> ChainHead:
    """verify_chain as it was written first: every check the plain way, for every row."""
    expected, prev = 1, GENESIS
    for seq, body, stored_hash in rows:
        if seq > expected or seq < 1:
            raise ChainBroken(
                stream, expected, f"it is missing: removed (the next stored event is {seq})"
            )
        if seq < expected:
            raise ChainBroken(
                stream, seq, f"moved or reordered: it comes where event {expected} should be"
            )
        try:
            record = read_body(body)
        except RecordFormatError as exc:
            raise ChainBroken(stream, seq, str(exc)) from None
        if record["stream"] != stream or record["seq"] != seq:
            where = f"{record['stream']}/{record['seq']}"
            raise ChainBroken(stream, seq, f"it holds event {where}: moved or reordered")
        encoded = body.encode("utf-8")
        if canonical_json(record) != encoded:
            raise ChainBroken(stream, seq, "its body is not canonical JSON (RFC 8785)")
        if record_hash(encoded) != stored_hash:
            raise ChainBroken(stream, seq, "its content does not match its hash: altered")
        if record["prev"] != prev:
            raise ChainBroken(
                stream, seq, "it does not link to the event before it: removed, inserted or altered"
            )
        expected, prev = seq + 1, stored_hash
    return ChainHead(stream, expected - 1, prev)


def verdict(verify: object, stream: str, rows: list[Row]) -> object:
    try:
        return verify(stream, rows)  # type: ignore[operator]
    except ChainBroken as exc:
        return (exc.stream, exc.seq, exc.reason)


def same_verdict(stream: str, rows: list[Row]) -> object:
    fast = verdict(verify_chain, stream, rows)
    assert fast == verdict(plain_verify_chain, stream, rows)
    return fast


def odd_chain(payloads: list[object], stream: str = "t-1") -> list[Row]:
    """Rows whose bodies are canonical, but with what the fast way leaves to the plain one."""
    result: list[Row] = []
    prev = GENESIS
    for seq, payload in enumerate(payloads, 1):
        document = {
            "v": 1, "stream": stream, "seq": seq, "type": "tender.note",
            "actor": {"id": "p-1", "role": "host"}, "address": "local",
            "time": "2026-11-21T09:00:00.000000Z", "payload": payload,
            "visibility": ["host"], "prev": prev,
        }  # fmt: skip
        body = canonical_json(document)
        prev = record_hash(body)
        result.append((seq, body.decode("utf-8"), prev))
    return result


def nested(depth: int) -> object:
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_records_the_fast_way_leaves_to_the_plain_one_still_verify() -> None:
    payloads: list[object] = [
        {"price": 1.5},
        {"big": 2**53},
        {"\uff61": 1, "\U0001f600": 2},  # UTF-16 order differs from code point order
        {"deep": nested(62)},  # more brackets than MAX_DEPTH, not as deep
        {"text": "{[" * 40},
        {"plain": "开标记录"},
    ]
    records = odd_chain(payloads)
    assert same_verdict("t-1", records) == ChainHead("t-1", 6, records[-1][2])


def test_the_chain_hash_is_the_specified_one() -> None:
    records = chain(3)
    verifier = ChainVerifier("t-1")
    for record in records:
        verifier.add(record.seq, record.body, None)  # a store that keeps no hash
    assert verifier.head == ChainHead("t-1", 3, records[-1].hash)


def test_a_stream_name_not_in_v1_form_is_named() -> None:
    records = odd_chain([{}], stream="T 1")
    assert same_verdict("T 1", records) == (
        "T 1", 1, "The stream name or the time is not in its v1 form.",
    )  # fmt: skip


def test_a_surely_canonical_record_of_the_wrong_shape_is_named() -> None:
    (seq, body, _), *_ = rows(chain(1))
    document = json.loads(body)
    changes: list[dict[str, object]] = [
        {"visibility": ["host", 1]},
        {"visibility": ["supervisor", "host"]},
        {"actor": {"id": "p-1", "role": None}},
        {"v": True},
        {"seq": 2},
        {"payload": []},
        {"extra": 1},
    ]
    for change in changes:
        changed = canonical_json({**document, **change}).decode("utf-8")
        result = same_verdict("t-1", [(seq, changed, record_hash(changed.encode()))])
        assert isinstance(result, tuple)
        assert result[1] == 1


EDITS = st.sampled_from(
    [
        ('"v":1', '"v":1.0'), ('"v":1', '"v": 1'), ('"v":1', '"v":true'), ('{"actor"', ' {"actor"'),
        ('"n":', '"n":-0,"n":'), ('"n":', '"m":0,"n":'), ('"n":', '"a":0,"n":'),
        ('"text":"', '"text":"\\u00e9'), ('"text":"', '"text":"\\/'), ('"text":"', '"text":"\\n'),
        ('"host","supervisor"', '"supervisor","host"'), ('"host","supervisor"', '"host","host"'),
        ('"seq":', '"seq":0'), ('"stream":"t-1"', '"stream":"t-2"'), ('.000000Z', 'Z'),
        ('"prev":"', '"prev":"0'), ('"role":"host"', '"role":["host"]'), ("开", "\U0001f600"),
        ('"payload":{', '"payload":{"x":9007199254740993,'), ('"payload":{', '"payload":{"x":NaN,'),
        ('"payload":{', '"payload":{"\U0001f600":1,"\uff61":2,'),
    ]
)  # fmt: skip


@settings(max_examples=300)
@given(at=st.integers(0, 4), edit=EDITS, rehash=st.booleans(), drop=st.booleans())
def test_any_edit_gets_the_plain_verdict(
    at: int, edit: tuple[str, str], rehash: bool, drop: bool
) -> None:
    tampered = rows(chain(5))
    seq, body, stored = tampered[at]
    body = body.replace(*edit)
    tampered[at] = (seq, body, record_hash(body.encode()) if rehash else stored)
    if drop:
        del tampered[(at + 2) % 5]
    same_verdict("t-1", tampered)


def test_an_empty_or_intact_chain() -> None:
    assert same_verdict("t-1", []) == ChainHead("t-1", 0, GENESIS)
    records = chain(4)
    assert same_verdict("t-1", rows(records)) == ChainHead("t-1", 4, records[-1].hash)


@pytest.mark.parametrize("seq", [2, 1.5])
def test_a_row_after_a_gap_names_the_missing_event_removed(seq: float) -> None:
    ((_, body, stored),) = rows(chain(1))
    assert same_verdict("t-1", [(seq, body, stored)]) == (  # type: ignore[list-item]
        "t-1", 1, f"it is missing: removed (the next stored event is {seq})",
    )  # fmt: skip


def test_a_number_that_goes_back_is_reordered_and_a_gap_is_removed() -> None:
    """audit-log.md, Verification steps 1 and 2, on rows read one at a time."""
    records = rows(chain(3))
    assert same_verdict("t-1", [records[0], records[2]]) == (
        "t-1", 2, "it is missing: removed (the next stored event is 3)",
    )  # fmt: skip
    assert same_verdict("t-1", [records[0], records[1], records[0]]) == (
        "t-1", 1, "moved or reordered: it comes where event 3 should be",
    )  # fmt: skip
    # A number below 1 is no sequence number: the first record is what is gone (step 2).
    ((_, body, stored),) = rows(chain(1))
    assert same_verdict("t-1", [(0, body, stored)]) == (
        "t-1", 1, "it is missing: removed (the next stored event is 0)",
    )  # fmt: skip


def test_records_made_here_are_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: ChainVerifier, seq: int, body: str) -> None:
        raise AssertionError("took the plain way")

    monkeypatch.setattr(ChainVerifier, "_checked_slowly", refuse)
    records: list[AuditRecord] = chain(3)
    assert verify_chain("t-1", rows(records)).hash == records[-1].hash
