"""Audit bundles (format v1, docs/spec/audit-bundle.md): a tender's log with what checks it.

`bundle_lines` writes one; `verify_bundle` checks one with no server and names every failure.
The verifier reads untrusted input: it checks each value before using it, and a malformed
line is a finding, never a crash.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
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
    parse_json,
    verify,
)
from recordings.audit import AuditRecord, verify_chain
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

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from pathlib import Path

FORMAT: Final = "bidroom-audit-bundle"
VERSION: Final = 1
BOX_SUFFIX: Final = "-box"


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    role: str
    public_key: str


def bundle_lines(
    *, tender: str, node: str, node_key: str, exported_at: str,
    participants: Sequence[Participant], streams: Sequence[tuple[str, Sequence[AuditRecord]]],
    recordings: Sequence[tuple[str, str, int]] = (),
) -> Iterator[str]:  # fmt: skip
    """The lines of a bundle, each canonical JSON followed by a newline."""

    def line(value: Mapping[str, Any]) -> str:
        return canonical_json(value).decode("utf-8") + "\n"

    yield line({"kind": "header", "format": FORMAT, "v": VERSION, "tender": tender,
                "node": node, "node_key": node_key, "exported_at": exported_at})  # fmt: skip
    for person in sorted(participants, key=lambda p: p.id):
        yield line({"kind": "participant", "id": person.id, "role": person.role,
                    "public_key": person.public_key})  # fmt: skip
    for _, records in streams:
        for record in records:
            yield line({"kind": "event", "hash": record.hash, "event": record.document()})
    for name, sha256, size in recordings:
        yield line({"kind": "recording", "name": name, "sha256": sha256, "size": size})
    counts = {stream: len(records) for stream, records in streams}
    yield line({"kind": "end", "events": counts, "participants": len(participants),
                "recordings": len(recordings)})  # fmt: skip


@dataclass
class Report:
    """What a verification found: `failures` empty means the bundle checks out."""

    failures: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # what was verified, counted

    def fail(self, where: str, what: str) -> None:
        self.failures.append(f"{where}: {what}")

    def count(self, what: str, how_many: int = 1) -> None:
        self.checked[what] = self.checked.get(what, 0) + how_many


_MEMBERS: Final = {
    "header": {"kind", "format", "v", "tender", "node", "node_key", "exported_at"},
    "participant": {"kind", "id", "role", "public_key"},
    "event": {"kind", "hash", "event"},
    "recording": {"kind", "name", "sha256", "size"},
    "end": {"kind", "events", "participants", "recordings"},
}
_ORDER: Final = ("header", "participant", "event", "recording", "end")


def verify_bundle(lines: Iterable[str], recordings_dir: Path | None = None) -> Report:
    """Check a bundle as docs/spec/audit-bundle.md section 4 says; never raises on bad input."""
    report = Report()
    bundle = _read(lines, report)
    if bundle is None:
        return report
    node_key = _node_key(bundle, report)
    for stream, rows in bundle.streams.items():
        _check_stream(bundle, stream, rows, node_key, report)
    if recordings_dir is not None:
        _check_recordings(bundle, recordings_dir, report)
    return report


@dataclass
class _Bundle:
    header: dict[str, Any]
    participants: dict[str, Participant] = field(default_factory=dict)
    streams: dict[str, list[tuple[int, dict[str, Any], str]]] = field(default_factory=dict)
    recordings: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None


def _read(lines: Iterable[str], report: Report) -> _Bundle | None:
    bundle: _Bundle | None = None
    stage = 0
    for number, text in enumerate(lines, start=1):
        where = f"line {number}"
        try:
            parsed = parse_json(text.rstrip("\n"))
        except CryptoError:
            report.fail(where, "not a JSON object (a damaged or cut-off line)")
            continue
        value: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        kind = value.get("kind")
        if not isinstance(kind, str) or kind not in _MEMBERS or set(value) != _MEMBERS[kind]:
            report.fail(where, "not a line of an audit bundle v1")
            continue
        if _ORDER.index(kind) < stage or (bundle is not None and bundle.end is not None):
            report.fail(where, f"a {kind} line out of its place")
            continue
        stage = _ORDER.index(kind)
        if kind == "header":
            if bundle is not None or value["format"] != FORMAT or value["v"] != VERSION:
                report.fail(where, "not the header of an audit bundle v1")
                return None
            bundle = _Bundle(value)
        elif bundle is None:
            report.fail(where, "the bundle does not start with its header")
            return None
        else:
            _take(bundle, kind, value, where, report)
    if bundle is None:
        report.fail("bundle", "empty")
        return None
    _check_end(bundle, report)
    return bundle


def _take(bundle: _Bundle, kind: str, value: dict[str, Any], where: str, report: Report) -> None:
    if kind == "participant":
        if not all(isinstance(value[k], str) for k in ("id", "role", "public_key")):
            report.fail(where, "a participant line with values of the wrong type")
            return
        bundle.participants[value["id"]] = Participant(
            value["id"], value["role"], value["public_key"]
        )
    elif kind == "event":
        event, hash_ = value["event"], value["hash"]
        if not isinstance(event, dict) or not isinstance(hash_, str):
            report.fail(where, "an event line with values of the wrong type")
            return
        stream, seq = event.get("stream"), event.get("seq")
        tender = bundle.header.get("tender")
        if (
            not isinstance(stream, str)
            or stream not in (tender, f"{tender}{BOX_SUFFIX}")
            or type(seq) is not int
        ):
            report.fail(where, f"an event of another stream ({stream!r}) or without a seq")
            return
        bundle.streams.setdefault(stream, []).append((seq, event, hash_))
    elif kind == "recording":
        bundle.recordings.append(value)
    else:
        bundle.end = value


def _check_end(bundle: _Bundle, report: Report) -> None:
    end = bundle.end
    if end is None:
        report.fail("bundle", "no end line: the file is cut off (truncated)")
        return
    counts = {stream: len(rows) for stream, rows in bundle.streams.items()}
    if end["events"] != counts:
        report.fail("end", f"it counts {end['events']} events but the bundle holds {counts}")
    if end["participants"] != len(bundle.participants) or end["recordings"] != len(
        bundle.recordings
    ):
        report.fail("end", "its participant or recording count does not match the bundle")


def _node_key(bundle: _Bundle, report: Report) -> VerifyKey | None:
    header = bundle.header
    try:
        key = VerifyKey.from_text(str(header["node_key"]))
    except CryptoError:
        report.fail("header", "the node key is not an Ed25519 public key")
        return None
    if header["node"] != "n-" + key.fingerprint()[:16]:
        report.fail("header", "the node key is not the key of the node named (swapped key)")
        return None
    report.count("node key")
    return key


def _check_stream(
    bundle: _Bundle, stream: str, rows: list[tuple[int, dict[str, Any], str]],
    node_key: VerifyKey | None, report: Report,
) -> None:  # fmt: skip
    seqs = [seq for seq, _, _ in rows]
    for before, after in itertools.pairwise(seqs):
        if after <= before:
            report.fail(f"{stream} event {after}", f"moved or reordered (it follows {before})")
            return
    bodies: list[str] = []
    try:
        for _, event, _ in rows:
            bodies.append(canonical_json(event).decode("utf-8"))
        verify_chain(
            stream, ((seq, body, h) for (seq, _, h), body in zip(rows, bodies, strict=True))
        )
        report.count(f"events chained in {stream}", len(rows))
    except ChainBroken as exc:
        report.fail(f"{stream} event {exc.seq}", exc.reason)
        return  # what follows relies on the records being the ones that were logged
    except CryptoError:
        report.fail(stream, "an event that has no canonical form")
        return
    checker = _Signatures(bundle, stream, node_key, report)
    roots = _roots(bodies, _tree_head_sizes(rows))
    last_size = 0
    for seq, event, _ in rows:
        where = f"{stream} event {seq}"
        try:
            if event["type"] == "audit.tree_head":
                last_size = _check_tree_head(event, seq, stream, roots, last_size, node_key, report)
            else:
                checker.check(where, event)
        except (KeyError, TypeError, ValueError, CryptoError) as exc:
            report.fail(where, f"malformed content ({type(exc).__name__})")


def _tree_head_sizes(rows: Sequence[tuple[int, dict[str, Any], str]]) -> set[int]:
    sizes = set()
    for _, event, _ in rows:
        if event.get("type") == "audit.tree_head":
            size = event.get("payload", {}).get("tree_head", {}).get("size")
            if type(size) is int:
                sizes.add(size)
    return sizes


def _roots(bodies: Sequence[str], sizes: set[int]) -> dict[int, bytes]:
    """The Merkle roots of the first `size` records, for each size a tree head names."""
    tree, roots = Frontier(), {}
    for body in bodies:
        tree.append(leaf_hash(body.encode()))
        if tree.size in sizes:
            roots[tree.size] = tree.root()
    return roots


def _check_tree_head(
    event: dict[str, Any], seq: int, stream: str, roots: Mapping[int, bytes], last_size: int,
    node_key: VerifyKey | None, report: Report,
) -> int:  # fmt: skip
    where = f"{stream} event {seq}"
    document, signature = event["payload"]["tree_head"], event["payload"]["signature"]
    size = document["size"]
    if node_key is not None:
        try:
            verify(node_key, TREE_HEAD_LABEL, document, b64url_decode(signature))
        except CryptoError:
            report.fail(where, "the tree head's signature does not verify (forged)")
            return last_size
    if document["stream"] != stream or type(size) is not int or not 0 < size < seq:
        report.fail(where, "the tree head names another stream, or a size it can't cover")
        return last_size
    if bytes.fromhex(document["root"]) != roots.get(size):
        report.fail(where, f"the tree head's root is not the root of the first {size} events")
        return last_size
    if size < last_size:
        report.fail(where, f"the tree head goes back from {last_size} to {size} events")
        return last_size
    report.count("tree heads")
    return size


class _Signatures:
    """The signatures inside one stream's events, with what they are over."""

    def __init__(
        self, bundle: _Bundle, stream: str, node_key: VerifyKey | None, report: Report
    ) -> None:
        self._bundle = bundle
        self._stream = stream
        self._node = node_key
        self._report = report
        self._record_hash: str | None = None
        self._checks: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "bid.submitted": self._receipt,
            "lot.sealed": self._sealed_list,
            "opening.record_published": self._record,
            "opening.confirmed": self._confirmation,
            "opening.objection_raised": self._objection,
            "opening.closed": self._final_record,
        }

    def check(self, where: str, event: dict[str, Any]) -> None:
        check = self._checks.get(event["type"])
        if check is not None:
            check(where, event["payload"])

    def _by_node(self, where: str, label: str, document: object, signature: str) -> None:
        if self._node is None:
            return  # already reported: no usable node key
        try:
            verify(self._node, label, document, b64url_decode(signature))
        except CryptoError:
            self._report.fail(where, f"the node's {label} signature does not verify")
            return
        self._report.count(f"{label} signatures")

    def _receipt(self, where: str, payload: dict[str, Any]) -> None:
        self._by_node(where, RECEIPT_LABEL, payload["receipt"], payload["signature"])

    def _sealed_list(self, where: str, payload: dict[str, Any]) -> None:
        listing = payload["list"]
        self._by_node(where, SEALED_LIST_LABEL, listing, payload["signature"])
        root = merkle_root([canonical_json(r) for r in listing["receipts"]]).hex()
        if root != listing["root"]:
            self._report.fail(where, "the sealed list's root is not the root of its receipts")

    def _record(self, where: str, payload: dict[str, Any]) -> None:
        record_hash = digest(RECORD_LABEL, canonical_json(payload["record"])).hex()
        if record_hash != payload["record_hash"]:
            self._report.fail(where, "the opening record does not have its hash")
        self._record_hash = payload["record_hash"]

    def _confirmation(self, where: str, payload: dict[str, Any]) -> None:
        document = confirmation_document(self._tender, self._record_hash or "")
        self._by_participant(where, payload["bidder"], CONFIRMATION_LABEL, document, payload)

    def _objection(self, where: str, payload: dict[str, Any]) -> None:
        document = objection_document(self._tender, self._record_hash or "", payload["text"])
        self._by_participant(where, payload["bidder"], OBJECTION_LABEL, document, payload)

    def _final_record(self, where: str, payload: dict[str, Any]) -> None:
        final = payload["record"]
        self._by_node(where, RECORD_LABEL, final, payload["signature"])
        if digest(RECORD_LABEL, canonical_json(final)).hex() != payload["record_hash"]:
            self._report.fail(where, "the final record does not have its hash")

    @property
    def _tender(self) -> str:
        return self._stream.removesuffix(BOX_SUFFIX)

    def _by_participant(
        self, where: str, signer: str, label: str, document: object, payload: dict[str, Any]
    ) -> None:
        person = self._bundle.participants.get(signer)
        if person is None:
            self._report.fail(where, f"{signer} signed it but has no participant line")
            return
        try:
            key = VerifyKey.from_text(person.public_key)
            verify(key, label, document, b64url_decode(payload["signature"]))
        except CryptoError:
            self._report.fail(where, f"the signature of {signer} does not verify with its key")
            return
        self._report.count(f"{label} signatures")


def _check_recordings(bundle: _Bundle, directory: Path, report: Report) -> None:
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
