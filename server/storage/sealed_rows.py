"""Audit records sealed at rest in the rows of the persistent stores (SQLite, PostgreSQL), and
the offline readers that open them.

Specified in docs/spec/at-rest.md section 3: every body is sealed under the node's records key,
bound to its stream and sequence number, padded to hide its length; type, time and hash are
not stored (the hash is recomputed from the opened body).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from crypto import DecryptionError
from recordings.audit import AuditRecord, ChainVerifier, record_hash
from recordings.errors import ChainBroken
from server.errors import StorageError

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable, Iterator

    from server.storage.base import Sealer

# Bodies are padded to a multiple of this many bytes, so a row's length does not give a
# record's exact size (kinds can still differ: a receipt pads to 768 bytes, a sign-in to 512).
RECORD_PAD: Final = 256
_UNOPENED: Final = "it does not open under the node's key: altered, moved or another node's"

Row = tuple[str, int, str, str, bytes, str]


def row_context(stream: str, seq: int) -> dict[str, object]:
    return {"seq": seq, "stream": stream}


def padded(body: bytes) -> bytes:
    return body + b" " * (-len(body) % RECORD_PAD)


def sealed_body(sealer: Sealer, record: AuditRecord) -> bytes:
    """What a store keeps of `record` besides its stream and seq."""
    return sealer.seal(padded(record.body.encode("utf-8")), row_context(record.stream, record.seq))


def seal_row(sealer: Sealer, record: AuditRecord) -> Row:
    """The SQLite row stored for `record`: (stream, seq, type, time, body, hash)."""
    return (record.stream, record.seq, "", "", sealed_body(sealer, record), "")


def open_body(sealer: Sealer, stream: str, seq: int, sealed: bytes) -> str:
    """The canonical body of a stored row; StorageError if it does not open here."""
    try:
        plain = sealer.open(bytes(sealed), row_context(stream, seq))
    except DecryptionError:
        raise StorageError(
            f"Event {seq} of {stream} does not open under this node's key: altered, moved,"
            " or written by another node."
        ) from None
    return plain.rstrip(b" ").decode("utf-8")  # a canonical body ends with "}"


def open_record(sealer: Sealer, stream: str, seq: int, sealed: bytes) -> AuditRecord:
    body = open_body(sealer, stream, seq, sealed)
    return AuditRecord.load(body, record_hash(body.encode("utf-8")))


def verified_row(sealer: Sealer, stream: str, seq: int, sealed: bytes) -> tuple[int, str, str]:
    """(seq, body, hash) for an offline verifier: a row that does not open breaks the chain."""
    try:
        body = open_body(sealer, stream, seq, sealed)
    except StorageError:
        raise ChainBroken(stream, seq, _UNOPENED) from None
    return seq, body, record_hash(body.encode("utf-8"))


def verified_rows(
    sealer: Sealer, stream: str, rows: Iterable[tuple[int, bytes]]
) -> Iterator[tuple[int, str, str]]:
    """(seq, body, hash) of (seq, sealed body) rows in seq order, for recordings.verify_chain."""
    for expected, (seq, sealed) in enumerate(rows, 1):
        # A gap goes to the verifier as it is, to be named a gap before anything is opened.
        yield (seq, "", "") if seq != expected else verified_row(sealer, stream, seq, sealed)


def opened_rows(
    sealer: Sealer, stream: str, rows: Iterable[tuple[int, bytes]], chain: ChainVerifier
) -> None:
    """Feed (seq, sealed body) rows of `stream`, in seq order, to `chain` as they open.

    What `verified_row` and `verify_chain` do for each row, without hashing the body twice:
    the store keeps no hash, the chain hash is the opened body's own. A row out of place goes
    to the verifier as it is, to be named a gap before anything is opened.
    """
    expected = 1
    for seq, sealed in rows:
        if seq != expected:
            chain.add(seq, "", "")
        try:
            plain = sealer.open(bytes(sealed), {"seq": expected, "stream": stream})
        except DecryptionError:
            raise ChainBroken(stream, seq, _UNOPENED) from None
        encoded = plain.rstrip(b" ")  # a canonical body ends with "}"
        chain.add(seq, encoded.decode("utf-8"), None, encoded)
        expected += 1


def seal_all(conn: sqlite3.Connection, sealer: Sealer) -> None:
    """Schema 2 to 3, inside the caller's transaction: seal every clear row in place."""
    rows = conn.execute("SELECT rowid, stream, seq, body FROM events").fetchall()
    for rowid, stream, seq, body in rows:
        sealed = sealer.seal(padded(body.encode("utf-8")), row_context(stream, seq))
        conn.execute(
            "UPDATE events SET type = '', time = '', hash = '', body = ? WHERE rowid = ?",
            (sealed, rowid),
        )
