"""What an insider reading the data directory learns before the deadline: no bidder.

A real tender on a real SQLite data directory, through the HTTP API: three bidders submit (one
revises with a larger bid), sign in, and a fourth leaves an upload unfinished. Then every file
of the data directory is read byte for byte, the way the attack campaign did (issue 9, item 5).
Afterwards the node, with its key, still opens every bid, and the log verifies offline.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from crypto import canonical_json, parse_json
from evaluator_client import bidding
from recordings.audit import record_hash
from server.cli import main
from server.domain.access import Role
from server.service.node_keys import NodeKeys
from server.storage.sqlite_schema import stored_rows
from tests.server.transport.opening_world import build_world

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import pytest

    from server.config import Settings
    from tests.conftest import Harness
    from tests.server.transport.opening_world import World


def spellings(text: str) -> Iterator[bytes]:
    """The forms a value takes on disk: raw UTF-8, and JSON with and without escapes."""
    yield text.encode("utf-8")
    yield json.dumps(text).encode("ascii")
    yield json.dumps(text, ensure_ascii=False).encode("utf-8")


def read_everything(root: Path) -> dict[str, bytes]:
    """Every file under `root`, by its path relative to `root`."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def found(needles: list[bytes], files: dict[str, bytes]) -> list[str]:
    return [
        f"{needle!r} in {name}"
        for name, data in files.items()
        for needle in needles
        if needle in data or needle in name.encode()
    ]


async def leave_an_upload_unfinished(world: World) -> list[bytes]:
    """A fourth bidder sends the first 100,000 bytes of its sealed bid, and no more."""
    person = await world.harness.person(Role.BIDDER, "投标人4 Bidder 4")
    session = await world.login(person)
    world.sessions.append(session)
    sealed = await world.seal(person, "bidder4", padding=200_000)
    data = await asyncio.to_thread(sealed.read_bytes)
    started = await session.post(
        f"/api/tenders/{world.tender}/lots/L1/uploads",
        {"size": len(data), "sha256": await asyncio.to_thread(bidding.file_sha256, sealed)},
    )
    answer = await session.put_bytes(f"/api/uploads/{started['upload']}?offset=0", data[:100_000])
    assert answer["received"] == 100_000
    return [*spellings(person.id), *spellings(person.participant.name)]


async def test_a_disk_reader_before_the_deadline_learns_no_bidder(
    harness: Harness, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = await build_world(harness, tmp_path, count=3)
    try:
        larger = await world.seal(world.bidders[0].person, "bidder1-revised", padding=200_000)
        await world.submit(world.bidders[0], larger)  # a file longer than the sealed head
        needles = await leave_an_upload_unfinished(world)
        await world.advance_to_sign_in()
        for bidder in world.bidders:
            await bidder.session.post(f"/api/tenders/{world.tender}/opening/sign-in")
            needles += [*spellings(bidder.id), *spellings(bidder.person.participant.name)]
        served = await box_as_served(world)
        disk = await asyncio.to_thread(read_everything, settings.data_dir)
        assert any(name.startswith("bids/") for name in disk)  # the bids are there, sealed
        assert found(needles, disk) == []
        bid_files = {n: d for n, d in disk.items() if n.startswith(("bids/", "uploads/"))}
        assert found([*spellings(world.tender)], bid_files) == []

        await world.advance_to_deadline()
        await harness.post_ok(f"/api/tenders/{world.tender}/opening/start", {}, world.host)
        for bidder in world.bidders:
            key = await world.file_key(bidder)
            status = await bidding.decrypt(bidder.session, world.tender, "L1", key)
            assert status["status"] == "decrypted"
        await verify_offline(world, settings, capsys, served)
    finally:
        await world.close()


async def box_as_served(world: World) -> list[tuple[dict[str, Any], str]]:
    """The bid box's records and hashes as the node sends them to a supervisor."""
    if world.supervisor is None:
        world.supervisor = await world.harness.person(Role.SUPERVISOR, "监督员 supervisor")
    path = f"/api/tenders/{world.tender}/bid-box/events"
    status, page = await world.harness.call("GET", path, world.supervisor)
    assert status == 200, page
    return [(item["event"], item["hash"]) for item in page["events"]]


async def verify_offline(
    world: World, settings: Settings, capsys: pytest.CaptureFixture[str],
    served: list[tuple[dict[str, Any], str]],
) -> None:  # fmt: skip
    """`bidroom audit verify` on the data directory ends each chain where the node's ends, and
    the box's records it opens are, byte for byte, those served before the deadline."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["audit", "verify", "--data-dir", str(settings.data_dir)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0, lines
    store = world.harness.node.store
    heads = {stream: await store.head(stream) for stream in await store.streams()}
    assert sorted(lines) == sorted(
        f"OK      {stream}: {head.seq} events, head {head.hash}" for stream, head in heads.items()
    )
    sealer = NodeKeys(world.harness.node.key).records
    box = f"{world.tender}-box"
    rows = await asyncio.to_thread(lambda: list(stored_rows(settings.database_path, box, sealer)))
    assert [(parse_json(body), digest) for _, body, digest in rows[: len(served)]] == served
    assert [record_hash(canonical_json(event)) for event, _ in served] == [h for _, h in served]
