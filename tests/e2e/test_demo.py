"""The README's first command, as a user runs it: `bidroom demo` in a fresh process."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


async def test_the_demo_runs_and_verifies_its_audit_log(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "demo", "--data-dir", str(tmp_path / "demo"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    text = out.decode()
    assert process.returncode == 0, err.decode()[-2000:]
    assert "audit log verified" in text
    assert "refused: 403 forbidden" in text
    assert "OpeningTimeNotReached" in text
    assert "reconnected 1x" in text
    for watcher in ("bidder-1", "bidder-2", "bidder-3", "visitor"):
        assert f"{watcher:<11} events [2, 3, 6, 7]" in text
    assert "supervisor  events [1, 2, 3, 4, 5, 6, 7]" in text
