"""The PostgreSQL database: its schema, created on start, and its offline readers.

Everything lives in the schema `bidroom` of the database the URL names, so the database may be
shared with other things. The tables are those of SQLite (sqlite_schema.py) without the columns
that a sealed row leaves empty: `events(stream, seq, body)` with body sealed as in
docs/spec/at-rest.md section 3, `streams`, `tree` (stored Merkle nodes, in the clear), `fence`
(the greatest fencing token an append carried) and `meta` (the schema version).

The offline readers (`bidroom audit verify`) are synchronous, as StoredLog's callables are:
each runs asyncpg on an event loop of its own, in the calling thread (which must not be running
a loop already), and reads a stream in pages by sequence number, so a long log never sits in
memory whole.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Final

import asyncpg

from recordings.audit import ChainVerifier
from server.errors import StorageError
from server.storage.sealed_rows import opened_rows, verified_rows

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from recordings.audit import ChainHead
    from server.storage.base import Sealer

SCHEMA_VERSION: Final = 1
# Taken while the schema is created, so that nodes starting together don't race on it.
_SCHEMA_LOCK: Final = 0x62696472  # "bidr"
_TABLES: Final = """
CREATE SCHEMA IF NOT EXISTS bidroom;
CREATE TABLE IF NOT EXISTS bidroom.meta (
    id integer PRIMARY KEY CHECK (id = 1),
    version integer NOT NULL
);
CREATE TABLE IF NOT EXISTS bidroom.streams (
    stream text PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS bidroom.events (
    stream text NOT NULL,
    seq bigint NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE TABLE IF NOT EXISTS bidroom.tree (
    stream text NOT NULL,
    level integer NOT NULL,
    idx bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (stream, level, idx)
);
CREATE TABLE IF NOT EXISTS bidroom.fence (
    id integer PRIMARY KEY CHECK (id = 1),
    token bigint NOT NULL
);
INSERT INTO bidroom.fence (id, token) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
"""
# Offline readers fetch this many rows at a time.
PAGE: Final = 5000
_PAGE_QUERY: Final = (
    "SELECT seq, body FROM bidroom.events WHERE stream = $1 AND seq > $2 ORDER BY seq LIMIT $3"
)
_BEFORE_ANY: Final = -(1 << 62)  # below every seq, even a tampered one


async def initialize(conn: asyncpg.Connection) -> None:
    """Create the schema if needed; refuse one written by a newer version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        if await conn.fetchval("SELECT to_regclass('bidroom.meta')") is not None:
            version = await conn.fetchval("SELECT version FROM bidroom.meta")
            if version is not None and version > SCHEMA_VERSION:
                raise StorageError(
                    f"The database has schema {version}; this node knows {SCHEMA_VERSION}."
                )
        await conn.execute(_TABLES)
        await conn.execute(
            "INSERT INTO bidroom.meta (id, version) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            SCHEMA_VERSION,
        )


@contextlib.contextmanager
def _offline(url: str) -> Iterator[tuple[asyncio.AbstractEventLoop, asyncpg.Connection]]:
    """A connection on a loop of its own: for a caller with no event loop in its thread."""
    loop = asyncio.new_event_loop()
    try:
        conn = loop.run_until_complete(asyncpg.connect(url))
    except (OSError, asyncpg.PostgresError) as exc:
        loop.close()
        raise StorageError(f"The database can't be reached: {exc}.") from None
    try:
        yield loop, conn
    finally:
        loop.run_until_complete(conn.close())
        loop.close()


def _pages(fetch: Callable[[int], list[asyncpg.Record]]) -> Iterator[tuple[int, bytes]]:
    """(seq, sealed body) rows, in seq order, a page (`fetch(after_seq)`) at a time."""
    after = _BEFORE_ANY
    while True:
        rows = fetch(after)
        yield from ((seq, body) for seq, body in rows)
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def _page(url: str, stream: str, after: int) -> list[asyncpg.Record]:
    """One page on a connection of its own: a generator suspended between pages, maybe for
    good (a verifier stops at the first broken link), then holds no connection."""
    with _offline(url) as (loop, conn):
        return loop.run_until_complete(conn.fetch(_PAGE_QUERY, stream, after, PAGE))


def stored_rows(url: str, stream: str, sealer: Sealer) -> Iterator[tuple[int, str, str]]:
    """(seq, body, hash) of one stream in seq order, opened; for offline verifiers."""
    yield from verified_rows(sealer, stream, _pages(lambda after: _page(url, stream, after)))


def verify_stored(url: str, stream: str, sealer: Sealer) -> ChainHead:
    """`verify_chain(stream, stored_rows(url, stream, sealer))`, the same checks, faster."""
    with _offline(url) as (loop, conn):
        chain = ChainVerifier(stream)
        pages = _pages(
            lambda after: loop.run_until_complete(conn.fetch(_PAGE_QUERY, stream, after, PAGE))
        )
        opened_rows(sealer, stream, pages, chain)
        return chain.head


def stored_streams(url: str) -> list[str]:
    with _offline(url) as (loop, conn):
        if loop.run_until_complete(conn.fetchval("SELECT to_regclass('bidroom.streams')")) is None:
            return []  # no node has written here yet
        rows = loop.run_until_complete(
            conn.fetch("SELECT stream FROM bidroom.streams ORDER BY stream")
        )
        return [row[0] for row in rows]
