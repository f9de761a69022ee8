"""A tender's audit bundle (docs/spec/audit-bundle.md) from a store: the node serves it to
supervisors over HTTP, and `bidroom audit export` writes it offline.

The export first closes the tail of each stream it takes with a signed tree head, so every
record in the bundle is under a signed root; participants' keys come with proofs that the
node's signed system log holds their enrolment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crypto import inclusion_ranges, range_root, subtree_nodes
from recordings.bundle import Enrolment, bundle_lines
from recordings.vocabulary import EventType
from server.errors import NotFound
from server.protocol import SYSTEM_STREAM, box_stream
from server.protocol.times import format_time

if TYPE_CHECKING:
    from datetime import datetime

    from recordings.audit import AuditRecord
    from server.service.ledger import Ledger
    from server.storage.base import EventStore

READ_PAGE = 1000


async def collect_bundle(
    store: EventStore, ledger: Ledger, *, node: str, node_key: str, tender: str, now: datetime
) -> tuple[list[str], dict[str, int]]:
    """The bundle's lines and counts (`events`, `participants`); NotFound for no such tender."""
    streams_held = await store.streams()
    if tender not in streams_held:
        raise NotFound(f"There is no tender {tender} in this node's log.")
    box = box_stream(tender)
    streams = [tender, box] if box in streams_held else [tender]
    for stream in (*streams, SYSTEM_STREAM):
        await ledger.pin(stream)  # every record exported is under a signed root
    records = {stream: await _all(store, stream) for stream in (*streams, SYSTEM_STREAM)}
    system_head = records[SYSTEM_STREAM][-1]
    actors = {r.actor_id for stream in streams for r in records[stream]}
    enrolments = [
        Enrolment(r, await _proof(store, r.seq, system_head.seq - 1))
        for r in records[SYSTEM_STREAM]
        if r.type == EventType.PARTICIPANT_ENROLLED and r.payload["id"] in actors
    ]
    lines = list(
        bundle_lines(
            tender=tender, node=node, node_key=node_key, exported_at=format_time(now),
            system_tree_head=system_head, participants=enrolments,
            streams=[(s, records[s]) for s in streams],
        )
    )  # fmt: skip
    counts = {"events": sum(len(records[s]) for s in streams), "participants": len(enrolments)}
    return lines, counts


async def _all(store: EventStore, stream: str) -> list[AuditRecord]:
    found: list[AuditRecord] = []
    while page := await store.read(stream, len(found), READ_PAGE):
        found += page
    return found


async def _proof(store: EventStore, seq: int, size: int) -> list[str]:
    nodes = []
    for start, end in inclusion_ranges(seq - 1, size):
        nodes.append(range_root(await store.tree_nodes(SYSTEM_STREAM, subtree_nodes(start, end))))
    return [node.hex() for node in nodes]
