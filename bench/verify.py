"""Audit verify: events/s of the chain verifier, as a ratio to raw SHA-256 of the same bytes."""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

from bench.common import records, table
from crypto import SigningKey
from recordings.audit import verify_chain
from server.service.node_keys import NodeKeys
from server.storage.sealed_rows import seal_row
from server.storage.sqlite_schema import connect, initialize, stored_rows, verify_stored


def run(quick: bool = False) -> str:
    count = 20_000 if quick else 200_000
    chain = records("t-verify", count)
    rows = [(r.seq, r.body, r.hash) for r in chain]
    bodies = [r.body.encode() for r in chain]
    megabytes = sum(len(b) for b in bodies) / 1e6

    start = time.perf_counter()
    for body in bodies:
        hashlib.sha256(body).digest()
    raw = time.perf_counter() - start

    start = time.perf_counter()
    head = verify_chain("t-verify", rows)
    in_memory = time.perf_counter() - start
    assert head.seq == count

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.sqlite3"
        sealer = NodeKeys(SigningKey.generate()).records
        initialize(path, sealer)
        conn = connect(path)
        conn.executemany(
            "INSERT INTO events (stream, seq, type, time, body, hash) VALUES (?, ?, ?, ?, ?, ?)",
            [seal_row(sealer, r) for r in chain],
        )
        conn.commit()
        conn.close()
        start = time.perf_counter()
        assert verify_stored(path, "t-verify", sealer).seq == count
        from_disk = time.perf_counter() - start
        start = time.perf_counter()
        verify_chain("t-verify", stored_rows(path, "t-verify", sealer))
        row_by_row = time.perf_counter() - start

    lines = [f"Audit verify ({count:,} events, {megabytes:.1f} MB of canonical JSON)"]
    result = [
        ["baseline: raw SHA-256 of each body", f"{count / raw:,.0f}", "1.000x"],
        ["verify_chain, rows in memory", f"{count / in_memory:,.0f}", f"{raw / in_memory:.3f}x"],
        [
            "bidroom audit verify path (SQLite)",
            f"{count / from_disk:,.0f}",
            f"{raw / from_disk:.3f}x",
        ],
        [
            "verify_chain over stored_rows (SQLite)",
            f"{count / row_by_row:,.0f}",
            f"{raw / row_by_row:.3f}x",
        ],
    ]
    lines.append(table(result, ["case", "events/s", "vs raw SHA-256"]))
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
