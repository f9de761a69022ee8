"""The event store port: append-only streams of audit records, and commit notifications.

`Backends` groups what a node runs on: its event store, its blob store (blobs.py) and its bus.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from crypto import Frontier, leaf_hash
from recordings.audit import GENESIS, AuditRecord
from server.errors import ConflictError, FencedOut, StorageError

if TYPE_CHECKING:
    import asyncio

    from server.bus.base import Bus
    from server.storage.blobs import BlobStore

logger = logging.getLogger(__name__)

CommitListener = Callable[[str, Sequence[AuditRecord]], None]

# A blob sealed at rest (docs/spec/at-rest.md section 2): version, 12-byte nonce, 16-byte tag.
AT_REST_VERSION: Final = b"\x01"
SEALED_OVERHEAD: Final = 1 + 12 + 16


class Sealer(Protocol):
    """Authenticated encryption under one of the node's at-rest keys, which it never writes.

    `context` binds a blob to its place (JCS, as AEAD data); `open` raises DecryptionError for
    a blob that is damaged, moved, or sealed under another key.
    """

    def seal(self, data: bytes, context: object) -> bytes: ...

    def open(self, sealed: bytes, context: object) -> bytes: ...


@dataclass(frozen=True, slots=True)
class StreamHead:
    """The last committed record of a stream (seq 0 and the genesis hash when empty)."""

    seq: int = 0
    hash: str = GENESIS


class EventStore(Protocol):
    """Append-only, hash-chained streams. Implementations: sqlite.py (default), postgres.py,
    memory.py."""

    def fence(self, token: int) -> None:
        """From now on every append carries `token` (the home lease's, docs/sites.md section 4).

        The store keeps the greatest token its appends carried, durably, in the transaction that
        writes their records; an append carrying a smaller one fails with FencedOut and writes
        nothing. A store never fenced appends with no check (a node alone).
        """
        ...

    def append(self, stream: str, records: Sequence[AuditRecord]) -> asyncio.Future[None]:
        """Queue `records` now, in call order; the future resolves once they are durable.

        The first record must follow the stream's head (seq and prev hash), as seen after all
        earlier appends: otherwise the future fails with ConflictError and nothing is written.
        Commit listeners run, in commit order, before the future resolves.
        """
        ...

    async def read(self, stream: str, after_seq: int = 0, limit: int = 1000) -> list[AuditRecord]:
        """Committed records with seq > after_seq, in order, at most `limit`."""
        ...

    async def head(self, stream: str) -> StreamHead: ...

    async def latest(self, stream: str, event_type: str) -> AuditRecord | None:
        """The stream's last committed record of this type, if any."""
        ...

    async def tree_nodes(self, stream: str, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        """Hashes of the stream's Merkle tree nodes (level, index), committed with the events.

        Each stream is an RFC 6962 tree over its records' bodies, leaf i = seq i + 1; the
        store keeps every completed node so that proofs read O(log n) rows. StorageError if a
        node does not exist (yet).
        """
        ...

    async def streams(self) -> list[str]: ...

    async def check_writable(self) -> None:
        """Raise StorageError unless an append now could be written (readiness, /readyz).

        Cheap and without side effects: nothing is written to any stream.
        """
        ...

    def add_listener(self, listener: CommitListener) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Backends:
    """What a node runs on, built from its settings by server/backends.py."""

    store: EventStore
    blobs: BlobStore
    bus: Bus


# Stores keep the tree's nodes from this level up (subtrees of 256 leaves and more): one row
# per 128 events. A node below it is recomputed from at most 256 event bodies when a proof
# needs it, so a proof still reads a bounded number of rows whatever the stream's length.
STORED_LEVEL: Final = 8


def tree_rows(frontier: Frontier, records: Sequence[AuditRecord]) -> list[tuple[int, int, bytes]]:
    """Grow `frontier` by the records' leaves; the stored nodes (level, index, hash) completed."""
    nodes: list[tuple[int, int, bytes]] = []
    for record in records:
        nodes += [
            n for n in frontier.append(leaf_hash(record.body.encode())) if n[0] >= STORED_LEVEL
        ]
    return nodes


def node_from_bodies(level: int, bodies: Sequence[str]) -> bytes:
    """The hash of a perfect subtree of 2**level leaves, from the bodies of its records."""
    if len(bodies) != 1 << level:
        raise StorageError(
            f"A node of level {level} covers {1 << level} events, not {len(bodies)}."
        )
    frontier = Frontier()
    for body in bodies:
        frontier.append(leaf_hash(body.encode()))
    return frontier.root()


def check_links(stream: str, records: Sequence[AuditRecord]) -> None:
    """Refuse a batch that is empty, mixes streams, or does not chain internally."""
    if not records:
        raise ValueError("An append needs at least one record.")
    for before, after in itertools.pairwise(records):
        if after.seq != before.seq + 1 or after.prev != before.hash:
            raise ValueError("The records of one append must follow each other.")
    if any(record.stream != stream for record in records):
        raise ValueError("Every record of an append must belong to its stream.")


def conflict(stream: str, head: StreamHead, first: AuditRecord) -> ConflictError:
    return ConflictError(
        f"Stream {stream} is at event {head.seq}; an append starting at {first.seq} "
        "does not follow it. Reload and retry."
    )


def fenced_out(token: int, greatest: int) -> FencedOut:
    return FencedOut(
        f"This node's fencing token {token} is older than {greatest}: a newer home appends now."
    )


def notify(
    listeners: Sequence[CommitListener], stream: str, records: Sequence[AuditRecord]
) -> None:
    """Tell every listener about a commit; one failing listener can't silence the others."""
    for listener in listeners:
        try:
            listener(stream, records)
        except Exception:
            logger.exception("A commit listener failed on stream %s", stream)
