"""Verifying an audit bundle with no server (docs/spec/audit-bundle.md section 4).

Trust comes from two places only: the node's key (which must be the key of the node named in
every record the node made, and may be pinned by the caller) and, optionally, tree heads the
caller witnessed before (`anchors`), which the bundle must extend. Everything else is checked
against those: chains, signed tree heads and their roots, participants' keys by inclusion in
the node's signed system log, signatures inside events, sealed lists against the bid box.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import TYPE_CHECKING, Any, Final

from crypto import (
    CryptoError,
    Frontier,
    VerifyKey,
    b64url_decode,
    canonical_json,
    digest,
    leaf_hash,
    merkle_root,
    verify,
    verify_inclusion,
)
from recordings.audit import record_hash, verify_chain
from recordings.bundle import BOX_SUFFIX, SYSTEM, Bundle, Report, Row, read_bundle
from recordings.documents import (
    CONFIRMATION_LABEL,
    OBJECTION_LABEL,
    RECEIPT_LABEL,
    RECORD_LABEL,
    SEALED_LIST_LABEL,
    TREE_HEAD_LABEL,
    confirmation_document,
    objection_document,
)
from recordings.errors import ChainBroken
from recordings.verify_evaluation import EvaluationChecks
from recordings.vocabulary import EventType

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

TREE_HEAD: Final = EventType.AUDIT_TREE_HEAD
_MALFORMED: Final = (KeyError, TypeError, ValueError, AttributeError, CryptoError)


def verify_bundle(
    lines: Iterable[str], recordings_dir: Path | None = None, *,
    node_key: str | None = None, anchors: Mapping[str, tuple[int, bytes]] | None = None,
) -> Report:  # fmt: skip
    """Check a bundle; `node_key` pins the node's key, `anchors` are witnessed tree heads
    (stream -> (size, root)) that the bundle must extend. Never raises on bad input."""
    report = Report()
    bundle = read_bundle(lines, report)
    if bundle is None:
        return report
    key = _node_key(bundle, node_key, report)
    keys = _participants(bundle, key, report)
    if bundle.tender not in bundle.streams:
        report.fail("bundle", "the tender's own events are missing")
    box = _box_receipts(bundle.streams.get(bundle.tender + BOX_SUFFIX, []))
    for stream, rows in bundle.streams.items():
        if _check_stream(stream, rows, key, report):
            _check_anchor(stream, rows, (anchors or {}).get(stream), report)
            _check_inside(bundle, stream, rows, key, keys, box, report)
    if recordings_dir is not None:
        _check_recordings(bundle, recordings_dir, report)
    return report


def _node_key(bundle: Bundle, pinned: str | None, report: Report) -> VerifyKey | None:
    """The key every node signature is checked with: the pinned one if given, else the
    header's. A mismatch is reported and the checks go on with that key (section 4)."""
    header = bundle.header
    try:
        named: VerifyKey | None = VerifyKey.from_text(str(header["node_key"]))
    except CryptoError as exc:
        report.fail("header", f"the node key is not a usable Ed25519 public key: {exc}")
        named = None
    key = named
    if pinned is not None:
        try:
            key = VerifyKey.from_text(pinned)
        except CryptoError as exc:
            report.fail("pinned key", f"not a usable Ed25519 public key: {exc}")
            return None
        if named is None or named.to_text() != key.to_text():
            report.fail("header", "the node key is not the one given to check it with")
    if key is None:
        return None
    node, sound = "n-" + key.fingerprint()[:16], True
    if header["node"] != node:
        report.fail("header", "the node key is not the key of the node named (swapped key)")
        sound = False
    rows = [*itertools.chain.from_iterable(bundle.streams.values())]
    if bundle.system_tree_head is not None:
        rows.append(bundle.system_tree_head)
    others = [
        f"{event.get('stream')} event {seq}"
        for seq, event, _ in rows
        if isinstance(actor := event.get("actor"), dict)
        and actor.get("role") == "node" and actor.get("id") != node
    ]  # fmt: skip
    if others:
        more = f" (and {len(others) - 1} more)" if len(others) > 1 else ""
        report.fail(others[0], f"made by another node than the key's{more}")
        sound = False
    if sound and named is not None and named.to_text() == key.to_text():
        report.count("node key")
    return key


def _check_tree_head(
    row: Row, stream: str, key: VerifyKey | None, report: Report
) -> tuple[int | None, bool]:
    """The size a tree head covers (None, reported, if it is not one) and whether its
    signature verified under `key` (a failure is reported; no key is a failure too)."""
    seq, event, _ = row
    where = f"{stream} event {seq}"
    payload = event.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("tree_head"), dict):
        report.fail(where, "not a tree head")
        return None, False
    document = payload["tree_head"]
    if event.get("type") != TREE_HEAD:
        report.fail(where, "not a tree head")
        return None, False
    signed = _verify_node(key, TREE_HEAD_LABEL, document, payload.get("signature"))
    if not signed:
        report.fail(where, _UNSIGNED if key is not None else _NO_KEY)
    size = document.get("size")
    if document.get("stream") != stream or type(size) is not int or not 0 < size < seq:
        report.fail(where, "the tree head names another stream, or a size it can't cover")
        return None, signed
    return size, signed


_UNSIGNED: Final = "the tree head's signature does not verify under the node key (forged)"
_NO_KEY: Final = "the signature was not checked: there is no usable node key"


def _verify_node(key: VerifyKey | None, label: str, document: object, signature: object) -> bool:
    if key is None:
        return False
    try:
        verify(key, label, document, b64url_decode(str(signature)))
    except CryptoError:
        return False
    return True


def _participants(
    bundle: Bundle, key: VerifyKey | None, report: Report
) -> dict[str, dict[str, Any]]:
    """Participants whose enrolment is proven in the node's signed system log."""
    head = bundle.system_tree_head
    if head is None:
        report.fail("bundle", "no system tree head: participants' keys can't be checked")
        return {}
    if record_hash(canonical_json(head[1])) != head[2]:
        report.fail("system tree head", "its content does not match its hash")
        return {}
    size, signed = _check_tree_head(head, SYSTEM, key, report)
    if size is None:
        return {}
    root = bytes.fromhex(str(head[1]["payload"]["tree_head"]["root"]))
    found: dict[str, dict[str, Any]] = {}
    for (seq, event, hash_), proof in bundle.participants:
        payload, where = event.get("payload"), f"participant at system event {seq}"
        try:
            body = canonical_json(event)
            if record_hash(body) != hash_ or event.get("type") != EventType.PARTICIPANT_ENROLLED:
                raise ValueError("not the enrolment record it says")
            if not isinstance(payload, dict):
                raise TypeError("an enrolment without its participant")
            nodes = [bytes.fromhex(p) for p in proof]
            verify_inclusion(leaf_hash(body), seq - 1, size, nodes, root)
        except _MALFORMED:
            report.fail(where, "its enrolment is not in the node's signed system log")
            continue
        found[str(payload["id"])] = payload
    if not signed:  # the proofs were checked, against a root the node key did not sign
        if found:
            report.fail("participants", "not proven: the system tree head is not the node's")
        return {}
    if found:
        report.count("participant keys proven", len(found))
    return found


def _check_stream(stream: str, rows: list[Row], key: VerifyKey | None, report: Report) -> bool:
    """Order, chain, tree heads, and a signed tree head over the last record."""
    for (before, _, _), (after, _, _) in itertools.pairwise(rows):
        if after <= before:
            report.fail(f"{stream} event {after}", f"moved or reordered (it follows {before})")
            return False
    try:
        bodies = [canonical_json(event).decode("utf-8") for _, event, _ in rows]
        verify_chain(stream, ((s, body, h) for (s, _, h), body in zip(rows, bodies, strict=True)))
    except ChainBroken as exc:
        report.fail(f"{stream} event {exc.seq}", exc.reason)
        return False  # what follows relies on the records being the ones that were logged
    except CryptoError:
        report.fail(stream, "an event that has no canonical form")
        return False
    report.count(f"events chained in {stream}", len(rows))
    sizes, signed = {}, set()
    for row in rows:
        if row[1].get("type") == TREE_HEAD:
            size, verified = _check_tree_head(row, stream, key, report)
            if size is not None:
                sizes[row[0]] = size
            if verified:
                signed.add(row[0])
    roots = _roots(bodies, set(sizes.values()))
    last = 0
    for seq, size in sizes.items():
        root = rows[seq - 1][1]["payload"]["tree_head"]["root"]
        if root != roots[size].hex():
            report.fail(
                f"{stream} event {seq}",
                f"the tree head's root is not the root of the first {size} events",
            )
        elif size < last:
            report.fail(
                f"{stream} event {seq}", f"the tree head goes back from {last} to {size} events"
            )
        else:
            last = size
            if seq in signed:  # a root that checks out under no signature proves nothing
                report.count("tree heads")
                report.signed_sizes[stream] = size
    final = rows[-1][0]
    if final not in signed or sizes.get(final) != len(rows) - 1:
        report.fail(
            stream,
            "its last events are under no signed tree head"
            f" (added or cut after {report.signed_sizes.get(stream, 0)})",
        )
    return True


def _roots(bodies: Sequence[str], sizes: set[int]) -> dict[int, bytes]:
    """The Merkle roots of the first `size` records, for each size a tree head names."""
    tree, roots = Frontier(), {}
    for body in bodies:
        tree.append(leaf_hash(body.encode()))
        if tree.size in sizes:
            roots[tree.size] = tree.root()
    return roots


def _check_anchor(
    stream: str, rows: list[Row], anchor: tuple[int, bytes] | None, report: Report
) -> None:
    """A tree head witnessed before: the bundle must hold the very records it covered."""
    if anchor is None:
        return
    size, root = anchor
    bodies = [canonical_json(event) for _, event, _ in rows[:size]]
    if len(bodies) < size or merkle_root(bodies) != root:
        report.fail(stream, f"does not extend the tree head of {size} witnessed before")
    else:
        report.count("witnessed tree heads extended")


def _box_receipts(rows: list[Row]) -> dict[tuple[str, str], dict[str, Any]] | None:
    """The current receipt of each (lot, bidder) when the box was sealed; None if unsealed."""
    current: dict[tuple[str, str], dict[str, Any]] = {}
    for _, event, _ in rows:
        payload = event.get("payload", {})
        try:
            if event.get("type") == EventType.BID_SUBMITTED:
                receipt = payload["receipt"]
                current[(receipt["lot"], receipt["bidder"])] = receipt
            elif event.get("type") == EventType.BID_WITHDRAWN:
                current.pop((payload["lot"], payload["bidder"]), None)
            elif event.get("type") == EventType.BOX_SEALED:
                return current
        except _MALFORMED:
            continue
    return None


def _check_inside(
    bundle: Bundle, stream: str, rows: list[Row], key: VerifyKey | None,
    keys: Mapping[str, dict[str, Any]], box: Mapping[tuple[str, str], Any] | None, report: Report,
) -> None:  # fmt: skip
    checker = _Signatures(bundle.tender, key, keys, box, report)
    evaluation = EvaluationChecks(bundle.tender, keys, report)
    for seq, event, _ in rows:
        try:
            checker.check(f"{stream} event {seq}", event)
            evaluation.check(f"{stream} event {seq}", event)
        except _MALFORMED as exc:
            report.fail(f"{stream} event {seq}", f"malformed content ({type(exc).__name__})")


class _Signatures:
    """The signatures and hashes inside events, with what each is over."""

    def __init__(
        self, tender: str, node_key: VerifyKey | None, keys: Mapping[str, dict[str, Any]],
        box: Mapping[tuple[str, str], Any] | None, report: Report,
    ) -> None:  # fmt: skip
        self._tender = tender
        self._node = node_key
        self._keys = keys
        self._box = box
        self._report = report
        self._record_hash = ""
        self._listed: set[str] = set()

    def check(self, where: str, event: dict[str, Any]) -> None:
        kind, payload = event["type"], event["payload"]
        if kind == EventType.BID_SUBMITTED:
            self._by_node(where, RECEIPT_LABEL, payload["receipt"], payload["signature"])
        elif kind == EventType.LOT_SEALED:
            self._sealed_list(where, payload)
        elif kind == EventType.OPENING_RECORD_PUBLISHED:
            if (
                digest(RECORD_LABEL, canonical_json(payload["record"])).hex()
                != payload["record_hash"]
            ):
                self._report.fail(where, "the opening record does not have its hash")
            self._record_hash = str(payload["record_hash"])
        elif kind == EventType.OPENING_CONFIRMED:
            document = confirmation_document(self._tender, self._record_hash)
            self._by_bidder(where, payload["bidder"], CONFIRMATION_LABEL, document, payload)
        elif kind == EventType.OPENING_OBJECTION_RAISED:
            document = objection_document(self._tender, self._record_hash, payload["text"])
            self._by_bidder(where, payload["bidder"], OBJECTION_LABEL, document, payload)
        elif kind == EventType.OPENING_CLOSED:
            final = payload["record"]
            self._by_node(where, RECORD_LABEL, final, payload["signature"])
            if digest(RECORD_LABEL, canonical_json(final)).hex() != payload["record_hash"]:
                self._report.fail(where, "the final record does not have its hash")

    def _by_node(self, where: str, label: str, document: object, signature: str) -> None:
        if self._node is None:
            self._report.fail(where, f"the node's {label} signature: {_NO_KEY}")
        elif not _verify_node(self._node, label, document, signature):
            self._report.fail(where, f"the node's {label} signature does not verify")
        else:
            self._report.count(f"{label} signatures")

    def _sealed_list(self, where: str, payload: dict[str, Any]) -> None:
        listing = payload["list"]
        self._by_node(where, SEALED_LIST_LABEL, listing, payload["signature"])
        receipts = listing["receipts"]
        if merkle_root([canonical_json(r) for r in receipts]).hex() != listing["root"]:
            self._report.fail(where, "the sealed list's root is not the root of its receipts")
        self._listed |= {str(r["bidder"]) for r in receipts}
        if receipts and self._box is None:
            self._report.fail(where, "the sealed bid box is missing: its receipts can't be checked")
        elif self._box is not None:
            lot = listing["lot"]
            boxed = {canonical_json(r) for (lot_id, _), r in self._box.items() if lot_id == lot}
            if {canonical_json(r) for r in receipts} != boxed:
                self._report.fail(where, "the sealed list is not the box's current bids")

    def _by_bidder(
        self, where: str, signer: str, label: str, document: object, payload: dict[str, Any]
    ) -> None:
        person = self._keys.get(signer)
        if person is None or person.get("role") != "bidder" or signer not in self._listed:
            self._report.fail(where, f"{signer} is no proven bidder of a sealed list")
            return
        try:
            verify(VerifyKey.from_text(str(person["public_key"])), label, document,
                   b64url_decode(payload["signature"]))  # fmt: skip
        except CryptoError:
            self._report.fail(where, f"the signature of {signer} does not verify with its key")
            return
        self._report.count(f"{label} signatures")


def _check_recordings(bundle: Bundle, directory: Path, report: Report) -> None:
    for item in bundle.recordings:
        name = str(item["name"])
        path = directory / name
        if "/" in name or not path.is_file():
            report.fail(f"recording {name}", "missing")
            continue
        data = path.read_bytes()
        if len(data) != item["size"] or hashlib.sha256(data).hexdigest() != item["sha256"]:
            report.fail(f"recording {name}", "does not match its logged size and SHA-256")
        else:
            report.count("recordings")
