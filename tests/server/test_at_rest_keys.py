"""The node's at-rest keys: one per purpose, derived from the node key, never shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from crypto import DecryptionError, SigningKey
from server.backends import build_backends
from server.service.node import Node
from server.service.node_keys import NodeKeys
from server.storage.memory import MemoryEventStore

if TYPE_CHECKING:
    from server.config import Settings
    from tests.conftest import ManualClock


def test_each_purpose_has_its_own_key_and_blobs_open_only_in_their_place() -> None:
    key = SigningKey.generate()
    keys, again = NodeKeys(key), NodeKeys(key)
    sealed = keys.records.seal(b"body", {"stream": "t-1", "seq": 1})
    assert sealed[0] == 1  # the format's version byte
    assert again.records.open(sealed, {"stream": "t-1", "seq": 1}) == b"body"
    for sealer, context in [
        (keys.records, {"stream": "t-1", "seq": 2}),  # moved
        (keys.bids, {"stream": "t-1", "seq": 1}),  # another purpose
        (NodeKeys(SigningKey.generate()).records, {"stream": "t-1", "seq": 1}),  # another node
    ]:
        with pytest.raises(DecryptionError):
            sealer.open(sealed, context)
    with pytest.raises(DecryptionError, match="format 1"):
        keys.records.open(b"\x02" + sealed[1:], {"stream": "t-1", "seq": 1})
    assert repr(keys.uploads) == "AtRest(<redacted>)"


async def test_a_node_seals_bid_files_of_the_older_layout_when_it_starts(
    settings: Settings, clock: ManualClock
) -> None:
    bids = settings.data_dir / "bids"
    bids.mkdir(parents=True)
    legacy = bids / f"{'a' * 64}.sealed"
    legacy.write_bytes(b"BIDROOM-SEALED-BID/1\n" + b'{"bidder":"p-4f2a9c1b7d3e"}')
    key = SigningKey.generate()
    backends = build_backends(settings, NodeKeys(key), store=MemoryEventStore())
    node = Node(settings, backends, clock, key)
    await node.start(schedule=False)
    try:
        assert not legacy.exists()
        assert sorted(p.name for p in bids.iterdir()) == [f"{'a' * 64}.body", f"{'a' * 64}.head"]
    finally:
        await node.close()
