"""`bidroom bidder submit` refuses, on the bidder's machine, what the node would take in vain.

A real node on a socket; the bidder's command runs as a user runs it. Each refusal is one line
with its own exit code, and the node sees no upload at all.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from server.cli import messages
from tests.server.test_cli_bidder import Cli, write_keys
from tests.server.transport.opening_world import build_world

if TYPE_CHECKING:
    from pathlib import Path

    from server.config import Settings
    from tests.conftest import Harness

Capture = pytest.CaptureFixture[str]
PADDING = 300_000  # incompressible bytes: a sealed file of several 64 KiB chunks


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The commands sign logins with this machine's clock; the node runs on the test's clock.
    return replace(settings, max_clock_skew_seconds=30 * 86400)


def damaged(sealed: Path, name: str, *, cut: int = 0, flip: int | None = None) -> Path:
    data = bytearray(sealed.read_bytes())
    if flip is not None:
        data[flip] ^= 0x01
    out = sealed.with_name(name)
    out.write_bytes(bytes(data[: len(data) - cut]))
    return out


def uploads_seen(settings: Settings) -> list[str]:
    """Every upload the node has started or kept: its upload area and its stored bids."""
    areas = [settings.data_dir / "uploads", settings.data_dir / "bids"]
    return [p.name for area in areas if area.is_dir() for p in area.iterdir()]


async def test_a_damaged_or_duplicate_file_is_refused_before_anything_is_sent(
    harness: Harness, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BIDROOM_LANG", raising=False)
    world = await build_world(harness, tmp_path, count=2, submit=False)
    try:
        cli = Cli(harness, capsys, tmp_path)
        bidder, other = world.bidders[0].person, world.bidders[1].person
        files = await asyncio.to_thread(write_keys, tmp_path, bidder)
        others = await asyncio.to_thread(write_keys, tmp_path, other)
        sealed = await world.seal(bidder, "big", padding=PADDING)
        size = (await asyncio.to_thread(sealed.stat)).st_size
        unwrapped = await world.seal(bidder, "unwrapped", opening_key=None)
        plain = tmp_path / "plain.zip"
        await asyncio.to_thread(plain.write_bytes, b"PK\x03\x04 not sealed at all")
        cases = {
            "truncated": (
                await asyncio.to_thread(damaged, sealed, "cut.sealed", cut=1000),
                files, messages.EXIT_CORRUPT, "已损坏或不完整",
            ),
            "corrupted": (
                await asyncio.to_thread(damaged, sealed, "flip.sealed", flip=size // 2),
                files, messages.EXIT_CORRUPT, "Chunk",
            ),
            "not sealed": (plain, files, messages.EXIT_NOT_SEALED, "不是密封投标文件"),
            "another's key": (sealed, others, messages.EXIT_NOT_YOURS, "无法用你的加密密钥打开"),
            "no opening key": (
                unwrapped, files, messages.EXIT_NO_OPENING_KEY, "没有同时密封给本项目",
            ),
        }  # fmt: skip
        for case, (path, keys, code, words) in cases.items():
            with pytest.raises(SystemExit) as ended:
                await cli(
                    "bidder", "submit", *cli.node(bidder, files), "--tender", world.tender,
                    "--lot", "L1", "--encryption-key", str(keys["encryption"]), str(path),
                )  # fmt: skip
            err = capsys.readouterr().err
            assert (case, ended.value.code) == (case, code), err
            assert words in err, (case, err)
            assert len(err.strip().splitlines()) == 1, err
        assert await asyncio.to_thread(uploads_seen, harness.node.settings) == []

        # The whole file goes in; the same file again is refused before a byte is sent.
        flags = [*cli.node(bidder, files), "--tender", world.tender, "--lot", "L1"]
        flags += ["--encryption-key", str(files["encryption"]), str(sealed)]
        code, answer, _ = await cli("bidder", "submit", *flags)
        assert (code, answer["receipt"]["size"]) == (0, size)
        before = await asyncio.to_thread(uploads_seen, harness.node.settings)
        monkeypatch.setenv("BIDROOM_LANG", "en")
        with pytest.raises(SystemExit) as ended:
            await cli("bidder", "submit", *flags)
        err = capsys.readouterr().err
        assert ended.value.code == messages.EXIT_DUPLICATE
        assert f"already has this very file (receipt 1, sha256 {answer['receipt']['sha256']}" in err
        assert await asyncio.to_thread(uploads_seen, harness.node.settings) == before
        events = await world.box_events()
        assert [e["type"] for e in events if e["type"].startswith("bid.")] == ["bid.submitted"]
    finally:
        await world.close()


async def test_progress_shows_when_forced_and_stays_quiet_when_piped(
    harness: Harness, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIDROOM_LANG", "en")
    world = await build_world(harness, tmp_path, count=1, submit=False)
    try:
        cli = Cli(harness, capsys, tmp_path)
        bidder = world.bidders[0].person
        files = await asyncio.to_thread(write_keys, tmp_path, bidder)
        package = tmp_path / "package"
        await asyncio.to_thread(package.mkdir)
        await asyncio.to_thread((package / "drawings.bin").write_bytes, os.urandom(PADDING))
        sheet = tmp_path / "sheet.json"
        await asyncio.to_thread(
            sheet.write_text,
            '{"price": "12.00", "duration_days": 1, "quality": "q", "project_manager": "m",'
            ' "extra": {"warranty_years": "1"}}',
        )
        node = [*cli.node(bidder, files), "--tender", world.tender, "--lot", "L1"]
        key = ["--encryption-key", str(files["encryption"])]
        seal = [*node, *key, "--sheet", str(sheet), "--package", str(package)]
        monkeypatch.setenv("BIDROOM_PROGRESS", "0")
        code, _, quiet = await cli("bidder", "seal", *seal, "--out", str(tmp_path / "q.sealed"))
        assert (code, quiet) == (0, "")
        monkeypatch.setenv("BIDROOM_PROGRESS", "1")
        out = tmp_path / "p.sealed"
        code, _, sealing = await cli("bidder", "seal", *seal, "--out", str(out))
        assert code == 0
        assert "Sealing p.sealed" in sealing
        code, _, submitting = await cli("bidder", "submit", *node, *key, str(out))
        assert code == 0
        size = (await asyncio.to_thread(out.stat)).st_size
        whole = f"{size / 1000:.1f}/{size / 1000:.1f} kB"  # done/total, as rich writes sizes
        for label in ("Checking p.sealed", "Uploading p.sealed"):
            last = [s for s in submitting.split("\r") if label in s][-1]  # the bar's last redraw
            assert whole in last, submitting
    finally:
        await world.close()
