"""Audit bundles (format v1, docs/spec/audit-bundle.md): a tender's log with what checks it.

`bundle_lines` writes one; `read_bundle` takes one apart, line by line, checking its form;
`verify_bundle` (recordings/verify_bundle.py) checks what it says. Input is untrusted: every
value is checked before use, and a malformed line is a finding, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from crypto import CryptoError, canonical_json, parse_json

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from recordings.audit import AuditRecord

FORMAT: Final = "bidroom-audit-bundle"
VERSION: Final = 1
BOX_SUFFIX: Final = "-box"
SYSTEM: Final = "system"


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A participant's `participant.enrolled` record, and its inclusion proof in the system
    stream's tree head: the participant's key is the one the node's signed log holds."""

    record: AuditRecord
    proof: Sequence[str]  # hex, RFC 9162 order


def bundle_lines(
    *, tender: str, node: str, node_key: str, exported_at: str, system_tree_head: AuditRecord,
    participants: Sequence[Enrolment], streams: Sequence[tuple[str, Sequence[AuditRecord]]],
    recordings: Sequence[tuple[str, str, int]] = (),
) -> Iterator[str]:  # fmt: skip
    """The lines of a bundle, each canonical JSON followed by a newline."""

    def line(value: Mapping[str, Any]) -> str:
        return canonical_json(value).decode("utf-8") + "\n"

    yield line({"kind": "header", "format": FORMAT, "v": VERSION, "tender": tender,
                "node": node, "node_key": node_key, "exported_at": exported_at})  # fmt: skip
    yield line({"kind": "system_tree_head", "hash": system_tree_head.hash,
                "event": system_tree_head.document()})  # fmt: skip
    for enrolment in participants:
        record = enrolment.record
        yield line({"kind": "participant", "hash": record.hash, "event": record.document(),
                    "proof": list(enrolment.proof)})  # fmt: skip
    for _, records in streams:
        for record in records:
            yield line({"kind": "event", "hash": record.hash, "event": record.document()})
    for name, sha256, size in recordings:
        yield line({"kind": "recording", "name": name, "sha256": sha256, "size": size})
    counts = {stream: len(records) for stream, records in streams if records}
    yield line({"kind": "end", "events": counts, "participants": len(participants),
                "recordings": len(recordings)})  # fmt: skip


@dataclass
class Report:
    """What a verification found: `failures` empty means the bundle checks out."""

    failures: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # what was verified, counted
    header: dict[str, Any] | None = None  # who the bundle says made it
    signed_sizes: dict[str, int] = field(default_factory=dict)  # per stream: the last tree head

    def fail(self, where: str, what: str) -> None:
        self.failures.append(f"{where}: {what}")

    def count(self, what: str, how_many: int = 1) -> None:
        self.checked[what] = self.checked.get(what, 0) + how_many


Row = tuple[int, dict[str, Any], str]  # (seq, record, stored chain hash)

_MEMBERS: Final = {
    "header": {"kind", "format", "v", "tender", "node", "node_key", "exported_at"},
    "system_tree_head": {"kind", "hash", "event"},
    "participant": {"kind", "hash", "event", "proof"},
    "event": {"kind", "hash", "event"},
    "recording": {"kind", "name", "sha256", "size"},
    "end": {"kind", "events", "participants", "recordings"},
}
_ORDER: Final = ("header", "system_tree_head", "participant", "event", "recording", "end")


@dataclass
class Bundle:
    header: dict[str, Any]
    system_tree_head: Row | None = None
    participants: list[tuple[Row, list[str]]] = field(default_factory=list)
    streams: dict[str, list[Row]] = field(default_factory=dict)
    recordings: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None

    @property
    def tender(self) -> str:
        return str(self.header["tender"])


def read_bundle(lines: Iterable[str], report: Report) -> Bundle | None:
    """The bundle's parts, with every failure of form reported; None if it has no header."""
    bundle: Bundle | None = None
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
            bundle = Bundle(value)
            report.header = value
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


def _row(value: dict[str, Any]) -> Row | None:
    event, hash_ = value["event"], value["hash"]
    if (
        not isinstance(event, dict)
        or not isinstance(hash_, str)
        or type(event.get("seq")) is not int
    ):
        return None
    return event["seq"], event, hash_


def _take(bundle: Bundle, kind: str, value: dict[str, Any], where: str, report: Report) -> None:
    if kind in ("system_tree_head", "participant", "event"):
        row = _row(value)
        if row is None:
            report.fail(where, f"a {kind} line with values of the wrong type")
            return
        if kind == "system_tree_head":
            if bundle.system_tree_head is not None:
                report.fail(where, "a second system tree head")
            bundle.system_tree_head = row
        elif kind == "participant":
            proof = value["proof"]
            if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
                report.fail(where, "a participant line whose proof is not a list of hashes")
                return
            bundle.participants.append((row, proof))
        else:
            stream = row[1].get("stream")
            if stream not in (bundle.tender, bundle.tender + BOX_SUFFIX):
                report.fail(where, f"an event of another stream ({stream!r})")
                return
            bundle.streams.setdefault(str(stream), []).append(row)
    elif kind == "recording":
        bundle.recordings.append(value)
    else:
        bundle.end = value


def _check_end(bundle: Bundle, report: Report) -> None:
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
