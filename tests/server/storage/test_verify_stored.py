"""`verify_stored` (what `bidroom audit verify` runs) gives the verdict of verify_chain."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from crypto import SigningKey
from recordings.audit import GENESIS, AuditRecord, ChainHead, verify_chain
from recordings.errors import ChainBroken
from server.service.node_keys import NodeKeys
from server.storage.sealed_rows import seal_row
from server.storage.sqlite_schema import connect, initialize, stored_rows, verify_stored
from tests.recordings.test_audit import chain

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

SEALER = NodeKeys(SigningKey.generate()).records
STRANGER = NodeKeys(SigningKey.generate()).records


def written(path: Path, count: int) -> Path:
    initialize(path, SEALER)
    conn = connect(path)
    conn.executemany(
        "INSERT INTO events (stream, seq, type, time, body, hash) VALUES (?, ?, ?, ?, ?, ?)",
        [seal_row(SEALER, record) for record in chain(count)],
    )
    conn.execute("INSERT INTO streams (stream) VALUES ('t-1')")
    conn.close()
    return path


def verdicts(path: Path, stream: str = "t-1") -> object:
    results: list[object] = []
    ways: list[Callable[[], ChainHead]] = [
        lambda: verify_stored(path, stream, SEALER),
        lambda: verify_chain(stream, stored_rows(path, stream, SEALER)),
    ]
    for verify in ways:
        try:
            results.append(verify())
        except ChainBroken as exc:
            results.append((exc.seq, exc.reason))
    assert results[0] == results[1]
    return results[0]


def test_an_intact_log_verifies(tmp_path: Path) -> None:
    path = written(tmp_path / "events.sqlite3", 5)
    assert verdicts(path) == ChainHead("t-1", 5, chain(5)[-1].hash)
    assert verdicts(path, "t-2") == ChainHead("t-2", 0, GENESIS)


def swap(conn: sqlite3.Connection) -> None:
    for old, new in ((2, 9), (3, 2), (9, 3)):
        conn.execute("UPDATE events SET seq = ? WHERE seq = ?", (new, old))


def foreign(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE events SET body = ? WHERE seq = 4", (seal_row(STRANGER, chain(4)[3])[4],))


def cut(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE events SET body = substr(body, 1, 20) WHERE seq = 2")


def resealed(conn: sqlite3.Connection) -> None:
    """Whoever holds the node key re-seals an edited body: the link to it breaks."""
    record = chain(5)[2]
    edited = AuditRecord.load(record.body.replace("开标", "开票"), record.hash)
    conn.execute("UPDATE events SET body = ? WHERE seq = 3", (seal_row(SEALER, edited)[4],))


@pytest.mark.parametrize(
    ("tamper", "seq", "reason"),
    [
        (swap, 2, "does not open"),
        (foreign, 4, "does not open"),
        (cut, 2, "does not open"),
        (lambda conn: conn.execute("DELETE FROM events WHERE seq = 3"), 3, "missing"),
        (lambda conn: conn.execute("UPDATE events SET seq = 0 WHERE seq = 1"), 1, "missing"),
        (resealed, 4, "does not link"),
    ],
)
def test_tampering_is_named_at_the_same_event(
    tmp_path: Path, tamper: Callable[[sqlite3.Connection], object], seq: int, reason: str
) -> None:
    path = written(tmp_path / "events.sqlite3", 5)
    conn = sqlite3.connect(path)
    tamper(conn)
    conn.commit()
    conn.close()
    result = verdicts(path)
    assert isinstance(result, tuple)
    assert result[0] == seq
    assert reason in result[1]
