"""Signed tree heads and proofs: the log as a Merkle tree anyone can check (audit-bundle.md).

The store keeps each stream's tree as events commit. The ledger appends a signed tree head
(an event too) when a stream changes phase or has grown by `every` events since the last one;
this module says when and signs it, and answers inclusion and consistency proofs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from crypto import (
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    range_root,
    subtree_nodes,
)
from recordings.documents import TREE_HEAD_LABEL, tree_head_document
from recordings.vocabulary import EventType
from server.domain.events import TreeHeadSigned
from server.errors import BadRequest, NotFound
from server.protocol.times import format_time

if TYPE_CHECKING:
    from collections.abc import Sequence

    from recordings.audit import AuditRecord
    from server.clock import Clock
    from server.domain.access import Actor
    from server.service.ledger import Origin
    from server.service.node_keys import NodeKeys
    from server.storage.base import EventStore

# The moments a tree head is signed at once: each is a phase the log must be pinned at.
PHASES: Final = frozenset(
    {
        EventType.TENDER_PUBLISHED,
        EventType.TENDER_BIDDING_CLOSED,
        EventType.BOX_SEALED,
        EventType.TENDER_OPENING_STARTED,
        EventType.OPENING_RECORD_PUBLISHED,
        EventType.OPENING_CLOSED,
        EventType.TENDER_EVALUATION_STARTED,
        EventType.TENDER_CONCLUDED,
        EventType.TENDER_FAILED,
        EventType.TENDER_CANCELLED,
    }
)


class TreeHeadPolicy:
    """When the ledger appends a signed tree head to a stream, and how it signs one.

    The tree head goes into the same commit as the events that made it due, right after them,
    so every stream's tree heads sit at fixed, reproducible places in its log.
    """

    def __init__(self, keys: NodeKeys, clock: Clock, origin: Origin, every: int) -> None:
        self._keys = keys
        self._clock = clock
        self.origin = origin
        self.every = every

    def due(self, types: Sequence[str], since: int) -> bool:
        """After these events, `since` of them since the last tree head: is one due?"""
        return since >= self.every or any(t in PHASES for t in types)

    def signed(self, stream: str, size: int, root: bytes) -> TreeHeadSigned:
        document = tree_head_document(stream, size, root.hex(), format_time(self._clock.now()))
        return TreeHeadSigned(document, self._keys.sign(TREE_HEAD_LABEL, document))


class TreeHeads:
    """Signed tree heads and proofs for readers (who may ask only about events they see)."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    # Reading.

    async def root(self, stream: str, size: int) -> bytes:
        return range_root(await self._store.tree_nodes(stream, subtree_nodes(0, size)))

    async def latest(self, stream: str) -> AuditRecord:
        found = await self._store.latest(stream, TreeHeadSigned.TYPE)
        if found is None:
            raise NotFound(f"No tree head of {stream} has been signed yet.")
        return found

    async def inclusion(self, actor: Actor, stream: str, seq: int, size: int) -> dict[str, Any]:
        """The audit path of record `seq` in the tree of `size` records; seen events only."""
        record = await self._visible_record(actor, stream, seq)
        await self._check_size(stream, size, at_least=seq)
        ranges = inclusion_ranges(seq - 1, size)
        proof = [await self._range(stream, a, b) for a, b in ranges]
        return {
            "stream": stream, "seq": seq, "size": size,
            "leaf_hash": leaf_hash(record.body.encode()).hex(),
            "proof": [node.hex() for node in proof],
        }  # fmt: skip

    async def consistency(self, stream: str, old: int, new: int) -> dict[str, Any]:
        """The consistency path between the trees of `old` and `new` records."""
        if not 0 < old <= new:
            raise BadRequest("Ask for a consistency proof with 0 < from <= to.")
        await self._check_size(stream, new, at_least=old)
        proof = [await self._range(stream, a, b) for a, b in consistency_ranges(old, new)]
        return {"stream": stream, "from": old, "to": new, "proof": [n.hex() for n in proof]}

    async def _range(self, stream: str, start: int, end: int) -> bytes:
        return range_root(await self._store.tree_nodes(stream, subtree_nodes(start, end)))

    async def _visible_record(self, actor: Actor, stream: str, seq: int) -> AuditRecord:
        found = await self._store.read(stream, seq - 1, 1)
        if not found or found[0].seq != seq or not found[0].visibility & actor.audiences():
            raise NotFound(f"There is no event {seq} you may see in {stream}.")
        return found[0]

    async def _check_size(self, stream: str, size: int, *, at_least: int) -> None:
        head = (await self._store.head(stream)).seq
        if not at_least <= size <= head:
            raise BadRequest(f"The tree size must be from {at_least} to {head}.")
