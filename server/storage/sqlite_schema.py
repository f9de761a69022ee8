"""The SQLite database: its connections, its schema and upgrades, and its offline readers."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Final

from crypto import Frontier
from recordings.audit import AuditRecord, ChainVerifier
from server.errors import StorageError
from server.storage.base import tree_rows
from server.storage.sealed_rows import opened_rows, seal_all, verified_rows

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from recordings.audit import ChainHead
    from server.storage.base import Sealer

# 2: the Merkle tree of each stream (table `tree`); 3: records sealed at rest
# (docs/spec/at-rest.md); 4: the greatest fencing token an append carried (table `fence`,
# docs/sites.md section 4)
SCHEMA_VERSION: Final = 4

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS streams (
    stream TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    time TEXT NOT NULL,
    body TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_stream ON events (stream, seq);
CREATE TABLE IF NOT EXISTS tree (
    stream TEXT NOT NULL,
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (stream, level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fence (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    token INTEGER NOT NULL
);
"""
INSERT_NODE: Final = "INSERT INTO tree (stream, level, idx, hash) VALUES (?, ?, ?, ?)"
SET_FENCE: Final = (
    "INSERT INTO fence (id, token) VALUES (1, ?)"
    " ON CONFLICT (id) DO UPDATE SET token = excluded.token"
)


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open the database with the pragmas every connection of the node uses."""
    if read_only:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def initialize(path: Path, sealer: Sealer) -> None:
    """Create the schema if needed, upgrade an older one; refuse one written by a newer version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"The database {path.name} has schema {version}; this node knows {SCHEMA_VERSION}."
            )
        conn.executescript(_SCHEMA)
        if version in (1, 2):
            _upgrade(conn, version, sealer)
        else:
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    finally:
        conn.close()


def _upgrade(conn: sqlite3.Connection, version: int, sealer: Sealer) -> None:
    """From schema 1 or 2 in one transaction; then no page of the clear rows is left behind."""
    conn.execute("BEGIN IMMEDIATE")
    if version == 1:
        _build_trees(conn)
    seal_all(conn, sealer)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")  # a crash before here leaves the old
    conn.execute("COMMIT")
    # The clear bodies are still in free pages of the file and in the WAL: rewrite both.
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _build_trees(conn: sqlite3.Connection) -> None:
    """Schema 1 to 2: the Merkle tree of every stream, from its (clear) events."""
    streams = [row[0] for row in conn.execute("SELECT stream FROM streams")]
    for stream in streams:
        frontier = Frontier()
        rows = conn.execute(
            "SELECT body, hash FROM events WHERE stream = ? ORDER BY seq", (stream,)
        )
        records = [AuditRecord.load(body, digest) for body, digest in rows]
        nodes = tree_rows(frontier, records)
        conn.executemany(INSERT_NODE, [(stream, *node) for node in nodes])


def stored_rows(path: Path, stream: str, sealer: Sealer) -> Iterator[tuple[int, str, str]]:
    """(seq, body, hash) of one stream in seq order, opened, read-only; for offline verifiers."""
    conn = connect(path, read_only=True)
    try:
        rows = conn.execute("SELECT seq, body FROM events WHERE stream = ? ORDER BY seq", (stream,))
        yield from verified_rows(sealer, stream, rows)
    finally:
        conn.close()


def verify_stored(path: Path, stream: str, sealer: Sealer) -> ChainHead:
    """`verify_chain(stream, stored_rows(path, stream, sealer))`, the same checks, faster."""
    conn = connect(path, read_only=True)
    try:
        chain = ChainVerifier(stream)
        rows = conn.execute("SELECT seq, body FROM events WHERE stream = ? ORDER BY seq", (stream,))
        opened_rows(sealer, stream, rows, chain)
        return chain.head
    finally:
        conn.close()


def stored_streams(path: Path) -> list[str]:
    conn = connect(path, read_only=True)
    try:
        return [row[0] for row in conn.execute("SELECT stream FROM streams ORDER BY stream")]
    finally:
        conn.close()
