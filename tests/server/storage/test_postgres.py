"""The PostgreSQL store: the contract, plus group commit, several nodes on one database, its
rows sealed at rest and its offline readers, on a throwaway cluster (tests/postgres_server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import replace
from typing import TYPE_CHECKING

import asyncpg
import pytest

from crypto import SigningKey, merkle_root, range_root, subtree_nodes
from recordings.audit import GENESIS, AuditRecord, ChainHead, verify_chain
from recordings.errors import ChainBroken
from server.backends import stored_log
from server.errors import ConflictError, FencedOut, StorageError
from server.service.node_keys import NodeKeys
from server.storage.base import SEALED_OVERHEAD
from server.storage.postgres import LATEST_PAGE, RETRIES, PostgresEventStore
from server.storage.postgres_schema import (
    SCHEMA_VERSION,
    initialize,
    stored_rows,
    stored_streams,
    verify_stored,
)
from server.storage.sealed_rows import RECORD_PAD, sealed_body
from tests.recordings.test_audit import chain
from tests.server.storage.contract import EventStoreContract
from tests.server.storage.test_sqlite import typed_chain

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from server.config import Settings
    from server.storage.base import EventStore

SEALER = NodeKeys(SigningKey.generate()).records
STRANGER = NodeKeys(SigningKey.generate()).records


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    async def store(self, postgres_url: str) -> AsyncIterator[EventStore]:
        store = PostgresEventStore(postgres_url, SEALER)
        await store.start()
        yield store
        await store.close()

    @pytest.fixture
    async def rival(self, store: EventStore, postgres_url: str) -> AsyncIterator[EventStore]:
        rival = PostgresEventStore(postgres_url, SEALER)
        await rival.start()
        yield rival
        await rival.close()


@pytest.fixture
async def pg_store(postgres_url: str) -> AsyncIterator[PostgresEventStore]:
    store = PostgresEventStore(postgres_url, SEALER)
    await store.start()
    yield store
    await store.close()


@pytest.fixture
async def raw(postgres_url: str) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    """A plain connection to the store's database, as an operator or another program has."""
    conn = await asyncpg.connect(postgres_url)
    yield conn
    await conn.close()


async def until_a_writer_waits_on_a_lock(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Poll the server (another process) until a backend of this database waits on a lock."""
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            if await conn.fetchval(query):
                return
            await asyncio.sleep(0.01)


WAIT_SECONDS = 10


def other_first(stream: str = "t-1") -> AuditRecord:
    """A first record that is not chain(1)[0]: what another writer put at seq 1."""
    return AuditRecord.create(
        stream=stream, seq=1, prev=GENESIS, type="tender.note", actor_id="p-other",
        actor_role="host", address="203.0.113.10", time="2026-11-21T09:00:00.000000Z",
        payload={"n": 0}, visibility=frozenset({"host"}),
    )  # fmt: skip


async def test_concurrent_appends_share_commits(pg_store: PostgresEventStore) -> None:
    streams = [chain(20, f"t-{n}") for n in range(20)]
    futures = [pg_store.append(r.stream, [r]) for records in streams for r in records]
    await asyncio.gather(*futures)
    assert pg_store.commits < len(futures)  # group commit: fewer transactions than appends
    for records in streams:
        assert await pg_store.read(records[0].stream) == records


async def test_committed_events_survive_a_restart(postgres_url: str) -> None:
    records = chain(3)
    first = PostgresEventStore(postgres_url, SEALER)
    await first.start()
    await first.append("t-1", records)
    await first.close()
    second = PostgresEventStore(postgres_url, SEALER)
    await second.start()
    try:
        assert await second.read("t-1") == records
    finally:
        await second.close()


async def test_rows_are_sealed_at_rest(
    pg_store: PostgresEventStore, raw: asyncpg.Connection[asyncpg.Record]
) -> None:
    records = typed_chain(["bid.submitted"] * 3, "t-1-box")
    await pg_store.append("t-1-box", records)
    columns = await raw.fetch(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'bidroom' AND table_name = 'events' ORDER BY ordinal_position"
    )
    assert [c[0] for c in columns] == ["stream", "seq", "body"]
    bodies = [bytes(row[0]) for row in await raw.fetch("SELECT body FROM bidroom.events")]
    for clear in ("p-4f2a9c1b7d3e", "bid.submitted", "198.51.100.7", "2026-11-21", records[0].hash):
        assert all(clear.encode() not in body for body in bodies)
    assert all(len(body) % RECORD_PAD == SEALED_OVERHEAD for body in bodies)
    assert await pg_store.read("t-1-box") == records  # opened on the way out, hashes too


async def test_a_database_from_a_newer_version_is_refused(
    postgres_url: str, raw: asyncpg.Connection[asyncpg.Record]
) -> None:
    await initialize(raw)
    await raw.execute("UPDATE bidroom.meta SET version = $1", SCHEMA_VERSION + 1)
    store = PostgresEventStore(postgres_url, SEALER)
    with pytest.raises(StorageError, match="schema"):
        await store.start()
    with pytest.raises(StorageError, match="closed"):
        await store.read("t-1")


async def test_an_unreachable_database_is_a_storage_error(postgres_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = probe.getsockname()[1]  # bound, not listening: refused
        store = PostgresEventStore(f"postgresql://postgres@127.0.0.1:{nobody}/none", SEALER)
        with pytest.raises(StorageError, match="can't start on PostgreSQL"):
            await store.start()


async def test_listeners_hear_what_another_node_wrote_before_their_own_appends(
    postgres_url: str,
) -> None:
    mine, theirs = (
        PostgresEventStore(postgres_url, SEALER),
        PostgresEventStore(postgres_url, SEALER),
    )
    await mine.start()
    await theirs.start()
    heard: list[int] = []
    mine.add_listener(lambda stream, records: heard.extend(r.seq for r in records))
    try:
        records = chain(4)
        await mine.append("t-1", records[:1])
        await theirs.append("t-1", records[1:3])  # behind this node's back
        await mine.append("t-1", records[3:])
        assert heard == [1, 2, 3, 4]  # no gap for the live hub
    finally:
        await mine.close()
        await theirs.close()


async def test_two_nodes_grow_one_tree(postgres_url: str) -> None:
    one, two = PostgresEventStore(postgres_url, SEALER), PostgresEventStore(postgres_url, SEALER)
    await one.start()
    await two.start()
    records = chain(300)
    try:
        await one.append("t-1", records[:200])
        await two.append("t-1", records[200:290])  # `one` has not seen these
        await one.append("t-1", records[290:])
        for store in (one, two):
            edge = await store.tree_nodes("t-1", subtree_nodes(0, 300))
            assert range_root(edge) == merkle_root([r.body.encode() for r in records])
    finally:
        await one.close()
        await two.close()


async def test_two_nodes_racing_for_a_seq_never_fork(postgres_url: str) -> None:
    one, two = PostgresEventStore(postgres_url, SEALER), PostgresEventStore(postgres_url, SEALER)
    await one.start()
    await two.start()
    try:
        results = await asyncio.gather(
            one.append("t-1", chain(1)), two.append("t-1", [other_first()]),
            return_exceptions=True,
        )  # fmt: skip
        assert sorted(type(r).__name__ for r in results) == ["ConflictError", "NoneType"]
        assert len(await one.read("t-1")) == 1
    finally:
        await one.close()
        await two.close()


@pytest.mark.parametrize(("retries", "reason"), [(RETRIES, "does not follow"), (0, "first")])
async def test_a_writer_that_loses_the_key_to_another_conflicts(
    pg_store: PostgresEventStore,
    raw: asyncpg.Connection[asyncpg.Record],
    monkeypatch: pytest.MonkeyPatch,
    retries: int,
    reason: str,
) -> None:
    """Another writer inserted seq 1 after this one read the head: the key stops the fork."""
    monkeypatch.setattr("server.storage.postgres.RETRIES", retries)
    theirs = other_first()
    observer = await asyncpg.connect(pg_store._url)
    try:
        async with raw.transaction():
            await raw.execute(
                "INSERT INTO bidroom.events (stream, seq, body) VALUES ($1, 1, $2)",
                "t-1", sealed_body(SEALER, theirs),
            )  # fmt: skip
            mine = pg_store.append("t-1", chain(1))
            await until_a_writer_waits_on_a_lock(observer)
        with pytest.raises(ConflictError, match=reason):
            await mine
    finally:
        await observer.close()
    assert await pg_store.read("t-1") == [theirs]


async def test_a_newer_token_committed_meanwhile_fences_a_waiting_append(
    pg_store: PostgresEventStore, raw: asyncpg.Connection[asyncpg.Record]
) -> None:
    observer = await asyncpg.connect(pg_store._url)
    pg_store.fence(3)
    try:
        async with raw.transaction():
            await raw.execute("SELECT token FROM bidroom.fence FOR UPDATE")
            await raw.execute("UPDATE bidroom.fence SET token = 4")  # a newer home, committing
            stale = pg_store.append("t-1", chain(1))
            await until_a_writer_waits_on_a_lock(observer)
        with pytest.raises(FencedOut, match="older than 4"):
            await stale
    finally:
        await observer.close()
    assert await pg_store.read("t-1") == []
    assert await raw.fetchval("SELECT token FROM bidroom.fence") == 4


async def test_a_failed_commit_fails_its_batch_and_the_store_goes_on(
    pg_store: PostgresEventStore, raw: asyncpg.Connection[asyncpg.Record]
) -> None:
    heard: list[int] = []
    pg_store.add_listener(lambda stream, records: heard.extend(r.seq for r in records))
    records = chain(3)
    await pg_store.append("t-1", records[:1])
    await raw.execute("ALTER TABLE bidroom.events ADD CONSTRAINT one CHECK (seq < 2)")
    with pytest.raises(StorageError, match="could not commit"):
        await pg_store.append("t-1", records[1:2])
    await raw.execute("ALTER TABLE bidroom.events DROP CONSTRAINT one")
    await pg_store.append("t-1", records[1:])
    assert heard == [1, 2, 3]
    assert await pg_store.read("t-1") == records


async def test_a_store_whose_connections_were_dropped_reconnects(
    pg_store: PostgresEventStore, raw: asyncpg.Connection[asyncpg.Record]
) -> None:
    records = chain(2)
    await pg_store.append("t-1", records[:1])
    await raw.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    # Whether the writer notices before its next batch (and reconnects) or during it (and
    # that batch fails, written or not), the store goes on and never forks.
    with contextlib.suppress(StorageError):
        await pg_store.append("t-1", records[1:])
    if (await raw.fetchval("SELECT max(seq) FROM bidroom.events")) == 1:
        await pg_store.append("t-1", records[1:])
    with contextlib.suppress(StorageError):
        await pg_store.read("t-1")  # a reader the server dropped: the pool replaces it
    assert await pg_store.read("t-1") == records


async def test_the_latest_of_a_type_is_found_across_pages(pg_store: PostgresEventStore) -> None:
    types = ["tree.head_signed", *["bid.submitted"] * (2 * LATEST_PAGE + 5)]
    records = typed_chain(types)
    await pg_store.append("t-1", records)
    assert await pg_store.latest("t-1", "tree.head_signed") == records[0]
    assert await pg_store.latest("t-1", "bid.submitted") == records[-1]
    assert await pg_store.latest("t-1", "no.such") is None


async def test_the_stored_log_reads_and_verifies_it_offline(
    pg_store: PostgresEventStore, postgres_url: str, settings: Settings
) -> None:
    log = stored_log(replace(settings, event_store="postgres", database_url=postgres_url), SEALER)
    assert await asyncio.to_thread(log.streams) == []
    records = chain(5)
    await pg_store.append("t-1", records)
    assert await asyncio.to_thread(log.streams) == ["t-1"]
    rows = await asyncio.to_thread(lambda: list(log.rows("t-1")))
    assert rows == [(r.seq, r.body, r.hash) for r in records]
    assert await asyncio.to_thread(log.verify, "t-1") == ChainHead("t-1", 5, records[-1].hash)
    assert await asyncio.to_thread(log.verify, "t-2") == ChainHead("t-2", 0, GENESIS)


async def test_offline_reads_go_page_by_page(
    pg_store: PostgresEventStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("server.storage.postgres_schema.PAGE", 3)
    records = chain(8)
    await pg_store.append("t-1", records)
    head = await asyncio.to_thread(verify_stored, postgres_url, "t-1", SEALER)
    assert head == ChainHead("t-1", 8, records[-1].hash)


async def swap(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    for old, new in ((2, 9), (3, 2), (9, 3)):
        await conn.execute("UPDATE bidroom.events SET seq = $1 WHERE seq = $2", new, old)


async def delete(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    await conn.execute("DELETE FROM bidroom.events WHERE seq = 3")


async def foreign(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    body = sealed_body(STRANGER, chain(4)[3])
    await conn.execute("UPDATE bidroom.events SET body = $1 WHERE seq = 4", body)


@pytest.mark.parametrize(
    ("tamper", "seq", "reason"),
    [(swap, 2, "does not open"), (delete, 3, "missing"), (foreign, 4, "does not open")],
)
async def test_tampering_is_named_at_the_same_event_both_ways(
    pg_store: PostgresEventStore,
    raw: asyncpg.Connection[asyncpg.Record],
    postgres_url: str,
    tamper: Callable[[asyncpg.Connection[asyncpg.Record]], Awaitable[None]],
    seq: int,
    reason: str,
) -> None:
    await pg_store.append("t-1", chain(5))
    await tamper(raw)
    ways: list[Callable[[], object]] = [
        lambda: verify_stored(postgres_url, "t-1", SEALER),
        lambda: verify_chain("t-1", stored_rows(postgres_url, "t-1", SEALER)),
    ]
    for verify in ways:
        with pytest.raises(ChainBroken) as broken:
            await asyncio.to_thread(verify)
        assert broken.value.seq == seq
        assert reason in broken.value.reason


async def test_an_offline_reader_names_an_unreachable_database(postgres_url: str) -> None:
    with pytest.raises(StorageError, match="can't be reached"):
        await asyncio.to_thread(stored_streams, postgres_url.rsplit("/", 1)[0] + "/nonesuch")


async def test_a_database_no_node_has_written_lists_no_streams(postgres_url: str) -> None:
    assert await asyncio.to_thread(stored_streams, postgres_url) == []


async def test_an_append_whose_caller_gave_up_still_commits(pg_store: PostgresEventStore) -> None:
    records = chain(2)
    abandoned = pg_store.append("t-1", records[:1])
    abandoned.cancel()
    await pg_store.append("t-1", records[1:])  # follows the abandoned one: it was committed
    assert await pg_store.read("t-1") == records


async def test_a_read_the_database_refuses_is_a_storage_error(
    pg_store: PostgresEventStore, raw: asyncpg.Connection[asyncpg.Record]
) -> None:
    await raw.execute("DROP SCHEMA bidroom CASCADE")
    with pytest.raises(StorageError, match="could not be read"):
        await pg_store.read("t-1")
