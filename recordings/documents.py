"""The documents that are signed, and their purpose labels: one definition for the node, the
participants' tools and every verifier (docs/spec/sealed-bid.md section 9, audit-bundle.md).

A signature is made over the canonical JSON of a document with a purpose label
(crypto.sign), so a signature made for one kind of document is never valid for another.
"""

from __future__ import annotations

from typing import Any, Final

from crypto import canonical_json, digest
from recordings.vocabulary import ActType

RECEIPT_LABEL: Final = "receipt"
SEALED_LIST_LABEL: Final = "sealed-list"
RECORD_LABEL: Final = "opening-record"
CONFIRMATION_LABEL: Final = "opening-confirmation"
OBJECTION_LABEL: Final = "opening-objection"
TREE_HEAD_LABEL: Final = "tree-head"


def confirmation_document(tender: str, record_hash: str) -> dict[str, str]:
    """What a bidder signs (label `opening-confirmation`) to confirm the opening record."""
    return {"type": "opening-confirmation", "tender": tender, "record_hash": record_hash}


def objection_document(tender: str, record_hash: str, text: str) -> dict[str, str]:
    """What a bidder signs (label `opening-objection`) to object to the opening record."""
    return {"type": "opening-objection", "tender": tender, "record_hash": record_hash, "text": text}


def tree_head_document(stream: str, size: int, root: str, time: str) -> dict[str, Any]:
    """What the node signs (label `tree-head`) over the first `size` records of a stream."""
    return {"v": 1, "type": "tree-head", "stream": stream, "size": size, "root": root, "time": time}


# The evaluation (docs/spec/evaluation.md). An expert's act is signed with its document type as
# the label; the report is hashed, and members sign a document naming the hash.
REPORT_LABEL: Final = "evaluation-report"
CLARIFICATION_ANSWER_LABEL: Final = "clarification-answer"
ACT_LABELS: Final = frozenset(ActType)


def report_hash(report: object) -> str:
    """hex(D("evaluation-report", JCS(report))): what members sign, and the result names."""
    return digest(REPORT_LABEL, canonical_json(report)).hex()


def clarification_answer_document(
    tender: str, lot: str, clarification: str, bidder: str, answer: str
) -> dict[str, Any]:
    """What a bidder signs (label `clarification-answer`) to answer the committee in writing."""
    return {
        "v": 1,
        "type": "clarification-answer",
        "tender": tender,
        "lot": lot,
        "clarification": clarification,
        "bidder": bidder,
        "answer": answer,
    }
