"""The benchmark harness still runs (at toy sizes). No timing is asserted here: see bench/."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from bench import (
    append,
    connections,
    decrypt,
    fanout,
    join,
    media,
    merkle,
    sheets,
    sites,
    store,
    upload,
    verify,
)
from bench.common import records
from crypto import EncryptionKey
from tests.crypto.certs import self_signed

if TYPE_CHECKING:
    from pathlib import Path

KEY = EncryptionKey.generate()


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


async def test_decrypt_harness_opens_every_bid(tmp_path: Path) -> None:
    bids = [
        await asyncio.to_thread(decrypt.seal, tmp_path, f"b{i}", 300_000, KEY) for i in range(3)
    ]
    files = await asyncio.to_thread(decrypt.node_files, tmp_path)
    for bid in bids:
        await asyncio.to_thread(decrypt.store, files, bid)
    assert await asyncio.to_thread(decrypt.open_all, files, bids, 2) > 0
    assert await asyncio.to_thread(decrypt.read_only, bids, 2) > 0
    key, chunks = await asyncio.to_thread(decrypt.ciphertext, 3 * decrypt.MIB)
    assert len(chunks) == 3
    assert await asyncio.to_thread(decrypt.raw_gcm, key, chunks, 2) > 0
    before, after = await asyncio.to_thread(decrypt.peak_rss_mib, tmp_path, bids[0])
    assert 0 < before <= after


async def test_upload_harness_gets_every_receipt(tmp_path: Path) -> None:
    ours, paths = await upload.measured(tmp_path, 3, 100_000)
    assert (len(ours.receipts), len(paths), ours.seconds > 0) == (3, 3, True)
    bare = await upload.baseline(tmp_path, paths)
    assert len(bare.receipts) == 3


async def test_merkle_harness_makes_and_checks_proofs(tmp_path: Path) -> None:
    chain = records(merkle.STREAM, 600)
    bodies = [r.body.encode() for r in chain]
    _, root = merkle.build(bodies)
    assert merkle.raw(bodies) > 0
    rows = await merkle.proofs(tmp_path / "log.sqlite3", 600, bodies, root)
    assert [row[0] for row in rows] == ["2", "60", "600"]


async def test_sheets_harness_gets_every_ack_and_report(tmp_path: Path) -> None:
    sizes = sheets.QUICK
    result = await sheets.measured(tmp_path, sizes)
    assert (len(result.latencies_ms), len(result.sheets)) == (sizes.sheets, sizes.sheets)
    assert result.reports == sizes.rooms  # no check flagged a sheet: every room reported
    rates = await asyncio.to_thread(sheets.verify_rates, result.sheets, 1)
    assert all(rate > 0 for rate in rates.values())
    assert "vs raw Ed25519" in sheets.report(result, rates)
    assert sheets.sizes_from(False, ["--rooms=3"]) == sheets.Sizes(3, 7, 30)


async def test_connections_harness_measures_plain_and_tls(tmp_path: Path) -> None:
    await asyncio.to_thread(self_signed, tmp_path)
    plain_authenticated, tls_after = connections.CASES[1], connections.CASES[3]
    for case, mode in ((plain_authenticated, "bidroom"), (tls_after, "aiohttp")):
        cost = await asyncio.to_thread(connections.measure, case, mode, 20, tmp_path)
        assert isinstance(cost, float)  # RSS over 20 connections is noise: no figure is checked


async def test_join_harness_joins_every_member_both_ways(tmp_path: Path) -> None:
    sizes = join.QUICK
    result = await join.measured(tmp_path, sizes)
    assert [run.mode for run in result.runs] == [*join.MODES] * join.ROUNDS
    assert all(len(run.latencies_ms) == sizes.members for run in result.runs)
    # From 0 every member folds its room's past; from the view there is nothing to fold.
    assert sum(result.best("replay").events) > sum(result.best("view").events) == 0
    assert "vs replay" in join.report(result)
    assert join.sizes_from(False, ["--rooms=3"]) == join.Sizes(3, 7, 30)


async def test_store_harness_appends_and_verifies_on_both_stores(
    tmp_path: Path, postgres_url: str
) -> None:
    sizes = store.QUICK
    results = {
        kind: await store.measure(kind, tmp_path / kind, postgres_url, sizes)
        for kind in ("sqlite", "postgres")
    }
    events = sizes.writers * sizes.per_writer
    assert all(len(result.latencies) == events for result in results.values())
    assert all(result.verified_per_second > 0 for result in results.values())
    assert "vs SQLite" in store.report(results, sizes)


@pytest.mark.timeout(180)
async def test_sites_harness_delivers_through_edges_and_forwards_commands(
    tmp_path: Path,
) -> None:
    sizes = sites.Sizes(watchers=8, events=3, interval_ms=10.0, commands=5, edges=(0, 2))
    result = await sites.measured(tmp_path, sizes)
    assert [run.edges for run in result.fanouts] == [0, 2]
    assert all(len(run.latencies_ms) == 3 for run in result.fanouts)
    assert (len(result.at_home_ms), len(result.at_edge_ms), len(result.redis_ms)) == (5, 5, 5)
    result.baseline_ms = await asyncio.to_thread(sites.baseline, sizes)
    assert "an edge adds" in sites.report(result)


@pytest.mark.timeout(120)
async def test_media_harness_measures_the_relay_and_aiortc_default() -> None:
    sizes = media.Sizes(viewers=(1, 2), window=1.0, rss_window=0.5, rss_viewers=2)
    results = {mode: await asyncio.to_thread(media.measure, mode, sizes) for mode in media.MODES}
    for result in results.values():
        assert [point.viewers for point in result.points] == [1, 2]
        assert all(point.cpu > 0 and point.fps > 0 for point in result.points)
        assert result.rss_mib is not None
    assert "viewers per core" in media.report(results, sizes)
    assert media.sizes_from(True, ["--minutes=2"]).rss_window == 120
