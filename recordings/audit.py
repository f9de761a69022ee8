"""The audit log format (v1): hash-chained records, one chain per stream, and its verifier.

Specified in docs/spec/audit-log.md. A record's hash covers its canonical JSON body, which
names the previous record's hash; so changing, removing, inserting or reordering a record
breaks the chain at a sequence number that the verifier names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from crypto import CryptoError, canonical_json, digest, parse_json
from recordings.errors import ChainBroken, RecordFormatError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

FORMAT_VERSION: Final = 1
GENESIS: Final = "0" * 64
HASH_LABEL: Final = "audit-event"
STREAM: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
# `type(x) is kind` on purpose: a bool is not an int here.
_TYPES: Final = (
    ("stream", str), ("seq", int), ("type", str), ("address", str), ("time", str),
    ("payload", dict), ("visibility", list), ("prev", str),
)  # fmt: skip
_FIELDS: Final = frozenset(
    {"v", "stream", "seq", "type", "actor", "address", "time", "payload", "visibility", "prev"}
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event of a stream, as stored and as sent to clients."""

    stream: str
    seq: int
    type: str
    actor_id: str
    actor_role: str
    address: str
    time: str
    payload: Mapping[str, Any]
    visibility: frozenset[str]
    prev: str
    hash: str
    body: str  # the canonical JSON that `hash` covers

    @classmethod
    def create(
        cls,
        *,
        stream: str,
        seq: int,
        prev: str,
        type: str,  # noqa: A002 - the field's name in the format
        actor_id: str,
        actor_role: str,
        address: str,
        time: str,
        payload: Mapping[str, Any],
        visibility: frozenset[str],
    ) -> AuditRecord:
        document = {
            "v": FORMAT_VERSION,
            "stream": stream,
            "seq": seq,
            "type": type,
            "actor": {"id": actor_id, "role": actor_role},
            "address": address,
            "time": time,
            "payload": payload,
            "visibility": sorted(visibility),
            "prev": prev,
        }
        body = canonical_json(document)
        return cls(
            stream, seq, type, actor_id, actor_role, address, time, payload,
            frozenset(visibility), prev, record_hash(body), body.decode("utf-8"),
        )  # fmt: skip

    @classmethod
    def load(cls, body: str, stored_hash: str) -> AuditRecord:
        """Read a stored record. Checks the shape; the hash is checked by `verify_chain`."""
        document = read_body(body)
        actor = document["actor"]
        return cls(
            stream=document["stream"],
            seq=document["seq"],
            type=document["type"],
            actor_id=actor["id"],
            actor_role=actor["role"],
            address=document["address"],
            time=document["time"],
            payload=document["payload"],
            visibility=frozenset(document["visibility"]),
            prev=document["prev"],
            hash=stored_hash,
            body=body,
        )

    def document(self) -> dict[str, Any]:
        """The record as the JSON object its body encodes."""
        value = parse_json(self.body)
        if not isinstance(value, dict):  # pragma: no cover - bodies are built as objects
            raise RecordFormatError("The record body is not an object.")
        return value


def read_body(body: str) -> dict[str, Any]:
    """Parse a record body and check it has the members and types of format v1."""
    try:
        document = parse_json(body)
    except CryptoError:
        raise RecordFormatError("The record is not valid JSON.") from None
    if not isinstance(document, dict) or document.keys() != _FIELDS:
        raise RecordFormatError("The record does not have the members of format v1.")
    if document["v"] != FORMAT_VERSION or type(document["v"]) is not int:
        raise RecordFormatError(f"Unknown record format version {document['v']!r}.")
    actor = document["actor"]
    well_typed = (
        all(type(document[name]) is kind for name, kind in _TYPES)
        and type(actor) is dict
        and actor.keys() == {"id", "role"}
        and type(actor["id"]) is str
        and type(actor["role"]) is str
        and all(type(audience) is str for audience in document["visibility"])
    )
    if not well_typed:
        raise RecordFormatError("A member of the record has the wrong type.")
    if not STREAM.fullmatch(document["stream"]) or not TIME.fullmatch(document["time"]):
        raise RecordFormatError("The stream name or the time is not in its v1 form.")
    visibility = document["visibility"]
    if visibility != sorted(set(visibility)):
        raise RecordFormatError("The visibility list is not sorted and unique.")
    return document


def record_hash(body: bytes) -> str:
    """The chain hash of a record body: hex SHA-256 with the `audit-event` label."""
    return digest(HASH_LABEL, body).hex()


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a verified chain ends."""

    stream: str
    seq: int
    hash: str


def verify_chain(stream: str, rows: Iterable[tuple[int, str, str]]) -> ChainHead:
    """Verify (seq, body, hash) rows of one stream in storage order; raise ChainBroken.

    Checks, for each row: its position is the next sequence number, the body is a v1 record
    of this stream at this position, the body hashes to the stored hash, and the body links
    to the previous record's hash.
    """
    expected, prev = 1, GENESIS
    for seq, body, stored_hash in rows:
        if seq != expected:
            raise ChainBroken(stream, expected, f"it is missing (the next stored event is {seq})")
        try:
            record = read_body(body)
        except RecordFormatError as exc:
            raise ChainBroken(stream, seq, str(exc)) from None
        if record["stream"] != stream or record["seq"] != seq:
            where = f"{record['stream']}/{record['seq']}"
            raise ChainBroken(stream, seq, f"it holds event {where}: moved or reordered")
        encoded = body.encode("utf-8")
        if canonical_json(record) != encoded:
            raise ChainBroken(stream, seq, "its body is not canonical JSON (RFC 8785)")
        if record_hash(encoded) != stored_hash:
            raise ChainBroken(stream, seq, "its content does not match its hash: altered")
        if record["prev"] != prev:
            raise ChainBroken(
                stream, seq, "it does not link to the event before it: removed, inserted or altered"
            )
        expected, prev = seq + 1, stored_hash
    return ChainHead(stream, expected - 1, prev)
