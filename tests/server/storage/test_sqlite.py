"""The SQLite store: the contract, plus durability, group commit and its file format."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import TYPE_CHECKING

import pytest

from crypto import SigningKey, merkle_root, range_root, subtree_nodes
from recordings.audit import GENESIS, AuditRecord, verify_chain
from recordings.errors import ChainBroken
from server.errors import ConflictError, FencedOut, StorageError
from server.service.node_keys import NodeKeys
from server.storage.base import SEALED_OVERHEAD
from server.storage.sealed_rows import RECORD_PAD
from server.storage.sqlite import LATEST_PAGE, SQLiteEventStore, load_frontier
from server.storage.sqlite_schema import (
    SCHEMA_VERSION,
    connect,
    initialize,
    stored_rows,
    stored_streams,
)
from tests.recordings.test_audit import chain
from tests.server.storage.contract import EventStoreContract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from server.storage.base import EventStore

SEALER = NodeKeys(SigningKey.generate()).records


class TestSQLiteEventStore(EventStoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[EventStore]:
        store = SQLiteEventStore(tmp_path / "events.sqlite3", SEALER)
        await store.start()
        yield store
        await store.close()

    @pytest.fixture
    async def rival(self, store: EventStore, tmp_path: Path) -> AsyncIterator[EventStore]:
        rival = SQLiteEventStore(tmp_path / "events.sqlite3", SEALER)
        await rival.start()
        yield rival
        await rival.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteEventStore]:
    store = SQLiteEventStore(tmp_path / "events.sqlite3", SEALER)
    await store.start()
    yield store
    await store.close()


async def test_committed_events_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    records = chain(3)
    first = SQLiteEventStore(path, SEALER)
    await first.start()
    await first.append("t-1", records)
    await first.close()
    second = SQLiteEventStore(path, SEALER)
    await second.start()
    try:
        assert await second.read("t-1") == records
    finally:
        await second.close()


async def test_the_file_is_wal_with_full_sync(sqlite_store: SQLiteEventStore) -> None:
    await sqlite_store.append("t-1", chain(1))
    conn = sqlite3.connect(sqlite_store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


async def test_concurrent_appends_share_commits(sqlite_store: SQLiteEventStore) -> None:
    streams = [chain(20, f"t-{n}") for n in range(20)]
    futures = [sqlite_store.append(r.stream, [r]) for records in streams for r in records]
    await asyncio.gather(*futures)
    assert sqlite_store.commits < len(futures)  # group commit: fewer transactions than appends
    for records in streams:
        assert await sqlite_store.read(records[0].stream) == records


async def test_two_writers_on_one_file_conflict_instead_of_forking(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    one, two = SQLiteEventStore(path, SEALER), SQLiteEventStore(path, SEALER)
    await one.start()
    await two.start()
    try:
        await one.append("t-1", chain(1))
        with pytest.raises(ConflictError):
            await two.append("t-1", chain(1))
        head = await asyncio.to_thread(
            lambda: verify_chain("t-1", stored_rows(path, "t-1", SEALER))
        )
        assert head.seq == 1
    finally:
        await one.close()
        await two.close()


async def test_offline_readers_see_the_stored_rows(sqlite_store: SQLiteEventStore) -> None:
    records = chain(3)
    await sqlite_store.append("t-1", records)
    assert await asyncio.to_thread(stored_streams, sqlite_store.path) == ["t-1"]
    stored = await asyncio.to_thread(lambda: list(stored_rows(sqlite_store.path, "t-1", SEALER)))
    assert stored == [(r.seq, r.body, r.hash) for r in records]


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    initialize(path, SEALER)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StorageError, match="schema"):
        initialize(path, SEALER)


async def test_reads_after_close_are_refused(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.sqlite3", SEALER)
    await store.start()
    await store.close()
    with pytest.raises(StorageError, match="closed"):
        await store.read("t-1")


async def test_listeners_hear_what_another_process_wrote_before_their_own_appends(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    mine, theirs = SQLiteEventStore(path, SEALER), SQLiteEventStore(path, SEALER)
    await mine.start()
    await theirs.start()
    heard: list[int] = []
    mine.add_listener(lambda stream, records: heard.extend(r.seq for r in records))
    try:
        records = chain(4)
        await mine.append("t-1", records[:1])
        await theirs.append("t-1", records[1:3])  # behind this process's back
        await mine.append("t-1", records[3:])
        assert heard == [1, 2, 3, 4]  # no gap for the live hub
        await mine.append("t-2", chain(1, "t-2"))
        assert heard == [1, 2, 3, 4, 1]
    finally:
        await mine.close()
        await theirs.close()


async def test_two_writers_grow_one_tree(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    one, two = SQLiteEventStore(path, SEALER), SQLiteEventStore(path, SEALER)
    await one.start()
    await two.start()
    records = chain(5)
    try:
        await one.append("t-1", records[:2])
        await two.append("t-1", records[2:4])  # `one` has not seen these
        await one.append("t-1", records[4:])
        edge = await two.tree_nodes("t-1", subtree_nodes(0, 5))
        assert range_root(edge) == merkle_root([r.body.encode() for r in records])
    finally:
        await one.close()
        await two.close()


def test_a_schema_1_database_gets_its_trees(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    records = chain(6)
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE streams (stream TEXT PRIMARY KEY) WITHOUT ROWID;"
        "CREATE TABLE events (stream TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,"
        " time TEXT NOT NULL, body TEXT NOT NULL, hash TEXT NOT NULL);"
        "PRAGMA user_version=1;"
    )
    conn.execute("INSERT INTO streams VALUES ('t-1')")
    conn.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
        [(r.stream, r.seq, r.type, r.time, r.body, r.hash) for r in records],
    )
    conn.commit()
    conn.close()
    initialize(path, SEALER)
    conn = connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        frontier = load_frontier(conn, "t-1", 6, SEALER)
        assert frontier.root() == merkle_root([r.body.encode() for r in records])
    finally:
        conn.close()


def disk_bytes(path: Path) -> bytes:
    """Every byte of the database and its WAL and shared-memory files, as an insider reads them."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def typed_chain(types: list[str], stream: str = "t-1") -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for seq, kind in enumerate(types, 1):
        records.append(
            AuditRecord.create(
                stream=stream, seq=seq, prev=records[-1].hash if records else GENESIS,
                type=kind, actor_id="p-4f2a9c1b7d3e", actor_role="bidder", address="198.51.100.7",
                time="2026-11-21T09:00:00.000000Z", payload={"n": seq},
                visibility=frozenset({"supervisor"}),
            )
        )  # fmt: skip
    return records


async def test_rows_are_sealed_at_rest(sqlite_store: SQLiteEventStore) -> None:
    records = typed_chain(["bid.submitted"] * 3, "t-1-box")
    await sqlite_store.append("t-1-box", records)
    seen = await asyncio.to_thread(disk_bytes, sqlite_store.path)
    for clear in ("p-4f2a9c1b7d3e", "bid.submitted", "198.51.100.7", "2026-11-21", records[0].hash):
        assert clear.encode() not in seen
    conn = sqlite3.connect(sqlite_store.path)
    try:
        rows = conn.execute("SELECT type, time, hash, body FROM events").fetchall()
    finally:
        conn.close()
    assert {row[:3] for row in rows} == {("", "", "")}
    assert all(len(body) % RECORD_PAD == SEALED_OVERHEAD for *_, body in rows)
    assert await sqlite_store.read("t-1-box") == records  # opened on the way out, hashes too


async def test_a_row_moved_or_sealed_under_another_key_does_not_open(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    store = SQLiteEventStore(path, SEALER)
    await store.start()
    await store.append("t-1", chain(2))
    await store.close()
    stranger = SQLiteEventStore(path, NodeKeys(SigningKey.generate()).records)
    await stranger.start()
    try:
        with pytest.raises(StorageError, match="does not open under this node's key"):
            await stranger.read("t-1")
        with pytest.raises(StorageError, match="could not commit"):
            await stranger.append("t-1", chain(3)[2:])  # it can't find the head to follow
    finally:
        await stranger.close()
    conn = sqlite3.connect(path)
    for old, new in ((1, 9), (2, 1), (9, 2)):  # swap the two records
        conn.execute("UPDATE events SET seq = ? WHERE seq = ?", (new, old))
    conn.commit()
    conn.close()
    with pytest.raises(ChainBroken, match="does not open under the node's key"):
        await asyncio.to_thread(lambda: list(stored_rows(path, "t-1", SEALER)))


async def test_the_latest_of_a_type_is_found_across_pages(sqlite_store: SQLiteEventStore) -> None:
    types = ["tree.head_signed", *["bid.submitted"] * (2 * LATEST_PAGE + 5)]
    records = typed_chain(types)
    await sqlite_store.append("t-1", records)
    assert await sqlite_store.latest("t-1", "tree.head_signed") == records[0]
    assert await sqlite_store.latest("t-1", "bid.submitted") == records[-1]
    assert await sqlite_store.latest("t-1", "no.such") is None


async def test_a_schema_2_database_is_sealed_and_leaves_no_clear_page(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    records = typed_chain(["bid.submitted"] * 300, "t-1-box")
    await asyncio.to_thread(write_schema_2, path, records)
    assert b"p-4f2a9c1b7d3e" in await asyncio.to_thread(disk_bytes, path)
    await asyncio.to_thread(initialize, path, SEALER)
    assert b"p-4f2a9c1b7d3e" not in await asyncio.to_thread(disk_bytes, path)
    store = SQLiteEventStore(path, SEALER)
    await store.start()
    try:
        assert await store.read("t-1-box", limit=1000) == records
    finally:
        await store.close()


def write_schema_2(path: Path, records: list[AuditRecord]) -> None:
    """A database as a node of schema 2 left it: clear rows."""
    conn = connect(path)
    conn.executescript(_SCHEMA_2)
    conn.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
        [(r.stream, r.seq, r.type, r.time, r.body, r.hash) for r in records],
    )
    conn.execute("INSERT INTO streams VALUES ('t-1-box')")
    conn.close()


_SCHEMA_2 = """
CREATE TABLE streams (stream TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE events (stream TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
    time TEXT NOT NULL, body TEXT NOT NULL, hash TEXT NOT NULL);
CREATE UNIQUE INDEX events_by_stream ON events (stream, seq);
CREATE TABLE tree (stream TEXT NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL,
    hash BLOB NOT NULL, PRIMARY KEY (stream, level, idx)) WITHOUT ROWID;
PRAGMA user_version=2;
"""


async def test_the_greatest_token_is_kept_in_the_file_and_checked_after_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    records = chain(3)
    home = SQLiteEventStore(path, SEALER)
    await home.start()
    home.fence(5)
    await home.append("t-1", records[:1])
    await home.close()
    stale = SQLiteEventStore(path, SEALER)
    await stale.start()
    try:
        stale.fence(4)
        with pytest.raises(FencedOut):
            await stale.append("t-1", records[1:2])
        alone = SQLiteEventStore(path, SEALER)  # never fenced: a node alone, no check
        await alone.start()
        try:
            await alone.append("t-1", records[1:])
        finally:
            await alone.close()
    finally:
        await stale.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT token FROM fence").fetchall() == [(5,)]
    finally:
        conn.close()
