"""The bundle verifier on small bundles made here: every rule of audit-bundle.md section 4.

Whole bundles from a real opening are in tests/server/test_audit_bundle.py; here each check is
reached on its own, with a node key of the test's making.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import pytest

from crypto import (
    SigningKey,
    b64url_encode,
    canonical_json,
    inclusion_ranges,
    merkle_root,
    sign,
)
from recordings.audit import GENESIS, AuditRecord
from recordings.bundle import Enrolment, bundle_lines
from recordings.documents import TREE_HEAD_LABEL, tree_head_document
from recordings.verify_bundle import verify_bundle

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

TENDER = "t-20261121-0000000000aa"
NODE = SigningKey.generate()
NODE_ID = "n-" + NODE.verify_key.fingerprint()[:16]
TIME = "2026-11-21T09:00:00.000000Z"
Payload = tuple[str, dict[str, Any]]


def chain(payloads: list[Payload], stream: str = TENDER, actor: str = NODE_ID) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for event_type, payload in payloads:
        prev = records[-1] if records else None
        records.append(
            AuditRecord.create(
                stream=stream, seq=prev.seq + 1 if prev else 1,
                prev=prev.hash if prev else GENESIS, type=event_type, actor_id=actor,
                actor_role="node", address="local", time=TIME, payload=payload,
                visibility=frozenset({"supervisor"}),
            )
        )  # fmt: skip
    return records


def note(n: int) -> Payload:
    return ("command.rejected", {"command": "x", "rule": "Note", "reason": f"note {n}"})


def tree_head(records: list[AuditRecord], size: int, stream: str = TENDER) -> Payload:
    root = merkle_root([r.body.encode() for r in records[:size]]).hex()
    document = tree_head_document(stream, size, root, TIME)
    signature = b64url_encode(sign(NODE, TREE_HEAD_LABEL, document))
    return ("audit.tree_head", {"tree_head": document, "signature": signature})


def closed(payloads: list[Payload], stream: str = TENDER) -> list[AuditRecord]:
    """The stream with a signed tree head over everything as its last record."""
    return chain([*payloads, tree_head(chain(payloads, stream), len(payloads), stream)], stream)


def system(people: list[dict[str, str]]) -> tuple[AuditRecord, list[Enrolment]]:
    records = closed([("participant.enrolled", person) for person in people], "system")
    bodies = [r.body.encode() for r in records[:-1]]
    size = len(bodies)
    enrolments = [
        Enrolment(
            record,
            [merkle_root(bodies[a:b]).hex() for a, b in inclusion_ranges(record.seq - 1, size)],
        )
        for record in records[:-1]
    ]
    return records[-1], enrolments


NOBODY = system([{"id": "p-000000000000", "role": "host", "public_key": "ed25519:x"}])


def lines(records: list[AuditRecord], **changes: Any) -> list[str]:
    head, enrolments = changes.get("system", NOBODY)
    return list(
        bundle_lines(
            tender=TENDER, node=NODE_ID, node_key=NODE.verify_key.to_text(), exported_at=TIME,
            system_tree_head=head, participants=enrolments, streams=[(TENDER, records)],
            recordings=changes.get("recordings", ()),
        )
    )  # fmt: skip


def with_tree_heads(*sizes: int, extra: int = 4) -> list[AuditRecord]:
    payloads = [note(i) for i in range(extra)]
    records = chain(payloads)
    for size in sizes:
        payloads.append(tree_head(records, size))
        records = chain(payloads)
    return closed(payloads)


def test_a_small_bundle_verifies() -> None:
    report = verify_bundle(lines(with_tree_heads(2, 4)))
    assert report.failures == []
    assert report.checked == {
        "events chained in " + TENDER: 7, "node key": 1, "tree heads": 3,
        "participant keys proven": 1,
    }  # fmt: skip


def test_the_last_events_must_be_under_a_signed_tree_head() -> None:
    records = chain([*[note(i) for i in range(3)], tree_head(chain([note(0)]), 1), note(9)])
    failures = verify_bundle(lines(records)).failures
    assert failures == [
        f"{TENDER}: its last events are under no signed tree head (added or cut after 1)"
    ]


@pytest.mark.parametrize(
    ("sizes", "named"),
    [
        ((6,), "a size it can't cover"),  # covers itself and beyond
        ((4, 2), "goes back from 4 to 2"),
    ],
)
def test_tree_heads_must_cover_what_came_before_and_only_grow(
    sizes: tuple[int, ...], named: str
) -> None:
    payloads = [note(i) for i in range(4)]
    records = chain(payloads)
    for size in sizes:
        root_of = records if size <= len(records) else chain([*payloads, *[note(9)] * 3])
        payloads.append(tree_head(root_of, size))
        records = chain(payloads)
    report = verify_bundle(lines(closed(payloads)))
    assert any(named in f for f in report.failures), report.failures


def test_a_tree_head_of_another_stream_is_refused() -> None:
    payloads = [note(i) for i in range(3)]
    payloads.append(tree_head(chain(payloads), 3, stream=TENDER + "-box"))
    report = verify_bundle(lines(chain(payloads)))
    assert any("names another stream" in f for f in report.failures)


def test_the_node_is_the_one_of_the_key() -> None:
    records = closed([note(0)])
    assert verify_bundle(lines(records), node_key=NODE.verify_key.to_text()).failures == []
    other = SigningKey.generate().verify_key.to_text()
    # Checked against the key it was given, the bundle fails everywhere the node signed:
    # nothing is skipped, and nothing it did not check is counted.
    report = verify_bundle(lines(records), node_key=other)
    assert report.failures == [
        "header: the node key is not the one given to check it with",
        "header: the node key is not the key of the node named (swapped key)",
        f"{TENDER} event 1: made by another node than the key's (and 2 more)",
        "system event 2: the tree head's signature does not verify under the node key (forged)",
        "participants: not proven: the system tree head is not the node's",
        f"{TENDER} event 2: the tree head's signature does not verify under the node key (forged)",
        f"{TENDER}: its last events are under no signed tree head (added or cut after 0)",
    ]
    assert report.checked == {f"events chained in {TENDER}": 2}
    assert report.signed_sizes == {}
    other_node = "n-0000000000000000"
    payloads = [note(0)]
    signed = tree_head(chain(payloads, actor=other_node), 1)
    failures = verify_bundle(lines(chain([*payloads, signed], actor=other_node))).failures
    assert any("made by another node than the key's" in f for f in failures), failures


IDENTITY = (1).to_bytes(32, "little")  # a point of small order
FORGERY = b64url_encode(IDENTITY + bytes(32))  # R = identity, S = 0: "verifies" under IDENTITY


def forged(payloads: list[Payload], stream: str, node: str) -> list[AuditRecord]:
    """A stream closed by a tree head 'signed' with the universal forgery, no key needed."""
    root = merkle_root([r.body.encode() for r in chain(payloads, stream, node)]).hex()
    document = tree_head_document(stream, len(payloads), root, TIME)
    head = ("audit.tree_head", {"tree_head": document, "signature": FORGERY})
    return chain([*payloads, head], stream, node)


def test_a_bundle_under_a_node_key_of_small_order_is_refused() -> None:
    node = "n-" + hashlib.sha256(IDENTITY).hexdigest()[:16]
    person = {"id": "p-000000000000", "role": "host", "public_key": "ed25519:x"}
    system_records = forged([("participant.enrolled", person)], "system", node)
    bundle = bundle_lines(
        tender=TENDER, node=node, node_key="ed25519:" + b64url_encode(IDENTITY),
        exported_at=TIME, system_tree_head=system_records[-1],
        participants=[Enrolment(system_records[0], [])],
        streams=[(TENDER, forged([note(0), note(1)], TENDER, node))], recordings=(),
    )  # fmt: skip
    failures = verify_bundle(list(bundle)).failures
    assert failures[0].startswith("header: the node key is not a usable Ed25519 public key")
    assert "weak key" in failures[0]


def test_witnessed_tree_heads_must_be_extended() -> None:
    records = with_tree_heads(2)
    root = merkle_root([r.body.encode() for r in records[:3]])
    report = verify_bundle(lines(records), anchors={TENDER: (3, root)})
    assert (report.failures, report.checked["witnessed tree heads extended"]) == ([], 1)
    failures = verify_bundle(lines(records), anchors={TENDER: (3, bytes(32))}).failures
    assert failures == [f"{TENDER}: does not extend the tree head of 3 witnessed before"]
    cut = verify_bundle(lines(records), anchors={TENDER: (99, root)}).failures
    assert cut == [f"{TENDER}: does not extend the tree head of 99 witnessed before"]


def bidder(name: str) -> tuple[dict[str, str], SigningKey]:
    key = SigningKey.generate()
    return {"id": name, "role": "bidder", "public_key": key.verify_key.to_text()}, key


def test_a_participant_key_must_be_proven_in_the_system_log() -> None:
    person, _ = bidder("p-aaaaaaaaaaaa")
    head, enrolments = system([person, bidder("p-bbbbbbbbbbbb")[0]])
    bad = [Enrolment(enrolments[0].record, ["00" * 32]), enrolments[1]]
    failures = verify_bundle(lines(closed([note(0)]), system=(head, bad))).failures
    assert failures == [
        "participant at system event 1: its enrolment is not in the node's signed system log"
    ]


def form(change: Callable[[list[str]], list[str]]) -> list[str]:
    return verify_bundle(change(lines(with_tree_heads(2)))).failures


def as_json(line: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(line)
    return value


def dumped(value: dict[str, Any]) -> str:
    return canonical_json(value).decode() + "\n"


def header_with(ls: list[str], **changes: Any) -> list[str]:
    return [dumped(as_json(ls[0]) | changes), *ls[1:]]


def first_event_with(ls: list[str], **changes: Any) -> list[str]:
    return [*ls[:3], dumped(as_json(ls[3]) | changes), *ls[4:]]


def event_of_another_stream(ls: list[str]) -> list[str]:
    event = as_json(ls[3])["event"] | {"stream": "t-20261121-0000000000bb"}
    return first_event_with(ls, event=event)


def end_with(ls: list[str], **changes: Any) -> list[str]:
    return [*ls[:-1], dumped(as_json(ls[-1]) | changes)]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda ls: [ls[0], "[1, 2]\n", *ls[1:]], "not a line of an audit bundle"),
        (lambda ls: [ls[0], '{"kind":"secret"}\n', *ls[1:]], "not a line of an audit bundle"),
        (lambda ls: ls[1:], "does not start with its header"),
        (lambda ls: [ls[0], *ls], "not the header"),
        (lambda ls: [*ls[:3], ls[4], ls[3], *ls[5:]], "moved or reordered"),
        (lambda ls: [*ls, ls[3]], "out of its place"),
        (lambda ls: [ls[0], *ls[2:]], "no system tree head"),
        (lambda ls: [ls[0], ls[1], ls[1], *ls[2:]], "a second system tree head"),
        (lambda ls: header_with(ls, v=2), "not the header"),
        (lambda ls: header_with(ls, node_key="ed25519:xx"), "not a usable Ed25519"),
        (lambda ls: header_with(ls, node="n-0000000000000000"), "swapped key"),
        (lambda ls: [], "empty"),
        (lambda ls: first_event_with(ls, hash=7), "wrong type"),
        (event_of_another_stream, "another stream"),
        (lambda ls: [*ls[:3], ls[-1]], "the tender's own events are missing"),
        (lambda ls: end_with(ls, participants=3), "participant or recording count"),
    ],
)
def test_the_form_of_a_bundle_is_checked(
    change: Callable[[list[str]], list[str]], named: str
) -> None:
    failures = form(change)
    assert any(named in f for f in failures), failures


def test_malformed_event_content_is_named_not_raised() -> None:
    records = closed([note(0), ("lot.sealed", {"list": "not a list"}), ("opening.closed", {})])
    failures = verify_bundle(lines(records)).failures
    assert any("malformed content" in f for f in failures), failures


@pytest.mark.parametrize("tree_head_value", ["a string", ["a", "list"], 7])
def test_a_tree_head_that_is_no_object_is_named_not_raised(tree_head_value: object) -> None:
    records = chain([note(0), ("audit.tree_head", {"tree_head": tree_head_value})])
    failures = verify_bundle(lines(records)).failures
    assert any("not a tree head" in f for f in failures), failures


def test_an_event_without_a_canonical_form_is_named() -> None:
    text = lines(with_tree_heads(2))
    broken = text[3].replace('"note 0"', '"note \\ud800"')
    failures = verify_bundle([*text[:3], broken, *text[4:]]).failures
    assert failures  # the lone surrogate either fails the chain or has no canonical form


def test_recordings_are_checked_against_their_logged_hashes(tmp_path: Path) -> None:
    good, bad = b"segment one", b"segment two"
    (tmp_path / "a.webm").write_bytes(good)
    (tmp_path / "b.webm").write_bytes(bad + b"!")
    logged = [
        ("a.webm", hashlib.sha256(good).hexdigest(), len(good)),
        ("b.webm", hashlib.sha256(bad).hexdigest(), len(bad)),
        ("c.webm", "0" * 64, 1),
        ("../d.webm", "0" * 64, 1),
    ]
    report = verify_bundle(lines(with_tree_heads(2), recordings=logged), tmp_path)
    assert report.checked["recordings"] == 1
    assert sorted(report.failures) == [
        "recording ../d.webm: missing",
        "recording b.webm: does not match its logged size and SHA-256",
        "recording c.webm: missing",
    ]
