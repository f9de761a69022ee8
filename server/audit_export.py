"""Exporting a tender's audit bundle from the node's data directory, offline.

Whoever holds the data directory (and the node key) can export. The export first closes the
tail of each stream it takes with a signed tree head, so every record in the bundle is under a
signed root; participants' keys come with proofs that the node's signed system log holds their
enrolment. The bundle is then checked by anyone, with no server (`bidroom audit verify`,
recordings/verify_bundle.py, docs/spec/audit-bundle.md).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from crypto import inclusion_ranges, range_root, subtree_nodes
from recordings.bundle import Enrolment, bundle_lines
from recordings.vocabulary import EventType
from server.backends import build_backends
from server.clock import SystemClock
from server.errors import NotFound
from server.protocol import SYSTEM_STREAM, TENDER_ID_PATTERN, box_stream
from server.protocol.times import format_time
from server.service.ledger import Ledger, Origin
from server.service.node import aggregate_for, load_node_key, node_id_of
from server.service.node_keys import NodeKeys
from server.service.treeheads import TreeHeadPolicy

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from crypto import SigningKey
    from recordings.audit import AuditRecord
    from server.config import Settings
    from server.storage.base import EventStore

READ_PAGE = 1000


def export_bundle(settings: Settings, tender: str, out: Path, now: datetime) -> dict[str, int]:
    """Write the bundle of `tender` to `out` (which must not exist); returns the counts."""
    if not TENDER_ID_PATTERN.fullmatch(tender):
        raise NotFound(f"{tender} is not a tender id.")
    if not settings.database_path.exists():
        raise NotFound(f"There is no audit log at {settings.database_path}.")
    key = load_node_key(settings.node_key_path, settings.node_key_passphrase)
    lines, counts = asyncio.run(_collect(settings, key, tender, now))
    with out.open("x", encoding="utf-8") as sink:
        sink.writelines(lines)
    return counts


async def _collect(
    settings: Settings, key: SigningKey, tender: str, now: datetime
) -> tuple[list[str], dict[str, int]]:
    store = build_backends(settings, NodeKeys(key)).store
    await store.start()
    try:
        if tender not in await store.streams():
            raise NotFound(f"There is no tender {tender} in this node's log.")
        node = Origin(node_id_of(key), "node", "local")
        policy = TreeHeadPolicy(NodeKeys(key), SystemClock(), node, settings.tree_head_every)
        ledger = Ledger(store, SystemClock(), aggregate_for, policy)
        box = box_stream(tender)
        streams = [s for s in (tender, box) if s == tender or s in await store.streams()]
        for stream in (*streams, SYSTEM_STREAM):
            await ledger.pin(stream)  # every record exported is under a signed root
        records = {stream: await _all(store, stream) for stream in (*streams, SYSTEM_STREAM)}
        system = records[SYSTEM_STREAM]
        system_head = system[-1]
        actors = {r.actor_id for stream in streams for r in records[stream]}
        enrolments = [
            Enrolment(r, await _proof(store, r.seq, system_head.seq - 1))
            for r in system
            if r.type == EventType.PARTICIPANT_ENROLLED and r.payload["id"] in actors
        ]
        lines = list(
            bundle_lines(
                tender=tender, node=node.id, node_key=key.verify_key.to_text(),
                exported_at=format_time(now), system_tree_head=system_head,
                participants=enrolments, streams=[(s, records[s]) for s in streams],
            )
        )  # fmt: skip
        counts = {"events": sum(len(records[s]) for s in streams), "participants": len(enrolments)}
        return lines, counts
    finally:
        await store.close()


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
