"""The audit log format (v1): hash-chained records, one chain per stream, and its verifier.

Specified in docs/spec/audit-log.md. A record's hash covers its canonical JSON body, which
names the previous record's hash; so changing, removing, inserting or reordering a record
breaks the chain at a sequence number that the verifier names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from hashlib import sha256
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

from crypto import CryptoError, canonical_json, digest, parse_json
from recordings.canonical import parse_canonical
from recordings.errors import ChainBroken, RecordFormatError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

FORMAT_VERSION: Final = 1
GENESIS: Final = "0" * 64
HASH_LABEL: Final = "audit-event"
# What record_hash hashes before the body (docs/spec/audit-log.md), for hashing many bodies.
_HASH_PREFIX: Final = b"bidroom-hash-v1\x00" + HASH_LABEL.encode("ascii") + b"\x00"
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
_ACTOR: Final = frozenset({"id", "role"})
_MEMBERS: Final = itemgetter(*sorted(_FIELDS))
_STR: Final = frozenset({str})


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
    chain = ChainVerifier(stream)
    for seq, body, stored_hash in rows:
        chain.add(seq, body, stored_hash)
    return chain.head


class ChainVerifier:
    """`verify_chain` a row at a time, for readers that produce the rows as they go.

    Every check is made on the body as stored: a body that is surely canonical JSON (nearly
    all, see recordings/canonical.py) is parsed once, in C, and its members checked in place;
    any other takes the exact way, which names what is wrong with it.
    """

    __slots__ = ("_next", "_prev", "_stream", "_stream_ok")

    def __init__(self, stream: str) -> None:
        self._stream = stream
        self._stream_ok = STREAM.fullmatch(stream) is not None
        self._next, self._prev = 1, GENESIS

    @classmethod
    def after(cls, head: ChainHead) -> ChainVerifier:
        """A verifier that goes on from `head`: for a page read from the middle of a stream."""
        verifier = cls(head.stream)
        verifier._next, verifier._prev = head.seq + 1, head.hash
        return verifier

    @property
    def head(self) -> ChainHead:
        return ChainHead(self._stream, self._next - 1, self._prev)

    def add(
        self, seq: int, body: str, stored_hash: str | None, encoded: bytes | None = None
    ) -> None:
        """Check the next row, or raise ChainBroken.

        `stored_hash` None is for a store that keeps no hash (schema 3, docs/spec/at-rest.md):
        the chain hash is the body's own, so it matches by construction. `encoded` is the
        body in UTF-8 if the caller has it at hand.
        """
        stream, expected = self._stream, self._next
        if seq > expected or seq < 1:  # no number below 1 exists: the first one is gone
            raise ChainBroken(
                stream, expected, f"it is missing: removed (the next stored event is {seq})"
            )
        if seq < expected:
            raise ChainBroken(
                stream, seq, f"moved or reordered: it comes where event {expected} should be"
            )
        record = parse_canonical(body)
        if type(record) is not dict or not self._fits(record, seq):
            record = self._checked_slowly(seq, body)
        digest = sha256(_HASH_PREFIX + (body.encode("utf-8") if encoded is None else encoded))
        chain_hash = digest.hexdigest()
        if stored_hash is not None and chain_hash != stored_hash:
            raise ChainBroken(stream, seq, "its content does not match its hash: altered")
        if record["prev"] != self._prev:
            raise ChainBroken(
                stream, seq, "it does not link to the event before it: removed, inserted or altered"
            )
        self._next, self._prev = seq + 1, chain_hash

    def _fits(self, record: dict[str, Any], seq: int) -> bool:
        """What read_body checks, and that the record is this stream's at `seq`."""
        if record.keys() != _FIELDS:
            return False
        actor, address, _, prev, number, stream, time, kind, v, visibility = _MEMBERS(record)
        return (
            type(v) is int and v == FORMAT_VERSION
            and self._stream_ok and stream == self._stream
            and type(number) is int and number == seq
            and type(kind) is str and type(address) is str and type(prev) is str
            and type(record["payload"]) is dict
            and type(time) is str and TIME.fullmatch(time) is not None
            and type(actor) is dict and actor.keys() == _ACTOR
            and type(actor["id"]) is str and type(actor["role"]) is str
            and type(visibility) is list and set(map(type, visibility)) <= _STR
            and visibility == sorted(set(visibility))
        )  # fmt: skip

    def _checked_slowly(self, seq: int, body: str) -> dict[str, Any]:
        """Steps 1 and 2 the exact way, naming what fails; the record if nothing does."""
        stream = self._stream
        try:
            record = read_body(body)
        except RecordFormatError as exc:
            raise ChainBroken(stream, seq, str(exc)) from None
        if record["stream"] != stream or record["seq"] != seq:
            where = f"{record['stream']}/{record['seq']}"
            raise ChainBroken(stream, seq, f"it holds event {where}: moved or reordered")
        if canonical_json(record) != body.encode("utf-8"):
            raise ChainBroken(stream, seq, "its body is not canonical JSON (RFC 8785)")
        return record
