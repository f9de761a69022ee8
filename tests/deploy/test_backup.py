"""Backup and restore of a data directory: taken while the node serves, restored elsewhere, and
the restored log verified by `bidroom audit verify` in a process of its own."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING

import pytest

from server.app import create_app
from server.cli import main
from server.cli.backup import MANIFEST, BackupError, back_up, restore
from server.config import Settings
from server.domain.access import Role
from tests.conftest import Harness
from tests.server.transport.opening_world import Bidder, World, build_world

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.conftest import AiohttpClient


@pytest.fixture
async def world(harness: Harness, tmp_path: Path) -> AsyncIterator[World]:
    built = await build_world(harness, tmp_path, count=2)
    yield built
    await built.close()


async def bidroom(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 45)
    return await process.wait(), out.decode()


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


async def test_a_backup_taken_while_serving_restores_and_verifies(
    world: World, settings: Settings, tmp_path: Path, aiohttp_client: AiohttpClient
) -> None:
    # A third bid goes in while the backup runs: the snapshot holds it or not, whole either way.
    person = await world.harness.person(Role.BIDDER, "投标人3 Bidder 3")
    late = Bidder(person, await world.login(person), await world.seal(person, "bidder3"))
    world.sessions.append(late.session)
    backup = tmp_path / "backup"
    taking = asyncio.create_task(asyncio.to_thread(back_up, settings, backup))
    await world.submit(late, late.sealed)
    manifest = await taking
    bids = [name for name in manifest["files"] if name.startswith("bids/")]
    assert len(bids) >= 2, manifest["files"].keys()
    assert oct((backup / "keys" / "node.pem").stat().st_mode & 0o777) == "0o600"

    restored = tmp_path / "restored"
    await asyncio.to_thread(restore, backup, restored)
    assert files_under(restored) == set(manifest["files"])
    code, out = await bidroom("audit", "verify", "--data-dir", str(restored))
    assert code == 0, out
    assert f"OK      {world.tender}:" in out, out
    assert "BROKEN" not in out

    # A node started on the copy is the same node, and knows each bidder's bid.
    copy = Harness(await aiohttp_client(create_app(
        Settings(data_dir=restored, port=0), clock=world.harness.clock, schedule=False
    )), world.harness.clock)  # fmt: skip
    assert (await copy.call("GET", "/api/node"))[1] == (
        await world.harness.call("GET", "/api/node")
    )[1]
    bidder = world.bidders[0]
    await copy.login(bidder.person)
    status, mine = await copy.call("GET", f"/api/tenders/{world.tender}/bids/mine", bidder.person)
    assert status == 200, mine
    assert mine["bids"][0]["current"] == bidder.receipt


async def test_a_damaged_or_misplaced_restore_is_refused(
    world: World, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "backup"
    source = ["--data-dir", str(settings.data_dir)]
    assert await asyncio.to_thread(main, ["backup", *source, str(backup)]) == 0
    assert "备份完成" in capsys.readouterr().out
    manifest = json.loads((backup / MANIFEST).read_text())
    with pytest.raises(SystemExit, match="已存在，不会覆盖"):
        await asyncio.to_thread(main, ["backup", *source, str(backup)])
    with pytest.raises(BackupError, match="备份不能放在数据目录之内"):
        await asyncio.to_thread(back_up, settings, settings.data_dir / "backup")

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "something").write_text("x")
    with pytest.raises(SystemExit, match="不是空目录"):
        await asyncio.to_thread(main, ["restore", "--data-dir", str(occupied), str(backup)])

    files = manifest["files"]
    bid = max((name for name in files if name.startswith("bids/")), key=lambda n: files[n]["size"])
    damaged = bytearray((backup / bid).read_bytes())
    damaged[-1] ^= 1
    (backup / bid).write_bytes(bytes(damaged))
    with pytest.raises(BackupError, match=f"{bid} 与备份时不同"):
        await asyncio.to_thread(restore, backup, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()

    listed = json.loads((backup / MANIFEST).read_text())
    listed["files"]["../outside"] = {"size": 1, "sha256": "0" * 64}
    (backup / MANIFEST).write_text(json.dumps(listed))
    with pytest.raises(BackupError, match="列出了备份之外的路径"):
        await asyncio.to_thread(restore, backup, tmp_path / "fresh")


def test_the_cli_speaks_english_on_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The command line's own variables are not node settings: the command is not refused.
    monkeypatch.setenv("BIDROOM_LANG", "en")
    monkeypatch.setenv("BIDROOM_PROFILE", "centre")
    with pytest.raises(SystemExit, match="There is no audit log at"):
        main(["backup", "--data-dir", str(tmp_path / "none"), str(tmp_path / "out")])


def test_the_cli_says_what_it_cannot_back_up(tmp_path: Path) -> None:
    postgres = Settings(
        data_dir=tmp_path, event_store="postgres", database_url="postgresql://db/bidroom"
    )
    with pytest.raises(BackupError, match="pg_dump"):
        back_up(postgres, tmp_path / "out")
    with pytest.raises(SystemExit, match="没有审计日志"):
        main(["backup", "--data-dir", str(tmp_path / "none"), str(tmp_path / "out")])
    with pytest.raises(SystemExit, match="不是备份"):
        main(["restore", "--data-dir", str(tmp_path / "new"), str(tmp_path)])
