"""Audit bundles: exported from a node after a real opening, checked with no server, and every
tamper case named (docs/spec/audit-bundle.md)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from crypto import SigningKey, canonical_json
from evaluator_client import bidding
from recordings.audit import record_hash
from recordings.bundle import verify_bundle
from server.audit_export import export_bundle
from server.cli import main
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


def swapped_bidder_key(lines: list[str]) -> list[str]:
    signer = json.loads(lines[event_line(lines, "opening.confirmed")])["event"]["payload"]["bidder"]
    index = next(i for i in lines_of("participant", lines) if signer in lines[i])
    other = SigningKey.generate().verify_key.to_text()
    return rewrite(lines, index, lambda v: v.update(public_key=other))


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
        (swapped_bidder_key, "does not verify with its key"),
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
    signer = json.loads(lines[event_line(lines, "opening.confirmed")])["event"]["payload"]["bidder"]
    return [line for line in lines if not ('"participant"' in line and signer in line)]


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
        (without_signer, "has no participant line"),
    ],
)
async def test_what_is_inside_the_events_is_checked(
    harness: Harness, settings: Settings, tmp_path: Path,
    tamper: Callable[[list[str]], list[str]], named: str,
) -> None:  # fmt: skip
    report = verify_bundle(tamper(await bundle(harness, settings, tmp_path)))
    assert any(named in failure for failure in report.failures), report.failures


async def test_the_command_line_exports_and_verifies(
    harness: Harness, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = await bundle(harness, settings, tmp_path)
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    await asyncio.to_thread(good.write_text, "".join(lines), encoding="utf-8")
    await asyncio.to_thread(bad.write_text, "".join(edited(lines)), encoding="utf-8")
    assert await asyncio.to_thread(main, ["audit", "verify", str(good)]) == 0
    assert "verified" in capsys.readouterr().out
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
