"""Checking the node's log from the outside: signed tree heads, proofs, and a witness.

A participant needs no privileged data: an inclusion proof is a list of hashes, so a bidder
proves that a record it may read (its sealed list, the opening record) is in a tree the node
signed. A witness remembers the last tree head it saw and checks that each new one extends it:
a node that rewrites or forks its log is caught at the next look (docs/spec/audit-bundle.md).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crypto import (
    HASH_BYTES,
    CryptoError,
    VerifyKey,
    b64url_decode,
    canonical_json,
    leaf_hash,
    verify,
    verify_consistency,
    verify_inclusion,
)
from evaluator_client.errors import ClientError
from recordings.documents import TREE_HEAD_LABEL
from server.protocol import box_tender

if TYPE_CHECKING:
    from pathlib import Path

    from evaluator_client.session import Session


class ForkDetected(ClientError):
    """The node showed a tree head that does not extend one it showed before."""


@dataclass(frozen=True, slots=True)
class TreeHead:
    stream: str
    size: int
    root: bytes
    document: dict[str, Any]
    signature: str

    @classmethod
    def checked(cls, payload: dict[str, Any], node_key: VerifyKey) -> TreeHead:
        """A tree head from an `audit.tree_head` payload, its node signature verified."""
        document, signature = payload["tree_head"], payload["signature"]
        try:
            verify(node_key, TREE_HEAD_LABEL, document, b64url_decode(signature))
            head = cls(
                str(document["stream"]), int(document["size"]), bytes.fromhex(document["root"]),
                dict(document), signature,
            )  # fmt: skip
        except (CryptoError, KeyError, TypeError, ValueError):
            raise ClientError("The tree head is not signed by the node.") from None
        if len(head.root) != HASH_BYTES or head.size < 1:
            raise ClientError("The tree head's root or size is not one a tree can have.")
        return head


def _path(stream: str) -> str:
    tender = box_tender(stream)
    return f"/api/tenders/{tender}/bid-box" if tender else f"/api/tenders/{stream}"


async def latest_tree_head(session: Session, stream: str, node_key: VerifyKey) -> TreeHead:
    head = TreeHead.checked(await session.get(f"{_path(stream)}/tree-head"), node_key)
    if head.stream != stream:
        raise ClientError(f"Asked for the tree head of {stream}, the node sent {head.stream}'s.")
    return head


async def prove_included(session: Session, record: dict[str, Any], tree_head: TreeHead) -> None:
    """Check that `record` (as read from the node) is in the signed tree; ClientError if not."""
    seq = int(record["seq"])
    if record.get("stream") != tree_head.stream or seq > tree_head.size:
        raise ClientError(f"Event {seq} is not covered by the tree head of {tree_head.size}.")
    query = f"seq={seq}&size={tree_head.size}"
    answer = await session.get(f"{_path(tree_head.stream)}/proofs/inclusion?{query}")
    proof = [bytes.fromhex(node) for node in answer["proof"]]
    try:
        verify_inclusion(
            leaf_hash(canonical_json(record)), seq - 1, tree_head.size, proof, tree_head.root
        )
    except CryptoError as exc:
        raise ClientError(f"Event {seq} is not in the signed log: {exc}") from None


class Witness:
    """Remembers, in a file, the last tree head seen of each stream, and checks the next."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def _load(self) -> dict[str, dict[str, Any]]:
        if not self._path.exists():
            return {}
        seen: dict[str, dict[str, Any]] = json.loads(self._path.read_text(encoding="utf-8"))
        return seen

    def remembered(self, stream: str) -> tuple[int, bytes] | None:
        known = self._load().get(stream)
        return None if known is None else (int(known["size"]), bytes.fromhex(known["root"]))

    def _remember(self, head: TreeHead) -> None:
        seen = self._load()
        seen[head.stream] = {"size": head.size, "root": head.root.hex()}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_suffix(".tmp")  # never a half-written memory
        temporary.write_text(json.dumps(seen, indent=1, sort_keys=True), encoding="utf-8")
        temporary.replace(self._path)

    async def observe(self, session: Session, head: TreeHead) -> str:
        """Check `head` against the last one seen, then remember it; ForkDetected if it does
        not extend it. Returns what was found: `first`, `same` or `extends <size>`."""
        known = await asyncio.to_thread(self.remembered, head.stream)
        if known is None:
            outcome = "first"
        elif known[0] > head.size:
            raise ForkDetected(
                f"The node now shows {head.stream} at {head.size} events after {known[0]}."
            )
        elif known[0] == head.size:
            if known[1] != head.root:
                raise ForkDetected(f"Two different trees of {head.size} events of {head.stream}.")
            outcome = "same"
        else:
            query = f"from={known[0]}&to={head.size}"
            answer = await session.get(f"{_path(head.stream)}/proofs/consistency?{query}")
            proof = [bytes.fromhex(node) for node in answer["proof"]]
            try:
                verify_consistency(known[0], head.size, known[1], head.root, proof)
            except CryptoError as exc:
                raise ForkDetected(
                    f"The log of {head.stream} at {head.size} does not extend what was seen at"
                    f" {known[0]}: {exc}"
                ) from None
            outcome = f"extends {known[0]}"
        await asyncio.to_thread(self._remember, head)
        return outcome
