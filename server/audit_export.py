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

from server.backends import build_backends
from server.clock import SystemClock
from server.errors import NotFound
from server.protocol import TENDER_ID_PATTERN
from server.service.bundles import collect_bundle
from server.service.ledger import Ledger, Origin
from server.service.node import aggregate_for, load_node_key, node_id_of
from server.service.node_keys import NodeKeys
from server.service.treeheads import TreeHeadPolicy

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from crypto import SigningKey
    from server.config import Settings


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
        node = Origin(node_id_of(key), "node", "local")
        policy = TreeHeadPolicy(NodeKeys(key), SystemClock(), node, settings.tree_head_every)
        ledger = Ledger(store, SystemClock(), aggregate_for, policy)
        return await collect_bundle(
            store, ledger, node=node.id, node_key=key.verify_key.to_text(), tender=tender, now=now
        )
    finally:
        await store.close()
