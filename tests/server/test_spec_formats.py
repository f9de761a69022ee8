"""The format details the specs now write out, produced by the code exactly as written:
stanza order (sealed-bid.md 2), the opening sheet's `extra` (sealed-bid.md 4), the order of a
drawn committee (evaluation.md 2.3), the clarification answer (evaluation.md 4), the enrolment
and its record (protocol.md 2.4, audit-log.md) and the witness state file (audit-bundle.md 5).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import TYPE_CHECKING, Any, cast

import pytest

from crypto import EncryptionKey, SigningKey, read_header
from evaluator_client.bidding import seal_to_file
from evaluator_client.witness import TreeHead, Witness
from recordings.documents import clarification_answer_document
from recordings.draw import DrawRequest, PoolEntry, Quota, Site, Workstation, draw
from server.cli import main
from server.domain.access import Role
from server.protocol.opening_sheet import sheet_problem

if TYPE_CHECKING:
    from pathlib import Path

    from evaluator_client.session import Session
    from tests.conftest import Harness

TENDER = "t-20261121-0000000000aa"


def sealed_header_recipients(tmp_path: Path, *, opening: bool) -> list[str]:
    archive = tmp_path / "bid.zip"
    archive.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty ZIP
    out = tmp_path / f"bid-{opening}.sealed"
    seal_to_file(
        tender=TENDER, lot="L1", bidder="p-bidder01",
        sheet={"price": "1.00", "duration_days": 1, "quality": "合格", "project_manager": "张三"},
        archive=archive, own_key=EncryptionKey.generate().public_key,
        opening_key=EncryptionKey.generate().public_key if opening else None, out=out,
    )  # fmt: skip
    with out.open("rb") as source:
        header = read_header(source)
    raw = json.loads(header.raw)
    assert [s.kind for s in header.recipients] == [s["kind"] for s in raw["recipients"]]
    return [stanza["kind"] for stanza in raw["recipients"]]


def test_the_sealer_writes_the_bidder_stanza_first(tmp_path: Path) -> None:
    assert sealed_header_recipients(tmp_path, opening=True) == ["bidder", "opening"]
    assert sealed_header_recipients(tmp_path, opening=False) == ["bidder"]


def sheet(**changes: Any) -> dict[str, Any]:
    base = {
        "v": 1, "tender": TENDER, "lot": "L1", "bidder": "p-bidder01", "price": "1.00",
        "duration_days": 1, "quality": "合格", "project_manager": "张三", "extra": {},
    }  # fmt: skip
    return base | changes


def test_extra_is_required_as_an_empty_object_when_the_tender_has_no_fields() -> None:
    assert sheet_problem(sheet(), [], TENDER, "L1", "p-bidder01") is None
    missing = sheet()
    del missing["extra"]
    problem = sheet_problem(missing, [], TENDER, "L1", "p-bidder01")
    assert problem == (
        "it does not have the members of an opening sheet v1: it lacks extra"
        " (extra is required: {} when the tender defines no fields)"
    )
    stray = sheet_problem(sheet(colour="red"), [], TENDER, "L1", "p-bidder01")
    assert stray == "it does not have the members of an opening sheet v1: unknown members colour"
    fields = sheet_problem(sheet(extra={}), ["warranty_years"], TENDER, "L1", "p-bidder01")
    assert fields == "extra must hold exactly the tender's fields: warranty_years"


def spec_draw(seed: bytes, snapshot: list[PoolEntry], request: DrawRequest) -> list[str]:
    """evaluation.md 2.3 as written, for one site where every entry is eligible."""
    words: list[int] = []
    counter = 0

    def below(n: int) -> int:
        nonlocal counter
        while True:
            if not words:
                block = hashlib.sha256(b"bidroom draw v1\x00" + seed + counter.to_bytes(8, "big"))
                digest = block.digest()
                words.extend(int.from_bytes(digest[i : i + 8], "big") for i in range(0, 32, 8))
                counter += 1
            x = words.pop(0)
            if x < 2**64 - (2**64 % n):
                return x % n

    drawn: list[str] = []
    for quota in request.quotas:
        for _ in range(quota.count):
            candidates = [
                e for e in snapshot if e.specialty == quota.specialty and e.expert not in drawn
            ]
            drawn.append(candidates[below(len(candidates))].expert)
    return drawn


def test_members_are_listed_in_the_order_drawn() -> None:
    snapshot = [
        PoolEntry(f"p-expert{i:04d}", "建筑工程" if i % 2 else "工程造价", "广州", f"e{i}", ())
        for i in range(12)
    ]
    stations = tuple(Workstation(f"M-{i:02d}", None) for i in range(5))
    request = DrawRequest(
        (Quota("工程造价", 2), Quota("建筑工程", 3)), (Site("main", "广州", stations),), 0
    )
    unsorted = 0
    for n in range(8):
        seed = hashlib.sha256(b"seed %d" % n).digest()
        members = draw(seed, snapshot, request, ()).members
        experts = [m.expert for m in members]
        assert experts == spec_draw(seed, snapshot, request)
        assert [m.specialty for m in members] == ["工程造价"] * 2 + ["建筑工程"] * 3
        assert [m.workstation for m in members] == [f"M-{i:02d}" for i in range(5)]
        unsorted += experts[:2] != sorted(experts[:2]) or experts[2:] != sorted(experts[2:])
    assert unsorted  # the order is the draw's, not the ids'


def test_the_clarification_answer_document_is_exactly_the_spec_s() -> None:
    document = clarification_answer_document(TENDER, "L1", "c1", "p-bidder01", "是的")
    assert document == {
        "v": 1, "type": "clarification-answer", "tender": TENDER, "lot": "L1",
        "clarification": "c1", "bidder": "p-bidder01", "answer": "是的",
    }  # fmt: skip
    assert type(document["v"]) is int


async def test_enrolment_takes_an_encryption_key_and_its_record_carries_it(
    harness: Harness,
) -> None:
    admin = await harness.person(Role.ADMIN)
    body = {
        "role": "custodian", "name": "保管人",
        "public_key": SigningKey.generate().verify_key.to_text(),
        "encryption_key": EncryptionKey.generate().public_key.to_text(),
    }  # fmt: skip
    custodian = await harness.post_ok("/api/admin/participants", body, admin)
    assert set(custodian) == {"id", "role", "name", "public_key", "encryption_key", "attributes"}
    assert custodian["encryption_key"] == body["encryption_key"]
    plain = body | {"role": "bidder", "public_key": SigningKey.generate().verify_key.to_text()}
    del plain["encryption_key"]
    bidder = await harness.post_ok("/api/admin/participants", plain, admin)
    assert bidder["encryption_key"] is None
    status, page = await harness.call("GET", "/api/system/events?after_seq=0&limit=1000", admin)
    assert status == 200
    enrolled = {
        e["payload"]["id"]: e["payload"]
        for e in (item["event"] for item in page["events"])
        if e["type"] == "participant.enrolled"
    }
    assert enrolled[custodian["id"]] == custodian
    assert enrolled[bidder["id"]] == bidder


async def test_the_witness_state_file_is_the_documented_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "witness.json"
    root = bytes(range(32))
    head = TreeHead(TENDER, 12, root, {}, "")
    assert await Witness(state).observe(cast("Session", None), head) == "first"
    await asyncio.to_thread(check_the_state_file, tmp_path, state, root)
    capsys.readouterr()


def check_the_state_file(tmp_path: Path, state: Path, root: bytes) -> None:
    assert json.loads(state.read_text(encoding="utf-8")) == {
        TENDER: {"root": root.hex(), "size": 12}
    }
    bundle = tmp_path / "b.jsonl"
    bundle.write_text("{}\n", encoding="utf-8")
    for bad in ({TENDER: {"root": root.hex(), "size": 0}}, {TENDER: {"root": "ab", "size": 3}}):
        state.write_text(json.dumps(bad), encoding="utf-8")
        with pytest.raises(SystemExit, match="needs a size of at least 1 and a root of 64 hex"):
            main(["audit", "verify", str(bundle), "--witness-state", str(state)])
