"""Sealed bid format v1 (docs/spec/sealed-bid.md): seal, read the header, open as a stream."""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from cryptography.exceptions import InvalidSignature as _PycaInvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from crypto._box import _seal_with as _box_with, open_box
from crypto._canonical import canonical_json, parse_json
from crypto._kdf import derive
from crypto._keys import b64url_decode, b64url_encode
from crypto._stream import (
    TAG_BYTES,
    Readable,
    Writable,
    chunk_count,
    decrypt_stream,
    encrypt_stream,
)
from crypto._x25519 import EncryptionKey, EncryptionPublicKey
from crypto.errors import CryptoError, DecryptionError, KeyFormatError, SealedBidFormatError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

PREFIX: Final = b"BIDROOM-SEALED-BID/1\n"
PACKAGE_PREFIX: Final = b"BIDROOM-BID-PACKAGE/1\n"
CONTENT: Final = "bid-package/1"
MIN_CHUNK: Final = 64 * 1024
MAX_CHUNK: Final = 1024 * 1024
DEFAULT_CHUNK: Final = MAX_CHUNK  # fewer, larger chunks decrypt faster; memory stays 1 MiB
MAX_HEADER: Final = 64 * 1024
MAX_SHEET: Final = 64 * 1024
MAX_RECIPIENTS: Final = 8
MAC_BYTES: Final = 32
FILE_KEY_BYTES: Final = 32
SALT_BYTES: Final = 16
KINDS: Final = ("bidder", "opening")
HEADER_INFO: Final = "bidroom sealed-bid v1 header"
PAYLOAD_INFO: Final = "bidroom sealed-bid v1 payload"
WRAP_INFO: Final = "bidroom sealed-bid v1 wrap"
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_MEMBERS: Final = frozenset(
    {"v", "tender", "lot", "bidder", "chunk_size", "salt", "content", "recipients"}
)


@dataclass(frozen=True, slots=True)
class Stanza:
    kind: str
    key: EncryptionPublicKey
    ephemeral: bytes
    wrapped: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "key": self.key.to_text(),
            "ephemeral": b64url_encode(self.ephemeral),
            "wrapped": b64url_encode(self.wrapped),
        }


@dataclass(frozen=True, slots=True)
class SealedBidHeader:
    tender: str
    lot: str
    bidder: str
    chunk_size: int
    salt: bytes
    recipients: tuple[Stanza, ...]
    raw: bytes  # the header bytes as in the file
    mac: bytes

    @property
    def size(self) -> int:
        """Bytes before the payload: prefix, length, header and MAC."""
        return len(PREFIX) + 4 + len(self.raw) + MAC_BYTES

    def binding(self) -> dict[str, Any]:
        return {"bidder": self.bidder, "lot": self.lot, "tender": self.tender, "v": 1}

    def recipient(self, kind: str) -> Stanza | None:
        return next((s for s in self.recipients if s.kind == kind), None)

    def check_payload(self, length: int) -> int:
        """The chunk count of a payload of `length` bytes, or SealedBidFormatError."""
        try:
            return chunk_count(length, self.chunk_size)
        except ValueError as exc:
            raise SealedBidFormatError(f"The encrypted payload is malformed: {exc}") from None


def seal_bid(
    source: Readable,
    sink: Writable,
    *,
    tender: str,
    lot: str,
    bidder: str,
    recipients: Sequence[tuple[str, EncryptionPublicKey]],
    chunk_size: int = DEFAULT_CHUNK,
) -> SealedBidHeader:
    """Seal everything `source` yields into `sink`; returns the header written."""
    return _seal_with(
        source,
        sink,
        tender=tender,
        lot=lot,
        bidder=bidder,
        recipients=recipients,
        chunk_size=chunk_size,
        file_key=os.urandom(FILE_KEY_BYTES),
        salt=os.urandom(SALT_BYTES),
        ephemerals=[EncryptionKey.generate() for _ in recipients],
    )


def _seal_with(
    source: Readable,
    sink: Writable,
    *,
    tender: str,
    lot: str,
    bidder: str,
    recipients: Sequence[tuple[str, EncryptionPublicKey]],
    chunk_size: int,
    file_key: bytes,
    salt: bytes,
    ephemerals: Sequence[EncryptionKey],
) -> SealedBidHeader:
    """`seal_bid` with its randomness given: the seam for known-answer tests."""
    binding = {"bidder": bidder, "lot": lot, "tender": tender, "v": 1}
    stanzas = []
    for (kind, key), ephemeral in zip(recipients, ephemerals, strict=True):
        public, wrapped = _box_with(ephemeral, key, file_key, info=WRAP_INFO, context=binding)
        stanzas.append(Stanza(kind, key, public, wrapped))
    document = {
        "v": 1,
        "tender": tender,
        "lot": lot,
        "bidder": bidder,
        "chunk_size": chunk_size,
        "salt": b64url_encode(salt),
        "content": CONTENT,
        "recipients": [stanza.to_json() for stanza in stanzas],
    }
    header = _parse_header(canonical_json(document), b"")  # the writer obeys the reader's rules
    lead = PREFIX + struct.pack(">I", len(header.raw)) + header.raw
    mac = _mac(file_key, lead)
    sink.write(lead + mac)
    for chunk in encrypt_stream(derive(file_key, salt=salt, info=PAYLOAD_INFO), source, chunk_size):
        sink.write(chunk)
    return SealedBidHeader(
        header.tender, header.lot, header.bidder, header.chunk_size, header.salt,
        header.recipients, header.raw, mac,
    )  # fmt: skip


def read_header(source: Readable) -> SealedBidHeader:
    """Read and check the header, leaving `source` at the payload. No key is needed."""
    prefix = source.read(len(PREFIX))
    if prefix != PREFIX:
        raise SealedBidFormatError(
            "This is not a sealed bid: it does not start with BIDROOM-SEALED-BID/1. An unencrypted"
            " file can't be submitted; seal it with `bidroom bidder seal` (E-Measures 26)."
        )
    length_bytes = source.read(4)
    if len(length_bytes) != 4:
        raise SealedBidFormatError("The sealed bid ends inside its header.")
    (length,) = struct.unpack(">I", length_bytes)
    if not 2 <= length <= MAX_HEADER:
        raise SealedBidFormatError(f"The header length {length} is outside 2..{MAX_HEADER}.")
    raw = source.read(length)
    mac = source.read(MAC_BYTES)
    if len(raw) != length or len(mac) != MAC_BYTES:
        raise SealedBidFormatError("The sealed bid ends inside its header.")
    return _parse_header(raw, mac)


def _parse_header(raw: bytes, mac: bytes) -> SealedBidHeader:
    try:
        document = parse_json(raw)
    except CryptoError:
        raise SealedBidFormatError("The header is not valid JSON.") from None
    if not isinstance(document, dict) or document.keys() != _MEMBERS:
        raise SealedBidFormatError("The header does not have the members of format v1.")
    try:
        canonical = canonical_json(document)
    except CryptoError:  # valid JSON that has no canonical form (lone surrogates, deep nesting)
        raise SealedBidFormatError("The header is not canonical JSON.") from None
    if canonical != raw:
        raise SealedBidFormatError("The header is not canonical JSON.")
    if document["v"] != 1 or document["content"] != CONTENT:
        raise SealedBidFormatError("The header is of an unknown version or content type.")
    for name in ("tender", "lot", "bidder"):
        if not isinstance(document[name], str) or not _ID.fullmatch(document[name]):
            raise SealedBidFormatError(f"The header's {name} is not a valid id.")
    chunk_size = document["chunk_size"]
    if (
        type(chunk_size) is not int
        or not MIN_CHUNK <= chunk_size <= MAX_CHUNK
        or chunk_size & (chunk_size - 1)
    ):
        raise SealedBidFormatError("The chunk size must be a power of two from 64 KiB to 1 MiB.")
    return SealedBidHeader(
        tender=document["tender"],
        lot=document["lot"],
        bidder=document["bidder"],
        chunk_size=chunk_size,
        salt=_bytes(document["salt"], SALT_BYTES, "salt"),
        recipients=_stanzas(document["recipients"]),
        raw=raw,
        mac=mac,
    )


def _stanzas(value: object) -> tuple[Stanza, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RECIPIENTS:
        raise SealedBidFormatError(f"A sealed bid has 1 to {MAX_RECIPIENTS} recipients.")
    stanzas = []
    for item in value:
        if not isinstance(item, dict) or item.keys() != {"kind", "key", "ephemeral", "wrapped"}:
            raise SealedBidFormatError("A recipient stanza is malformed.")
        if item["kind"] not in KINDS:
            raise SealedBidFormatError(f"Recipient kinds are {', '.join(KINDS)}.")
        try:
            key = EncryptionPublicKey.from_text(str(item["key"]))
        except KeyFormatError:
            raise SealedBidFormatError("A recipient key is not an X25519 key.") from None
        ephemeral = _bytes(item["ephemeral"], 32, "ephemeral key")
        wrapped = _bytes(item["wrapped"], FILE_KEY_BYTES + TAG_BYTES, "wrapped key")
        stanzas.append(Stanza(item["kind"], key, ephemeral, wrapped))
    if len({s.kind for s in stanzas}) != len(stanzas):
        raise SealedBidFormatError("At most one recipient of each kind.")
    return tuple(stanzas)


def _bytes(value: object, size: int, what: str) -> bytes:
    try:
        data = b64url_decode(value) if isinstance(value, str) else b""
    except KeyFormatError:
        data = b""
    if len(data) != size:
        raise SealedBidFormatError(f"The {what} is not {size} bytes of base64url.")
    return data


def unwrap_file_key(header: SealedBidHeader, key: EncryptionKey, kind: str) -> bytes:
    """The file key from the `kind` stanza; DecryptionError if `key` is not its recipient."""
    stanza = header.recipient(kind)
    if stanza is None or stanza.key != key.public_key:
        raise DecryptionError(f"This sealed bid is not sealed to that {kind} key.")
    return open_box(key, stanza.ephemeral, stanza.wrapped, info=WRAP_INFO, context=header.binding())


def check_file_key(header: SealedBidHeader, file_key: bytes) -> None:
    """DecryptionError unless `file_key` opens this header (its MAC verifies)."""
    if len(file_key) != FILE_KEY_BYTES:
        raise DecryptionError("A file key is 32 bytes.")
    lead = PREFIX + struct.pack(">I", len(header.raw)) + header.raw
    verifier = hmac.HMAC(derive(file_key, info=HEADER_INFO), hashes.SHA256())
    verifier.update(lead)
    try:
        verifier.verify(header.mac)
    except _PycaInvalidSignature:
        raise DecryptionError("The file key does not open this sealed bid.") from None


def open_payload(
    header: SealedBidHeader, source: Readable, file_key: bytes, length: int
) -> Iterator[memoryview]:
    """Plaintext chunks of the payload (`source` at its start, `length` bytes long)."""
    check_file_key(header, file_key)
    header.check_payload(length)
    key = derive(file_key, salt=header.salt, info=PAYLOAD_INFO)
    return decrypt_stream(key, source, header.chunk_size, length)


def _mac(file_key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(derive(file_key, info=HEADER_INFO), hashes.SHA256())
    mac.update(data)
    return mac.finalize()


# The package inside: the opening sheet first, then the archive.


class PackageSource:
    """Reads a package (`PACKAGE_PREFIX`, sheet, archive) as one stream, for `seal_bid`."""

    def __init__(self, sheet: Mapping[str, Any], archive: Readable) -> None:
        encoded = canonical_json(sheet)
        if len(encoded) > MAX_SHEET:
            raise SealedBidFormatError(f"The opening sheet is over {MAX_SHEET} bytes.")
        self._head = PACKAGE_PREFIX + struct.pack(">I", len(encoded)) + encoded
        self._archive = archive

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            head, self._head = self._head, b""
            return head + self._archive.read()
        head, self._head = self._head[:size], self._head[size:]
        rest = size - len(head)
        return head + (self._archive.read(rest) if rest > 0 else b"")


class SheetReader:
    """Takes the opening sheet off the front of a package, chunk by chunk, in bounded memory."""

    _LEAD: Final = len(PACKAGE_PREFIX) + 4

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.sheet: dict[str, Any] | None = None

    def feed(self, chunk: memoryview | bytes) -> None:
        if self.sheet is not None:
            return
        self._buffer += chunk[: self._LEAD + MAX_SHEET - len(self._buffer)]
        if len(self._buffer) < self._LEAD:
            return
        if bytes(self._buffer[: len(PACKAGE_PREFIX)]) != PACKAGE_PREFIX:
            raise SealedBidFormatError("The decrypted bid is not a bid package (bid-package/1).")
        (length,) = struct.unpack_from(">I", self._buffer, len(PACKAGE_PREFIX))
        if length > MAX_SHEET:
            raise SealedBidFormatError(f"The opening sheet is over {MAX_SHEET} bytes.")
        if len(self._buffer) < self._LEAD + length:
            return
        try:
            sheet = parse_json(bytes(self._buffer[self._LEAD : self._LEAD + length]))
        except CryptoError:
            raise SealedBidFormatError("The opening sheet is not valid JSON.") from None
        if not isinstance(sheet, dict):
            raise SealedBidFormatError("The opening sheet is not a JSON object.")
        self.sheet = sheet
        self._buffer = bytearray()

    def result(self) -> dict[str, Any]:
        if self.sheet is None:
            raise SealedBidFormatError("The decrypted bid ends before its opening sheet.")
        return self.sheet
