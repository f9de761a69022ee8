"""The audit record format and chain verification, against every kind of tampering."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given, strategies as st

from crypto import canonical_json, digest
from recordings.audit import GENESIS, AuditRecord, record_hash, verify_chain
from recordings.errors import ChainBroken, RecordFormatError

Row = tuple[int, str, str]


def chain(length: int, stream: str = "t-1") -> list[AuditRecord]:
    records: list[AuditRecord] = []
    prev = GENESIS
    for seq in range(1, length + 1):
        record = AuditRecord.create(
            stream=stream,
            seq=seq,
            prev=prev,
            type="tender.note",
            actor_id="p-host",
            actor_role="host",
            address="203.0.113.9",
            time="2026-11-21T09:00:00.000000Z",
            payload={"n": seq, "text": "开标记录"},
            visibility=frozenset({"supervisor", "host"}),
        )
        records.append(record)
        prev = record.hash
    return records


def rows(records: list[AuditRecord]) -> list[Row]:
    return [(r.seq, r.body, r.hash) for r in records]


def test_records_hash_their_canonical_body() -> None:
    (record,) = chain(1)
    document = json.loads(record.body)
    assert document["v"] == 1
    assert document["prev"] == GENESIS
    assert document["actor"] == {"id": "p-host", "role": "host"}
    assert document["visibility"] == ["host", "supervisor"]
    assert record.body.encode() == canonical_json(document)
    assert record.hash == digest("audit-event", record.body.encode()).hex()
    assert record.hash == record_hash(record.body.encode())


def test_load_reads_back_what_create_made() -> None:
    record = chain(3)[2]
    assert AuditRecord.load(record.body, record.hash) == record
    assert record.document()["seq"] == 3


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"v":1}',
        json.dumps({**json.loads(chain(1)[0].body), "v": 2}),
        json.dumps({**json.loads(chain(1)[0].body), "seq": "1"}),
        json.dumps({**json.loads(chain(1)[0].body), "seq": True}),
        json.dumps({**json.loads(chain(1)[0].body), "actor": {"id": "p"}}),
    ],
)
def test_load_refuses_what_is_not_a_v1_record(body: str) -> None:
    with pytest.raises(RecordFormatError):
        AuditRecord.load(body, "00")


def test_an_intact_chain_verifies() -> None:
    records = chain(5)
    head = verify_chain("t-1", rows(records))
    assert (head.seq, head.hash) == (5, records[-1].hash)
    assert verify_chain("t-1", []).seq == 0


def altered(row: Row) -> Row:
    seq, body, stored = row
    return seq, body.replace("开标记录", "开标纪录"), stored


def rehashed(row: Row) -> Row:
    """An attacker edits the body and fixes up its own hash, but not the next link."""
    seq, body, _ = altered(row)
    return seq, body, record_hash(body.encode())


Tamper = Callable[[list[Row], int], list[Row]]

TAMPERING: dict[str, tuple[Tamper, int]] = {
    "edit a body": (lambda r, k: [*r[:k], altered(r[k]), *r[k + 1 :]], 0),
    "edit and rehash a body": (lambda r, k: [*r[:k], rehashed(r[k]), *r[k + 1 :]], 1),
    "edit a stored hash": (lambda r, k: [*r[:k], (r[k][0], r[k][1], "ff" * 32), *r[k + 1 :]], 0),
    "remove an event": (lambda r, k: r[:k] + r[k + 1 :], 0),
    "swap two events": (
        lambda r, k: [*r[:k], (r[k][0], *r[k + 1][1:]), (r[k + 1][0], *r[k][1:]), *r[k + 2 :]],
        0,
    ),
    "renumber to fill a gap": (
        lambda r, k: r[:k] + [(seq - 1, body, h) for seq, body, h in r[k + 1 :]],
        0,
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
@given(k=st.integers(min_value=0, max_value=6))
def test_tampering_is_caught_at_the_first_bad_sequence_number(case: str, k: int) -> None:
    tamper, offset = TAMPERING[case]
    with pytest.raises(ChainBroken) as caught:
        verify_chain("t-1", tamper(rows(chain(8)), k))
    assert caught.value.seq == k + 1 + offset
    assert caught.value.stream == "t-1"


def test_a_record_of_another_stream_is_caught() -> None:
    foreign = chain(2, stream="t-2")
    with pytest.raises(ChainBroken, match="moved or reordered") as caught:
        verify_chain("t-1", rows(chain(1)) + rows(foreign)[1:])
    assert caught.value.seq == 2


def test_an_unreadable_record_is_caught() -> None:
    broken = rows(chain(2))
    broken[1] = (2, "{not json", broken[1][2])
    with pytest.raises(ChainBroken, match="not valid JSON") as caught:
        verify_chain("t-1", broken)
    assert caught.value.seq == 2


def _rewrite(record: AuditRecord, body: str) -> Row:
    return (record.seq, body, record_hash(body.encode()))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda body: body.replace('"v":1', ' "v":1'), "not canonical"),
        (lambda body: body.replace('["host","supervisor"]', '["supervisor","host"]'), "sorted"),
        (lambda body: body.replace(".000000Z", "Z"), "v1 form"),
        (lambda body: body.replace('"stream":"t-1"', '"stream":"T 1"'), "v1 form"),
    ],
)
def test_records_not_in_their_v1_form_are_caught(change: Callable[[str], str], reason: str) -> None:
    records = chain(2)
    rows = [_rewrite(records[0], change(records[0].body)), *rows_of(records[1:])]
    with pytest.raises(ChainBroken, match=reason) as caught:
        verify_chain("t-1", rows)
    assert caught.value.seq == 1


def rows_of(records: list[AuditRecord]) -> list[Row]:
    return [(r.seq, r.body, r.hash) for r in records]
