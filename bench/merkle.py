"""The verifiable log at scale: build and verify the tree of a million events, make proofs.

Tree building runs the node's own code (`Frontier`, the same leaf hashing as the store and the
verifier) over a million typical event bodies, against the baseline of raw SHA-256 over the
same bytes in the same run. Proofs are made the node's way, from the SQLite store (stored
nodes from level 8 up, the rest hashed from at most 256 event bodies), and verified the
client's way; their time should stay flat as the log grows.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Final

from bench.common import records, table
from crypto import (
    Frontier,
    SigningKey,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    range_root,
    subtree_nodes,
    verify_consistency,
    verify_inclusion,
)
from server.service.node_keys import NodeKeys
from server.storage.sqlite import SQLiteEventStore

BATCH: Final = 256
STREAM: Final = "t-20261121-00000000be0c"


def build(bodies: list[bytes]) -> tuple[float, bytes]:
    start = time.perf_counter()
    tree = Frontier()
    for body in bodies:
        tree.append(leaf_hash(body))
    root = tree.root()
    return time.perf_counter() - start, root


def raw(bodies: list[bytes]) -> float:
    start = time.perf_counter()
    for body in bodies:
        hashlib.sha256(body).digest()
    return time.perf_counter() - start


async def proofs(path: Path, count: int, bodies: list[bytes], root: bytes) -> list[list[object]]:
    store = SQLiteEventStore(path, NodeKeys(SigningKey.generate()).records)
    await store.start()
    try:
        chain = records(STREAM, count)
        for start in range(0, count, BATCH):
            await store.append(STREAM, chain[start : start + BATCH])

        async def node_of(a: int, b: int) -> bytes:
            return range_root(await store.tree_nodes(STREAM, subtree_nodes(a, b)))

        rows: list[list[object]] = []
        for size in sorted({max(2, count // 1000), count // 10, count}):
            make, check, depth = [], [], 0
            for index in (0, size // 3, size - 1):
                began = time.perf_counter()
                proof = [await node_of(a, b) for a, b in inclusion_ranges(index, size)]
                made, depth = time.perf_counter(), max(depth, len(proof))
                tree_root = range_root(await store.tree_nodes(STREAM, subtree_nodes(0, size)))
                checked = time.perf_counter()
                verify_inclusion(leaf_hash(bodies[index]), index, size, proof, tree_root)
                make.append(made - began)
                check.append(time.perf_counter() - checked)
            old = size // 2 + 1
            began = time.perf_counter()
            consistency = [await node_of(a, b) for a, b in consistency_ranges(old, size)]
            made_consistency = time.perf_counter() - began
            old_root = range_root(await store.tree_nodes(STREAM, subtree_nodes(0, old)))
            new_root = range_root(await store.tree_nodes(STREAM, subtree_nodes(0, size)))
            began = time.perf_counter()
            verify_consistency(old, size, old_root, new_root, consistency)
            checked_consistency = time.perf_counter() - began
            if size == count:
                assert new_root == root, "the store's tree and the built tree differ"
            rows.append([
                f"{size:,}", depth, f"{1000 * statistics.median(make):.2f}",
                f"{1000 * statistics.median(check):.3f}", len(consistency),
                f"{1000 * made_consistency:.2f}", f"{1000 * checked_consistency:.3f}",
            ])  # fmt: skip
        return rows
    finally:
        await store.close()


def run(quick: bool = False) -> str:
    count = 50_000 if quick else 1_000_000
    bodies = [r.body.encode() for r in records(STREAM, count)]
    megabytes = sum(len(b) for b in bodies) / 1e6
    baseline = raw(bodies)
    built, root = build(bodies)
    lines = [
        f"Merkle tree of {count:,} events ({megabytes:.0f} MB of canonical JSON)",
        table(
            [
                ["baseline: raw SHA-256 of each body", f"{count / baseline:,.0f}", "1.00x"],
                [
                    "RFC 6962 tree (leaf + node hashes)",
                    f"{count / built:,.0f}",
                    f"{baseline / built:.2f}x",
                ],
            ],
            ["case", "events/s", "vs raw SHA-256"],
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(proofs(Path(tmp) / "log.sqlite3", count, bodies, root))
    header = ["tree size", "inclusion nodes", "make ms", "verify ms"]
    header += ["consistency nodes", "make ms", "verify ms"]
    lines.append(table(rows, header))
    lines.append("(made from the SQLite store; median of 3 leaves for inclusion)")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(run("--quick" in sys.argv))
