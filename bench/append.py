"""Audit append: durable events/s and ack latency, against one fsync per event.

The measured path is the node's own: a domain event goes through Ledger.execute (record built
and hashed, queued, group-committed by the SQLite writer with synchronous=FULL) and is
acknowledged only after its commit. The baseline, in the same run on the same disk, commits
each event in its own transaction, the way a store without group commit would.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import PAYLOAD, percentile, table
from crypto import SigningKey
from recordings.audit import GENESIS, AuditRecord
from server.clock import SystemClock
from server.domain.events import CommandRejected
from server.protocol.times import format_time
from server.service.ledger import Ledger, Origin
from server.service.node import aggregate_for
from server.service.node_keys import NodeKeys
from server.storage.sqlite import SQLiteEventStore
from server.storage.sqlite_schema import connect, initialize

ORIGIN = Origin("p-0123456789ab", "bidder", "203.0.113.77")
EVENT = CommandRejected(PAYLOAD["command"], PAYLOAD["rule"], PAYLOAD["reason"])
SEALER = NodeKeys(SigningKey.generate()).records  # the node seals every record at rest


def baseline(path: Path, count: int) -> tuple[float, list[float]]:
    """The same record building and hashing, but one transaction (one fsync) per event."""
    initialize(path, SEALER)
    conn = connect(path)
    latencies = []
    prev = GENESIS
    start = time.perf_counter()
    for seq in range(1, count + 1):
        began = time.perf_counter()
        record = AuditRecord.create(
            stream="t-base", seq=seq, prev=prev, type=EVENT.TYPE, actor_id=ORIGIN.id,
            actor_role=ORIGIN.role, address=ORIGIN.address, time=format_time(datetime.now(UTC)),
            payload=EVENT.payload(), visibility=EVENT.visibility(),
        )  # fmt: skip
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO events (stream, seq, type, time, body, hash) VALUES (?, ?, ?, ?, ?, ?)",
            (record.stream, record.seq, record.type, record.time, record.body, record.hash),
        )
        conn.execute("COMMIT")
        prev = record.hash
        latencies.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - start
    conn.close()
    return count / elapsed, latencies


async def measured(
    path: Path, writers: int, per_writer: int, streams: int
) -> tuple[float, list[float], int]:
    """`writers` concurrent commands, each awaiting its ack before the next, over `streams`."""
    store = SQLiteEventStore(path, SEALER)
    await store.start()
    ledger = Ledger(store, SystemClock(), aggregate_for)
    names = [f"t-bench-{i}" for i in range(streams)]
    for name in names:
        await ledger.load(name)
    latencies: list[float] = []

    async def writer(index: int) -> None:
        stream = names[index % streams]
        for _ in range(per_writer):
            began = time.perf_counter()
            await ledger.execute(stream, ORIGIN, lambda _: [EVENT])
            latencies.append(time.perf_counter() - began)

    start = time.perf_counter()
    await asyncio.gather(*(writer(i) for i in range(writers)))
    elapsed = time.perf_counter() - start
    commits = store.commits
    await store.close()
    return writers * per_writer / elapsed, latencies, commits


def run(quick: bool = False) -> str:
    scale = 1 if quick else 4
    out = ["Audit append (durable: WAL, synchronous=FULL; acks only after commit)"]
    with tempfile.TemporaryDirectory() as tmp:
        base_rate, base_lat = baseline(Path(tmp) / "base.sqlite3", 300 * scale)
        p50, p99 = (f"{percentile(base_lat, q) * 1e3:.2f}" for q in (0.5, 0.99))
        rows = [["baseline: 1 commit per event", 1, f"{base_rate:,.0f}", "1.00x", p50, p99, "-"]]
        cases = [(1, 1), (16, 16), (256, 64), (256, 1)]
        for writers, streams in cases:
            per_writer = max(20, 2000 * scale // writers)
            path = Path(tmp) / f"node-{writers}-{streams}.sqlite3"
            rate, latencies, commits = asyncio.run(measured(path, writers, per_writer, streams))
            events = writers * per_writer
            rows.append([
                f"bidroom: {writers} concurrent writers, {streams} streams",
                writers,
                f"{rate:,.0f}",
                f"{rate / base_rate:.2f}x",
                f"{percentile(latencies, 0.5) * 1e3:.2f}",
                f"{percentile(latencies, 0.99) * 1e3:.2f}",
                f"{events / commits:.1f}",
            ])  # fmt: skip
    header = [
        "case",
        "in flight",
        "events/s",
        "vs baseline",
        "p50 ack ms",
        "p99 ack ms",
        "events/commit",
    ]
    out.append(table(rows, header))
    return "\n".join(out)


if __name__ == "__main__":
    print(run())
