"""Audit bundles: exported from a node after a real opening, checked with no server, and every
tamper case named (docs/spec/audit-bundle.md)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from crypto import SigningKey, canonical_json
from evaluator_client import bidding
from recordings.audit import record_hash
from recordings.verify_bundle import verify_bundle
from server.audit_export import export_bundle
from server.cli import main
from server.domain.access import Role
from tests.server.transport.opening_world import build_world
from tests.server.transport.test_opening import decrypt, to_opening

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from server.config import Settings
    from tests.conftest import Harness

_BUNDLE: list[str] = []  # built once (a whole opening takes a second), then reused


async def bundle(harness: Harness, settings: Settings, tmp_path: Path) -> list[str]:
    if _BUNDLE:
        return list(_BUNDLE)
    world = await build_world(harness, tmp_path, count=3)
    try:
        await to_opening(world)
        for bidder in world.bidders:
            await decrypt(world, bidder)
        path = f"/api/tenders/{world.tender}/opening"
        await harness.post_ok(f"{path}/record", {}, world.host)
        await bidding.confirm(world.bidders[0].session, world.tender)
        await bidding.object_to(world.bidders[1].session, world.tender, "价格有误")
        await harness.post_ok(f"{path}/objections/o1/answer", {"answer": "已核实"}, world.host)
        await bidding.confirm(world.bidders[2].session, world.tender)
        await harness.post_ok(f"{path}/close", {}, world.host)
        out = tmp_path / "bundle.jsonl"
        now = datetime.now(UTC)
        await asyncio.to_thread(export_bundle, settings, world.tender, out, now)
        _BUNDLE.extend((await asyncio.to_thread(out.read_text, encoding="utf-8")).splitlines(True))
    finally:
        await world.close()
    return list(_BUNDLE)


def lines_of(kind: str, lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if json.loads(line)["kind"] == kind]


def event_line(lines: list[str], event_type: str) -> int:
    return next(
        i for i, line in enumerate(lines)
        if json.loads(line)["kind"] == "event" and json.loads(line)["event"]["type"] == event_type
    )  # fmt: skip


def rewrite(lines: list[str], index: int, change: Callable[[dict[str, Any]], None]) -> list[str]:
    value = json.loads(lines[index])
    change(value)
    return [*lines[:index], canonical_json(value).decode() + "\n", *lines[index + 1 :]]


async def test_an_exported_bundle_verifies_with_no_server(
    harness: Harness, settings: Settings, tmp_path: Path
) -> None:
    report = verify_bundle(await bundle(harness, settings, tmp_path))
    assert report.failures == []
    assert report.checked["tree heads"] >= 5  # publication, deadline, opening, record, close
    for label in ("receipt", "sealed-list", "opening-record", "opening-confirmation"):
        assert report.checked[f"{label} signatures"] >= 1
    assert report.checked["opening-objection signatures"] == 1


def edited(lines: list[str]) -> list[str]:
    index = event_line(lines, "bid.sheet_extracted")
    return rewrite(lines, index, lambda v: v["event"]["payload"]["sheet"].update(price="1.00"))


def dropped(lines: list[str]) -> list[str]:
    index = event_line(lines, "bid.decrypted")
    return [*lines[:index], *lines[index + 1 :]]


def reordered(lines: list[str]) -> list[str]:
    index = event_line(lines, "bid.decrypted")
    return [*lines[:index], lines[index + 1], lines[index], *lines[index + 2 :]]


def rechained(lines: list[str], start: int) -> list[str]:
    """The events of one stream from line `start` on, hashed and linked again: what someone
    rewriting the log would do, since the chain itself is not signed."""
    out = list(lines)
    stream = json.loads(lines[start])["event"]["stream"]
    prev = json.loads(lines[start])["event"]["prev"]
    for i in range(start, len(out)):
        value = json.loads(out[i])
        if value["kind"] != "event" or value["event"]["stream"] != stream:
            continue
        value["event"]["prev"] = prev
        value["hash"] = prev = record_hash(canonical_json(value["event"]))
        out[i] = canonical_json(value).decode() + "\n"
    return out


def forged_tree_head(lines: list[str]) -> list[str]:
    index = event_line(lines, "audit.tree_head")

    def change(value: dict[str, Any]) -> None:
        value["event"]["payload"]["tree_head"]["root"] = "00" * 32

    return rechained(rewrite(lines, index, change), index)


def edited_and_rechained(lines: list[str]) -> list[str]:
    return rechained(edited(lines), event_line(lines, "bid.sheet_extracted"))


def swapped_node_key(lines: list[str]) -> list[str]:
    other = SigningKey.generate().verify_key.to_text()
    return rewrite(lines, 0, lambda v: v.update(node_key=other))


def confirming_bidder(lines: list[str]) -> str:
    event = json.loads(lines[event_line(lines, "opening.confirmed")])["event"]
    return str(event["payload"]["bidder"])


def swapped_bidder_key(lines: list[str]) -> list[str]:
    signer = confirming_bidder(lines)
    index = next(i for i in lines_of("participant", lines) if signer in lines[i])
    other = SigningKey.generate().verify_key.to_text()
    return rewrite(lines, index, lambda v: v["event"]["payload"].update(public_key=other))


def with_end_fixed(lines: list[str]) -> list[str]:
    """Recount the end line after lines were removed: what a careful forger does."""
    events: dict[str, int] = {}
    for line in lines:
        value = json.loads(line)
        if value["kind"] == "event":
            events[value["event"]["stream"]] = events.get(value["event"]["stream"], 0) + 1
    end = json.loads(lines[-1]) | {"events": events}
    end["participants"] = len(lines_of("participant", lines))
    return [*lines[:-1], canonical_json(end).decode() + "\n"]


def tail_cut(lines: list[str]) -> list[str]:
    """The tender's events after the record was read out, gone (end line recounted)."""
    cut = event_line(lines, "opening.confirmed")
    tender = json.loads(lines[cut])["event"]["stream"]
    kept = [
        line for i, line in enumerate(lines)
        if i < cut or json.loads(line)["kind"] != "event"
        or json.loads(line)["event"]["stream"] != tender
    ]  # fmt: skip
    return with_end_fixed(kept)


def box_removed(lines: list[str]) -> list[str]:
    kept = [
        line for line in lines
        if json.loads(line)["kind"] != "event"
        or not json.loads(line)["event"]["stream"].endswith("-box")
    ]  # fmt: skip
    return with_end_fixed(kept)


def all_tree_heads_removed(lines: list[str]) -> list[str]:
    kept = [line for line in lines if '"type":"audit.tree_head"' not in line or "system" in line]
    first = next(i for i in lines_of("event", kept))
    return with_end_fixed(rechained(kept, first))


def truncated(lines: list[str]) -> list[str]:
    return lines[:-1]


def cut_mid_line(lines: list[str]) -> list[str]:
    return [*lines[:-3], lines[-3][:40]]


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (edited, "altered"),
        (dropped, "missing"),
        (reordered, "moved or reordered"),
        (forged_tree_head, "forged"),
        (edited_and_rechained, "is not the root of the first"),
        (swapped_node_key, "swapped key"),
        (swapped_bidder_key, "not in the node's signed system log"),
        (box_removed, "sealed bid box is missing"),
        (all_tree_heads_removed, "under no signed tree head"),
        (truncated, "truncated"),
        (cut_mid_line, "cut-off line"),
    ],
)
async def test_every_tamper_case_is_caught_and_named(
    harness: Harness, settings: Settings, tmp_path: Path,
    tamper: Callable[[list[str]], list[str]], named: str,
) -> None:  # fmt: skip
    report = verify_bundle(tamper(await bundle(harness, settings, tmp_path)))
    assert any(named in failure for failure in report.failures), report.failures


def inside(
    event_type: str, change: Callable[[dict[str, Any]], None]
) -> Callable[[list[str]], list[str]]:
    """Change the payload of the first event of a type, then re-chain: only the checks of what
    is inside the events (signatures, hashes, roots) can catch it."""

    def tamper(lines: list[str]) -> list[str]:
        index = event_line(lines, event_type)
        return rechained(rewrite(lines, index, lambda v: change(v["event"]["payload"])), index)

    return tamper


def without_signer(lines: list[str]) -> list[str]:
    signer = confirming_bidder(lines)
    kept = [line for line in lines if not ('"kind":"participant"' in line and signer in line)]
    return with_end_fixed(kept)


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (inside("bid.submitted", lambda p: p["receipt"].update(size=1)), "receipt signature"),
        (inside("lot.sealed", lambda p: p["list"].update(root="00" * 32)), "root of its receipts"),
        (inside("opening.record_published", lambda p: p.update(record_hash="ab" * 32)), "its hash"),
        (
            inside("opening.confirmed", lambda p: p.update(signature=p["signature"][::-1])),
            "does not verify",
        ),
        (inside("opening.closed", lambda p: p.update(record_hash="cd" * 32)), "final record"),
        (without_signer, "is no proven bidder"),
    ],
)
async def test_what_is_inside_the_events_is_checked(
    harness: Harness, settings: Settings, tmp_path: Path,
    tamper: Callable[[list[str]], list[str]], named: str,
) -> None:  # fmt: skip
    report = verify_bundle(tamper(await bundle(harness, settings, tmp_path)))
    assert any(named in failure for failure in report.failures), report.failures


async def test_a_tail_cut_at_an_older_tree_head_is_caught_by_a_witness(
    harness: Harness, settings: Settings, tmp_path: Path
) -> None:
    lines = await bundle(harness, settings, tmp_path)
    tender = json.loads(lines[0])["tender"]
    heads = [
        json.loads(line)["event"]["payload"]["tree_head"]
        for line in lines
        if '"type":"audit.tree_head"' in line and json.loads(line)["event"]["stream"] == tender
    ]
    witnessed = heads[-1]
    anchor = {tender: (witnessed["size"], bytes.fromhex(witnessed["root"]))}
    assert verify_bundle(lines, anchors=anchor).failures == []
    cut = tail_cut(lines)
    # Cut back to an older signed tree head, the bundle is whole in itself...
    assert verify_bundle(cut).failures == []
    # ...but not against the tree head a witness saw before: the cut is caught.
    failures = verify_bundle(cut, anchors=anchor).failures
    size = witnessed["size"]
    assert failures == [f"{tender}: does not extend the tree head of {size} witnessed before"]


async def test_the_command_line_exports_and_verifies(
    harness: Harness, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = await bundle(harness, settings, tmp_path)
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    await asyncio.to_thread(good.write_text, "".join(lines), encoding="utf-8")
    await asyncio.to_thread(bad.write_text, "".join(edited(lines)), encoding="utf-8")
    assert await asyncio.to_thread(main, ["audit", "verify", str(good)]) == 0
    out = capsys.readouterr().out
    assert "verified" in out
    assert "as the bundle says: compare it with the node's" in out
    header = json.loads(lines[0])
    tender = header["tender"]
    head = next(
        json.loads(line)["event"]["payload"]["tree_head"]
        for line in reversed(lines)
        if '"type":"audit.tree_head"' in line and json.loads(line)["event"]["stream"] == tender
    )
    assert f"signed  {tender}: the last tree head covers {head['size']} events" in out
    state = tmp_path / "witness.json"
    await asyncio.to_thread(
        state.write_text, json.dumps({tender: {"size": head["size"], "root": "00" * 32}})
    )
    pinned = ["--node-key", header["node_key"], "--witness-state", str(state)]
    assert await asyncio.to_thread(main, ["audit", "verify", str(good), *pinned]) == 1
    assert "does not extend the tree head" in capsys.readouterr().out
    await asyncio.to_thread(state.write_text, "not json")
    with pytest.raises(SystemExit, match="not a witness's memory"):
        await asyncio.to_thread(main, ["audit", "verify", str(good), *pinned])
    assert await asyncio.to_thread(main, ["audit", "verify", str(bad)]) == 1
    assert "FAILED" in capsys.readouterr().out


async def test_the_verifier_never_crashes_on_damaged_bundles(
    harness: Harness, settings: Settings, tmp_path: Path
) -> None:
    text = "".join(await bundle(harness, settings, tmp_path))

    @hypothesis_settings(max_examples=200, deadline=None)
    @given(
        cut=st.integers(0, len(text)),
        where=st.integers(0, len(text)),
        noise=st.text(max_size=40),
        drop=st.integers(0, 60),
    )
    def damaged(cut: int, where: int, noise: str, drop: int) -> None:
        mutated = (text[:where] + noise + text[where + drop :])[: max(cut, 1)]
        report = verify_bundle(mutated.splitlines(True))  # it answers; it never raises
        if '"kind":"end"' not in mutated:
            assert report.failures  # without its end line a bundle is never whole

    damaged()


async def test_a_tender_without_bids_exports_a_bundle_that_verifies(
    harness: Harness, settings: Settings, tmp_path: Path
) -> None:
    host = await harness.person(Role.HOST)
    tender = await harness.tender(host)
    await harness.post_ok(f"/api/tenders/{tender}/publish", {}, host)
    await harness.post_ok(f"/api/tenders/{tender}/cancel", {"reason": "撤回"}, host)
    out = tmp_path / "empty.jsonl"
    await asyncio.to_thread(export_bundle, settings, tender, out, datetime.now(UTC))
    text = await asyncio.to_thread(out.read_text, encoding="utf-8")
    assert verify_bundle(text.splitlines(True)).failures == []


def test_export_refuses_what_is_no_tender(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "x.jsonl")
    data = str(tmp_path / "none")
    assert (
        main(["audit", "export", "--data-dir", data, "t-20261121-000000000001", "--out", out]) == 1
    )
    assert "no audit log" in capsys.readouterr().err
    assert main(["audit", "export", "--data-dir", data, "system", "--out", out]) == 1
    assert "not a tender id" in capsys.readouterr().err


def count_events(lines: list[str], event_type: str) -> int:
    return sum(
        1 for line in lines
        if json.loads(line)["kind"] == "event" and json.loads(line)["event"]["type"] == event_type
    )  # fmt: skip


async def test_a_swapped_node_key_is_checked_against_not_skipped(
    harness: Harness, settings: Settings, tmp_path: Path
) -> None:
    """audit-bundle.md 4: every check runs against the key given; nothing unchecked is OK."""
    lines = swapped_node_key(await bundle(harness, settings, tmp_path))
    report = verify_bundle(lines)
    failures = report.failures

    def failing(text: str) -> int:
        return sum(text in failure for failure in failures)

    assert failing("swapped key") == 1
    assert failing("receipt signature does not verify") == count_events(lines, "bid.submitted")
    assert failing("sealed-list signature does not verify") == count_events(lines, "lot.sealed")
    assert failing("opening-record signature does not verify") == 1
    heads = count_events(lines, "audit.tree_head") + 1  # and the system stream's
    assert failing("the tree head's signature does not verify under the node key") == heads
    assert failing("participants: not proven") == 1
    confirmations = count_events(lines, "opening.confirmed")
    assert failing("is no proven bidder") == confirmations + 1  # and the objection
    assert report.signed_sizes == {}
    assert all(what.startswith("events chained in ") for what in report.checked), report.checked


async def test_a_swapped_header_key_under_a_pinned_key_fails_once_and_checks_the_rest(
    harness: Harness, settings: Settings, tmp_path: Path
) -> None:
    good = await bundle(harness, settings, tmp_path)
    pinned = json.loads(good[0])["node_key"]
    report = verify_bundle(swapped_node_key(good), node_key=pinned)
    assert report.failures == ["header: the node key is not the one given to check it with"]
    for what in ("tree heads", "participant keys proven", "receipt signatures"):
        assert report.checked[what] >= 1
    assert "node key" not in report.checked


async def test_the_command_line_says_what_it_did_not_check_and_that_no_key_was_pinned(
    harness: Harness, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = await bundle(harness, settings, tmp_path)
    path = tmp_path / "swapped.jsonl"
    await asyncio.to_thread(path.write_text, "".join(swapped_node_key(good)), encoding="utf-8")
    assert await asyncio.to_thread(main, ["audit", "verify", str(path)]) == 1
    printed = capsys.readouterr().out.splitlines()
    oks = [line for line in printed if line.startswith("OK")]
    assert oks
    assert all("events chained in" in line for line in oks), oks
    assert "no node key pinned" in printed[1]
    assert printed[-1].endswith("failure(s) (未固定节点公钥 node key not pinned)"), printed[-1]
    clean = tmp_path / "good.jsonl"
    await asyncio.to_thread(clean.write_text, "".join(good), encoding="utf-8")
    key = json.loads(good[0])["node_key"]
    assert await asyncio.to_thread(main, ["audit", "verify", str(clean), "--node-key", key]) == 0
    out = capsys.readouterr().out
    assert "no node key pinned" not in out
    assert out.splitlines()[-1] == f"bundle {clean.name}: verified"
    with pytest.raises(SystemExit, match="the node's key is refused"):
        await asyncio.to_thread(main, ["audit", "verify", str(clean), "--node-key", "ed25519:x"])


def test_a_bundle_with_lines_swapped_is_reordered_and_with_one_gone_removed() -> None:
    """audit-log.md, Verification: the words the verifier uses say which it was."""
    from tests.recordings.test_bundle import lines as small, with_tree_heads

    text = small(with_tree_heads(2, extra=5))
    swapped = verify_bundle([*text[:4], text[5], text[4], *text[6:]]).failures
    assert any("event 2: moved or reordered (it follows 3)" in f for f in swapped), swapped
    assert not any("removed" in f or "missing" in f for f in swapped), swapped
    gone = verify_bundle([*text[:4], *text[5:]]).failures
    assert any("event 2: it is missing: removed" in f for f in gone), gone
    assert not any("reordered" in f for f in gone), gone


async def test_opening_closed_carries_the_hash_of_the_final_record(
    harness: Harness, settings: Settings, tmp_path: Path
) -> None:
    """audit-bundle.md 4.6 and audit-log.md: `record_hash` of `opening.closed` is
    hex(SHA-256("bidroom-hash-v1" 0x00 "opening-record" 0x00 JCS(final record)))."""
    lines = await bundle(harness, settings, tmp_path)
    closed = json.loads(lines[event_line(lines, "opening.closed")])["event"]["payload"]
    read_out = json.loads(lines[event_line(lines, "opening.record_published")])["event"]
    final = closed["record"]
    labelled = b"bidroom-hash-v1\x00opening-record\x00" + canonical_json(final)
    assert closed["record_hash"] == hashlib.sha256(labelled).hexdigest()
    assert final["type"] == "opening-record-final"
    assert final["record_hash"] == read_out["payload"]["record_hash"] != closed["record_hash"]


async def test_enrolment_records_in_a_bundle_carry_the_encryption_key(
    harness: Harness, settings: Settings, tmp_path: Path
) -> None:
    lines = await bundle(harness, settings, tmp_path)
    people = [json.loads(lines[i])["event"]["payload"] for i in lines_of("participant", lines)]
    assert people
    for person in people:
        assert set(person) == {"id", "role", "name", "public_key", "encryption_key", "attributes"}
        assert str(person["encryption_key"]).startswith("x25519:")
