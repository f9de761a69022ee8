"""RFC 6962 trees: hashing, building and proofs, against the transparency-dev/merkle data."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from crypto import (
    EMPTY_ROOT,
    Frontier,
    ProofError,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    merkle_root,
    node_hash,
    range_root,
    subtree_nodes,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f")
]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_match_rfc6962_reference_values(size: int) -> None:
    assert merkle_root(LEAVES[:size]).hex() == ROOTS[size]


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"")[:4].hex() == "6e340b9c"
    assert node_hash(leaf_hash(b""), leaf_hash(b"\x00")).hex() == ROOTS[2]
    assert leaf_hash(b"\x01" + b"x" * 64) != node_hash(b"x" * 32, b"x" * 32)


# Proofs, against the transparency-dev/merkle test data (vectors/rfc6962-transparency-dev.json).

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "rfc6962-transparency-dev.json").read_text()
)


def b64(value: str) -> bytes:
    return base64.b64decode(value)


def proof_of(case: dict[str, Any]) -> list[bytes]:
    return [b64(node) for node in case["proof"] or []]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: c["name"])
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    def check() -> None:
        verify_inclusion(
            b64(case["leafHash"]), case["leafIdx"], case["treeSize"], proof_of(case),
            b64(case["root"]),
        )  # fmt: skip

    if case["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: c["name"])
def test_consistency_vectors(case: dict[str, Any]) -> None:
    def check() -> None:
        verify_consistency(
            case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]), proof_of(case)
        )

    if case["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


class StoredTree:
    """A tree kept the way the node keeps it: every completed node by (level, index)."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        frontier = Frontier()
        for leaf in leaves:
            for level, index, value in frontier.append(leaf_hash(leaf)):
                self.nodes[(level, index)] = value
        self.frontier = frontier

    def root_of(self, start: int, end: int) -> bytes:
        return range_root([self.nodes[node] for node in subtree_nodes(start, end)])

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return [self.root_of(a, b) for a, b in inclusion_ranges(index, size)]

    def consistency(self, old: int, new: int) -> list[bytes]:
        return [self.root_of(a, b) for a, b in consistency_ranges(old, new)]


def test_generated_proofs_are_the_reference_proofs() -> None:
    tree = StoredTree(LEAVES)
    for case in VECTORS["inclusion"]:
        if case["name"].endswith("happy-path"):
            assert tree.inclusion(case["leafIdx"], case["treeSize"]) == proof_of(case)
    for case in VECTORS["consistency"]:
        if case["name"].endswith("happy-path") and case["size1"] != case["size2"]:
            assert tree.consistency(case["size1"], case["size2"]) == proof_of(case)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 300), data=st.data())
def test_every_proof_verifies_and_a_changed_one_does_not(size: int, data: st.DataObject) -> None:
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    tree = StoredTree(leaves)
    assert tree.frontier.root() == merkle_root(leaves)
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    root, old_root = merkle_root(leaves), merkle_root(leaves[:old])
    inclusion, consistency = tree.inclusion(index, size), tree.consistency(old, size)
    verify_inclusion(leaf_hash(leaves[index]), index, size, inclusion, root)
    verify_consistency(old, size, old_root, root, consistency)
    assert len(inclusion) <= size.bit_length()
    assert len(consistency) <= 2 * size.bit_length()
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(b"other"), index, size, inclusion, root)
    if consistency:
        flipped = [bytes([consistency[0][0] ^ 1]) + consistency[0][1:], *consistency[1:]]
        with pytest.raises(ProofError):
            verify_consistency(old, size, old_root, root, flipped)


def test_a_frontier_resumes_from_its_stored_edge() -> None:
    tree = StoredTree(LEAVES[:6])
    edge = [tree.nodes[node] for node in subtree_nodes(0, 6)]
    resumed = Frontier.of(6, edge)
    for leaf in LEAVES[6:]:
        resumed.append(leaf_hash(leaf))
    assert resumed.root().hex() == ROOTS[8]
    with pytest.raises(ValueError, match="edge nodes"):
        Frontier.of(6, edge[:1])
    assert Frontier().root() == EMPTY_ROOT


@pytest.mark.parametrize(("start", "end"), [(0, 0), (3, 2), (-1, 4)])
def test_empty_ranges_are_refused(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="No leaves"):
        subtree_nodes(start, end)


def test_impossible_proofs_are_not_made() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_ranges(5, 5)
    with pytest.raises(ValueError, match="No consistency"):
        consistency_ranges(0, 5)
    with pytest.raises(ProofError, match="32 bytes"):
        verify_inclusion(leaf_hash(b""), 0, 2, [b"short"], EMPTY_ROOT)


def test_a_perfect_old_root_of_the_wrong_length_is_refused() -> None:
    tree = StoredTree(LEAVES)
    proof = tree.consistency(4, 8)
    good = merkle_root(LEAVES[:4])
    verify_consistency(4, 8, good, merkle_root(LEAVES), proof)
    for odd in (b"", good + good):
        with pytest.raises(ProofError, match="32 bytes"):
            verify_consistency(4, 8, odd, merkle_root(LEAVES), proof)
