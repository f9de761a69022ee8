"""An expert's workstation commands, and `bidroom draw verify`, against a node on a real socket."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from server.audit_export import export_bundle
from tests.server.test_cli_bidder import Cli, write_keys
from tests.server.transport.evaluation_world import build_evaluation

if TYPE_CHECKING:
    from pathlib import Path

    from server.config import Settings
    from tests.conftest import Harness

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The commands sign logins with this machine's clock; the node runs on the test's clock.
    return replace(settings, max_clock_skew_seconds=30 * 86400)


async def test_a_committee_evaluates_from_the_command_line(
    harness: Harness, settings: Settings, tmp_path: Path, capsys: Capture
) -> None:
    ev = await build_evaluation(harness, tmp_path)
    try:
        await run(ev.harness, ev, settings, tmp_path, capsys)
    finally:
        await ev.close()


async def run(harness: Harness, ev: Any, settings: Settings, tmp: Path, capsys: Capture) -> None:
    cli = Cli(harness, capsys, tmp)
    await ev.draw()
    await ev.start()
    members = await ev.members()
    flags: dict[str, list[str]] = {}
    for expert in members:
        files = await asyncio.to_thread(write_keys, tmp, ev.experts[expert])
        flags[expert] = [*cli.node(ev.experts[expert], files), "--tender", ev.tender]
    code, seats, _ = await cli("expert", "login", *flags[members[0]][:-2])
    assert (code, [s["tender"] for s in seats["seats"]]) == (0, [ev.tender])
    for expert in members[:-1]:
        code, acks, _ = await cli("expert", "join", *flags[expert])
        assert (code, [a["type"] for a in acks]) == (
            0, ["evaluation.checked_in", "evaluation.pledged"]
        )  # fmt: skip
    code, _, live = await cli("expert", "join", *flags[members[-1]], "--until", "election")
    assert code == 0
    assert "evaluation.stage_opened" in live
    for expert in members:
        code, acks, _ = await cli("expert", "vote", *flags[expert], members[0])
        assert (code, acks[0]["type"]) == (0, "evaluation.vote_cast")
    code, _, err = await cli("expert", "vote", *flags[members[1]], members[0])
    assert code == 1
    assert "WrongStage" in err
    code, bids, _ = await cli("expert", "bids", *flags[members[0]], "--out", str(tmp / "bids"))
    assert code == 0
    saved = [tmp / "bids" / f"{b['bidder']}.package" for b in bids]
    assert all(
        size > 0 for size in await asyncio.to_thread(lambda: [p.stat().st_size for p in saved])
    )
    review = tmp / "review.json"
    sheet = {b["bidder"]: {"C1": {"pass": True, "reason": ""}, "C2": {"pass": True, "reason": ""}}
             for b in bids}  # fmt: skip
    await asyncio.to_thread(review.write_text, json.dumps(sheet), encoding="utf-8")
    scores = tmp / "scores.json"
    entries = [{"bidder": b["bidder"], "scores": {"T1": "24", "T2": "15", "T3": "16"},
                "comment": "按细则"} for b in bids]  # fmt: skip
    await asyncio.to_thread(scores.write_text, json.dumps(entries, ensure_ascii=False), "utf-8")
    for expert in members:
        code, acks, _ = await cli("expert", "review", *flags[expert], str(review))
        assert (code, acks[0]["type"]) == (0, "evaluation.compliance_submitted")
    for expert in members:
        code, acks, _ = await cli("expert", "score", *flags[expert], str(scores))
        assert (code, len(acks)) == (0, len(bids))
    # Signing shows the report's hash and ranking, then asks; with no terminal it needs --yes.
    code, _, err = await cli("expert", "sign", *flags[members[0]])
    assert code == 2
    assert err.splitlines()[-1] == (
        "bidroom: 签名前需要您确认，但输入不是终端：看过上面显示的内容后，加 --yes 重新运行。"
    )
    assert "报告哈希" in err
    assert "第 1 名" in err
    for expert in members[:-1]:
        code, acks, err = await cli("expert", "sign", *flags[expert], "--yes")
        assert (code, acks[0]["type"]) == (0, "evaluation.report_signed")
        assert f"将以 {expert} 的身份签署此报告。" in err
    code, acks, _ = await cli(
        "expert", "sign", *flags[members[-1]], "--dissent", "权重不合理", "--yes"
    )
    assert (code, acks[0]["type"]) == (0, "evaluation.report_dissented")

    bundle = tmp / "bundle.jsonl"
    await asyncio.to_thread(export_bundle, settings, ev.tender, bundle, datetime.now(UTC))
    code, out, _ = await cli("draw", "verify", str(bundle))
    assert code == 0, out
    assert "1 draw(s) and 0 replacement(s) re-run" in out
    assert "no node key pinned" in out  # audit-bundle.md 4.2: said loudly
    assert all(expert in out for expert in members)
    code, out, _ = await cli("audit", "verify", str(bundle))
    assert code == 0, out
    assert "report-signature signatures" in out
    assert "score-sheet signatures" in out

    # A bundle whose revealed committee was changed no longer verifies.
    lines = (await asyncio.to_thread(bundle.read_text, encoding="utf-8")).splitlines(True)
    tampered = tmp / "tampered.jsonl"
    changed = [line.replace(members[0], members[1]) if "committee_drawn" in line else line
               for line in lines]  # fmt: skip
    await asyncio.to_thread(tampered.write_text, "".join(changed), encoding="utf-8")
    code, out, _ = await cli("draw", "verify", str(tampered))
    assert code == 1
    assert "FAILED" in out
