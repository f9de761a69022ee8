"""Event stores: PostgreSQL against SQLite, measured in the same run on the same disk.

Append: `writers` concurrent commands through Ledger.execute, each awaiting its durable ack
before the next, over `streams` streams; the store group-commits what queued while a
transaction was in flight. Verify: the offline check of every stream's chain on its stored
bytes (server.backends.stored_log(...).verify), as `bidroom audit verify` runs it.

Both are durable: SQLite with its normal settings (WAL, synchronous=FULL); PostgreSQL is a
throwaway cluster this benchmark starts (tests/postgres_server.py) with fsync, synchronous
commit and full page writes ON, reached over TCP on loopback.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.append import EVENT, ORIGIN, SEALER
from bench.common import percentile, table
from server.backends import stored_log
from server.clock import SystemClock
from server.config import Settings
from server.service.ledger import Ledger
from server.service.node import aggregate_for
from server.storage.postgres import PostgresEventStore
from server.storage.sqlite import SQLiteEventStore
from tests.postgres_server import PostgresCluster

Store = SQLiteEventStore | PostgresEventStore


@dataclass(frozen=True)
class Sizes:
    writers: int
    per_writer: int
    streams: int


FULL = Sizes(writers=32, per_writer=500, streams=32)
QUICK = Sizes(writers=4, per_writer=5, streams=2)


@dataclass
class Result:
    appended_per_second: float
    latencies: list[float]
    events_per_commit: float
    verified_per_second: float


def settings_for(kind: str, data_dir: Path, url: str) -> Settings:
    if kind == "postgres":
        return Settings(data_dir=data_dir, event_store="postgres", database_url=url)
    return Settings(data_dir=data_dir)


async def append(store: Store, sizes: Sizes) -> tuple[float, list[float], float]:
    """events/s, ack latencies (s), events per commit."""
    await store.start()
    try:
        ledger = Ledger(store, SystemClock(), aggregate_for)
        names = [f"t-store-{i}" for i in range(sizes.streams)]
        for name in names:
            await ledger.load(name)
        latencies: list[float] = []

        async def writer(index: int) -> None:
            stream = names[index % sizes.streams]
            for _ in range(sizes.per_writer):
                began = time.perf_counter()
                await ledger.execute(stream, ORIGIN, lambda _: [EVENT])
                latencies.append(time.perf_counter() - began)

        commits_before = store.commits
        start = time.perf_counter()
        await asyncio.gather(*(writer(i) for i in range(sizes.writers)))
        elapsed = time.perf_counter() - start
        commits = store.commits - commits_before
    finally:
        await store.close()
    events = sizes.writers * sizes.per_writer
    return events / elapsed, latencies, events / max(1, commits)


def verify(settings: Settings, streams: int, expected: int) -> float:
    """events/s of the offline chain check, stream by stream."""
    log = stored_log(settings, SEALER)
    names = [name for name in log.streams() if name.startswith("t-store-")]
    assert len(names) == streams
    start = time.perf_counter()
    verified = sum(log.verify(name).seq for name in names)
    elapsed = time.perf_counter() - start
    assert verified == expected
    return verified / elapsed


async def measure(kind: str, data_dir: Path, url: str, sizes: Sizes) -> Result:
    settings = settings_for(kind, data_dir, url)
    store: Store = (
        PostgresEventStore(url, SEALER)
        if kind == "postgres"
        else SQLiteEventStore(settings.database_path, SEALER)
    )
    rate, latencies, per_commit = await append(store, sizes)
    expected = sizes.writers * sizes.per_writer
    verified = await asyncio.to_thread(verify, settings, sizes.streams, expected)
    return Result(rate, latencies, per_commit, verified)


def report(results: dict[str, Result], sizes: Sizes) -> str:
    base = results["sqlite"]
    rows = []
    for kind, label in (("sqlite", "baseline: SQLite (WAL, FULL)"), ("postgres", "PostgreSQL")):
        result = results[kind]
        rows.append([
            label,
            f"{result.appended_per_second:,.0f}",
            f"{result.appended_per_second / base.appended_per_second:.2f}x",
            f"{percentile(result.latencies, 0.5) * 1e3:.2f}",
            f"{percentile(result.latencies, 0.99) * 1e3:.2f}",
            f"{result.events_per_commit:.1f}",
            f"{result.verified_per_second:,.0f}",
            f"{result.verified_per_second / base.verified_per_second:.2f}x",
        ])  # fmt: skip
    out = [
        "Event stores: append and offline verify (both durable; PostgreSQL with fsync on)",
        f"\n{sizes.writers} concurrent appenders x {sizes.per_writer} events,"
        f" over {sizes.streams} streams",
        table(
            rows,
            [
                "store",
                "appended/s",
                "vs SQLite",
                "p50 ack ms",
                "p99 ack ms",
                "events/commit",
                "verified/s",
                "vs SQLite",
            ],
        ),
    ]
    return "\n".join(out)


def run(quick: bool = False) -> str:
    sizes = QUICK if quick else FULL
    cluster = PostgresCluster(fsync=True)
    try:
        cluster.create()
        cluster.start()
        url = cluster.url(cluster.new_database())
        with tempfile.TemporaryDirectory() as tmp:
            results = {
                kind: asyncio.run(measure(kind, Path(tmp) / kind, url, sizes))
                for kind in ("sqlite", "postgres")
            }
    finally:
        cluster.destroy()
    return report(results, sizes)


if __name__ == "__main__":
    print(run())
