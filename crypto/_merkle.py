"""Merkle trees as in RFC 6962 / RFC 9162: hashing, incremental building, proofs.

Hashes: leaves `SHA-256(0x00 || data)`, nodes `SHA-256(0x01 || left || right)`, the empty tree
`SHA-256("")`. A tree is stored as its perfect subtrees: node (level, index) is the root of
leaves `[index * 2^level, (index + 1) * 2^level)`. Any subtree a proof needs is either such a
node or a run of them along the tree's right edge (`subtree_nodes`), so a proof takes
O(log n) stored nodes, never the leaves.

Proofs are made in two steps so that storage stays outside this module: `inclusion_ranges` /
`consistency_ranges` say which subtrees are needed, the caller fetches their nodes, and
`range_root` folds each run. Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final

from crypto.errors import ProofError

if TYPE_CHECKING:
    from collections.abc import Sequence

HASH_BYTES: Final = 32
EMPTY_ROOT: Final = hashlib.sha256().digest()

Node = tuple[int, int]  # (level, index)


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 over the leaves' data."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf_hash(leaf))
    return frontier.root()


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


class Frontier:
    """The right edge of a growing tree: one perfect subtree per set bit of its size."""

    def __init__(self) -> None:
        self.size = 0
        self._edge: list[tuple[int, bytes]] = []  # (level, hash), largest first

    @classmethod
    def of(cls, size: int, hashes: Sequence[bytes]) -> Frontier:
        """The frontier of a tree of `size` leaves, from the hashes of `subtree_nodes(0, size)`."""
        nodes = subtree_nodes(0, size)
        if len(hashes) != len(nodes):
            raise ValueError(f"A tree of {size} leaves has {len(nodes)} edge nodes.")
        frontier = cls()
        frontier.size = size
        frontier._edge = [(level, h) for (level, _), h in zip(nodes, hashes, strict=True)]
        return frontier

    def copy(self) -> Frontier:
        clone = Frontier()
        clone.size, clone._edge = self.size, list(self._edge)
        return clone

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; returns the nodes it completes (level, index, hash), leaf first."""
        index, level, current = self.size, 0, leaf
        completed = [(0, index, leaf)]
        while self._edge and self._edge[-1][0] == level:
            _, left = self._edge.pop()
            current, level, index = node_hash(left, current), level + 1, index >> 1
            completed.append((level, index, current))
        self._edge.append((level, current))
        self.size += 1
        return completed

    def root(self) -> bytes:
        return range_root([h for _, h in self._edge]) if self._edge else EMPTY_ROOT


def subtree_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees that make up leaves [start, end), largest first.

    For the ranges of a tree's own recursion (a start aligned to the largest power of two
    below the range's length), `range_root` over their hashes is MTH(D[start:end]).
    """
    if not 0 <= start < end:
        raise ValueError(f"No leaves in [{start}, {end}).")
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):  # keep each subtree aligned
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def range_root(hashes: Sequence[bytes]) -> bytes:
    """The root over consecutive perfect subtrees (largest first), as RFC 6962 splits."""
    current = hashes[-1]
    for left in reversed(hashes[:-1]):
        current = node_hash(left, current)
    return current


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots make the inclusion proof of leaf `index` (RFC 6962 PATH)."""
    if not 0 <= index < size:
        raise ValueError(f"Leaf {index} is not in a tree of {size}.")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]  # the leaf's sibling first


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots prove a tree of `old` leaves a prefix of one of `new`."""
    if not 0 < old <= new:
        raise ValueError(f"No consistency proof from {old} to {new} leaves.")
    ranges: list[tuple[int, int]] = []
    start, end, whole = 0, new, True  # `whole`: the old tree is this subtree, complete
    while old - start != end - start:
        k = _split(end - start)
        if old - start <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, whole = start + k, False
    if not whole:
        ranges.append((start, end))
    return ranges[::-1]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless `proof` shows the leaf hash at `index` in the tree `root`."""
    if not 0 <= index < size:
        raise ProofError(f"Leaf {index} is not in a tree of {size}.")
    _check_hashes([leaf, root, *proof])
    fn, sn, current = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise ProofError("The inclusion proof is longer than the tree is deep.")
        if fn & 1 or fn == sn:
            current = node_hash(sibling, current)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            current = node_hash(current, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("The inclusion proof is shorter than the tree is deep.")
    if current != root:
        raise ProofError("The inclusion proof does not lead to the tree's root.")


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless `proof` shows the tree `old_root` is a prefix of `new_root`."""
    _check_hashes(proof)  # roots are compared, never hashed: any length simply fails to match
    if not 0 < old <= new:
        raise ProofError(f"No consistency between trees of {old} and {new} leaves.")
    if old == new:
        if proof or old_root != new_root:
            raise ProofError("Trees of one size are consistent only if equal, with no proof.")
        return
    path = list(proof)
    if old & (old - 1) == 0:  # a perfect old tree: its root is the first node of the path
        _check_hashes([old_root])
        path.insert(0, old_root)
    if not path:
        raise ProofError("The consistency proof is empty.")
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old_hash = new_hash = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError("The consistency proof is longer than the tree is deep.")
        if fn & 1 or fn == sn:
            old_hash, new_hash = node_hash(node, old_hash), node_hash(node, new_hash)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            new_hash = node_hash(new_hash, node)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("The consistency proof is shorter than the tree is deep.")
    if old_hash != old_root:
        raise ProofError("The consistency proof does not lead to the old root.")
    if new_hash != new_root:
        raise ProofError("The consistency proof does not lead to the new root.")


def _check_hashes(hashes: Sequence[bytes]) -> None:
    if any(len(value) != HASH_BYTES for value in hashes):
        raise ProofError(f"Every hash in a proof is {HASH_BYTES} bytes.")
