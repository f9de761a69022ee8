"""Merkle tree hashing as in RFC 6962 section 2.1 (leaf prefix 0x00, node prefix 0x01)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 over the leaves' data."""
    return _root([leaf_hash(leaf) for leaf in leaves]) if leaves else hashlib.sha256().digest()


def _root(hashes: Sequence[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    split = 1 << ((len(hashes) - 1).bit_length() - 1)  # the largest power of two below n
    return node_hash(_root(hashes[:split]), _root(hashes[split:]))
