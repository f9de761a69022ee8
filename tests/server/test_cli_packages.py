"""A bid package downloaded in constant memory, and `bidroom expert unpack` taking it apart."""

from __future__ import annotations

import asyncio
import io
import json
import tracemalloc
import zipfile
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from crypto import canonical_json
from server.cli import main
from server.domain.access import Role
from tests.server.test_cli_bidder import Cli, write_keys
from tests.server.transport.opening_world import build_world
from tests.server.transport.test_opening import to_opening

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from server.config import Settings
    from tests.conftest import Harness

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The commands sign logins with this machine's clock; the node runs on the test's clock.
    return replace(settings, max_clock_skew_seconds=30 * 86400)


PADDING = 6 * 1024 * 1024  # incompressible: the package is this big and more


async def peak_of(work: Callable[[], Awaitable[object]]) -> int:
    """The most memory Python held at once while `work` ran, above what it held before."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        await work()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def package_of(entries: dict[str, bytes]) -> bytes:
    sheet = canonical_json({"v": 1, "price": "1.00"})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, data in entries.items():
            zipped.writestr(name, data)
    prefix = b"BIDROOM-BID-PACKAGE/1\n" + len(sheet).to_bytes(4, "big")
    return prefix + sheet + archive.getvalue()


async def test_a_package_streams_to_disk_and_unpacks(
    harness: Harness, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BIDROOM_LANG", raising=False)
    world = await build_world(harness, tmp_path, count=3)  # an opening needs three bids
    try:
        bidder = world.bidders[0]  # revises its bid into a big one
        await world.submit(bidder, await world.seal(bidder.person, "big", padding=PADDING))
        await to_opening(world)
        # The bidder sends its file key; the node decrypts, a spinner shows meanwhile.
        cli = Cli(harness, capsys, tmp_path)
        files = await asyncio.to_thread(write_keys, tmp_path, bidder.person)
        monkeypatch.setenv("BIDROOM_PROGRESS", "1")
        code, answer, err = await cli(
            "bidder", "decrypt", *cli.node(bidder.person, files), "--tender", world.tender,
            "--lot", "L1", "--encryption-key", str(files["encryption"]), str(bidder.sealed),
        )  # fmt: skip
        assert (code, answer["status"]) == (0, "decrypted"), err
        assert f"节点正在解密 {world.tender}/L1 的投标文件" in err
        monkeypatch.delenv("BIDROOM_PROGRESS")
        session = await world.login(await harness.person(Role.SUPERVISOR, "监督员"))
        world.sessions.append(session)
        path = f"/api/tenders/{world.tender}/lots/L1/bids/{bidder.id}/document"
        target = tmp_path / "big.package"
        handle = await asyncio.to_thread(target.open, "wb")
        sizes: list[int] = []
        try:
            streamed = await peak_of(lambda: session.download(path, handle, sizes.append))
        finally:
            await asyncio.to_thread(handle.close)
        size = (await asyncio.to_thread(target.stat)).st_size
        assert (size > PADDING, sizes[-1], len(sizes) > 4) == (True, size, True)
        held = await peak_of(lambda: session.get_bytes(path))  # the old way, for scale
        assert held > size  # the measure sees a package held whole...
        assert streamed < size // 4, (streamed, size)  # ...and the stream holds a fraction

        out = tmp_path / "unpacked"
        assert await asyncio.to_thread(main, ["expert", "unpack", str(target), str(out)]) == 0
        assert f"已解压到 {out}：开标一览表和 2 个文件" in capsys.readouterr().out
        written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        assert written == [
            "documents/drawings.bin",
            "documents/technical.txt",
            "opening-sheet.json",
        ]
        sheet = json.loads(await asyncio.to_thread((out / "opening-sheet.json").read_text))
        assert (sheet["bidder"], sheet["tender"]) == (bidder.id, world.tender)
        drawings = await asyncio.to_thread((out / "documents" / "drawings.bin").stat)
        assert drawings.st_size == PADDING
    finally:
        await world.close()


@pytest.mark.parametrize(
    ("name", "entries", "words"),
    [
        ("escape", {"ok.txt": b"fine", "../evil.txt": b"x"}, "would be written outside"),
        ("absolute", {"/etc/evil": b"x"}, "would be written outside"),
        ("bomb", {"zeros.bin": bytes(8 * 1024 * 1024)}, "zeros.bin"),
        ("not a package", None, "is not a bid package"),
        ("twice", {"a.txt": b"1", "./a.txt": b"2"}, "appears more than once"),
    ],
)
def test_unpack_refuses_escaping_names_and_bombs_writing_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
    entries: dict[str, bytes] | None, words: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("BIDROOM_LANG", "en")
    package = tmp_path / "bad.package"
    package.write_bytes(b"PK\x03\x04 a plain zip" if entries is None else package_of(entries))
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match=words):
        main(["expert", "unpack", str(package), str(out)])
    assert not out.exists() or list(out.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()
