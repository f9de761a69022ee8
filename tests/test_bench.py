"""The benchmark harness still runs (at toy sizes). No timing is asserted here: see bench/."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from bench import append, fanout, verify

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("mode", fanout.MODES)
async def test_fanout_harness_delivers_every_event_to_every_client(mode: str) -> None:
    result = await asyncio.to_thread(fanout.measure, mode, 8, 3, 1.0)
    assert len(result.latencies_ms) == 3
    assert all(latency > 0 for latency in result.latencies_ms)
    assert result.cpu_seconds > 0


async def test_append_harness_runs(tmp_path: Path) -> None:
    rate, latencies, commits = await append.measured(tmp_path / "a.sqlite3", 4, 5, 2)
    assert (len(latencies), rate > 0, 1 <= commits <= 20) == (20, True, True)
    rate, latencies = await asyncio.to_thread(append.baseline, tmp_path / "b.sqlite3", 5)
    assert len(latencies) == 5


async def test_verify_harness_runs() -> None:
    report = await asyncio.to_thread(verify.run, True)
    assert "vs raw SHA-256" in report
