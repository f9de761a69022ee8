"""The SQLite store: the contract, plus durability, group commit and its file format."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import TYPE_CHECKING

import pytest

from crypto import merkle_root, range_root, subtree_nodes
from recordings.audit import verify_chain
from server.errors import ConflictError, StorageError
from server.storage.sqlite import (
    SCHEMA_VERSION,
    SQLiteEventStore,
    connect,
    initialize,
    load_frontier,
    stored_rows,
    stored_streams,
)
from tests.recordings.test_audit import chain
from tests.server.storage.contract import EventStoreContract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from server.storage.base import EventStore


class TestSQLiteEventStore(EventStoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[EventStore]:
        store = SQLiteEventStore(tmp_path / "events.sqlite3")
        await store.start()
        yield store
        await store.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteEventStore]:
    store = SQLiteEventStore(tmp_path / "events.sqlite3")
    await store.start()
    yield store
    await store.close()


async def test_committed_events_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    records = chain(3)
    first = SQLiteEventStore(path)
    await first.start()
    await first.append("t-1", records)
    await first.close()
    second = SQLiteEventStore(path)
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
    one, two = SQLiteEventStore(path), SQLiteEventStore(path)
    await one.start()
    await two.start()
    try:
        await one.append("t-1", chain(1))
        with pytest.raises(ConflictError):
            await two.append("t-1", chain(1))
        head = await asyncio.to_thread(lambda: verify_chain("t-1", stored_rows(path, "t-1")))
        assert head.seq == 1
    finally:
        await one.close()
        await two.close()


async def test_offline_readers_see_the_stored_rows(sqlite_store: SQLiteEventStore) -> None:
    records = chain(3)
    await sqlite_store.append("t-1", records)
    assert await asyncio.to_thread(stored_streams, sqlite_store.path) == ["t-1"]
    stored = await asyncio.to_thread(lambda: list(stored_rows(sqlite_store.path, "t-1")))
    assert stored == [(r.seq, r.body, r.hash) for r in records]


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    initialize(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StorageError, match="schema"):
        initialize(path)


async def test_reads_after_close_are_refused(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "events.sqlite3")
    await store.start()
    await store.close()
    with pytest.raises(StorageError, match="closed"):
        await store.read("t-1")


async def test_listeners_hear_what_another_process_wrote_before_their_own_appends(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.sqlite3"
    mine, theirs = SQLiteEventStore(path), SQLiteEventStore(path)
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
    one, two = SQLiteEventStore(path), SQLiteEventStore(path)
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
    initialize(path)
    conn = connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        frontier = load_frontier(conn, "t-1", 6)
        assert frontier.root() == merkle_root([r.body.encode() for r in records])
    finally:
        conn.close()
