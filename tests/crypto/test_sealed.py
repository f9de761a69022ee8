"""Sealed bid format v1: known answers, an independent reading of the spec, and tampering."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import (
    DecryptionError,
    EncryptionKey,
    PackageSource,
    SealedBidFormatError,
    SealedBidHeader,
    SheetReader,
    b64url_decode,
    canonical_json,
    check_file_key,
    open_payload,
    read_header,
    seal_bid,
    unwrap_file_key,
)
from crypto._sealed import PREFIX, _seal_with

if TYPE_CHECKING:
    from collections.abc import Callable

VECTORS = json.loads((Path(__file__).parent / "vectors" / "sealed-bid-v1.json").read_text("utf-8"))
CHUNK = 64 * 1024
IDS = {"tender": "t-20261121-000000000001", "lot": "L1", "bidder": "p-0123456789ab"}


def archive_of(vector: dict[str, Any]) -> bytes:
    return bytes((i * 131 + 7) % 256 for i in range(vector["archive"]["length"]))


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_sealing_reproduces_the_known_answer(vector: dict[str, Any]) -> None:
    def key(hex_key: str) -> EncryptionKey:
        return EncryptionKey.from_bytes(bytes.fromhex(hex_key))

    sink = io.BytesIO()
    _seal_with(
        PackageSource(vector["sheet"], io.BytesIO(archive_of(vector))),
        sink,
        tender=vector["tender"],
        lot=vector["lot"],
        bidder=vector["bidder"],
        recipients=[
            ("bidder", key(vector["bidder_private_key"]).public_key),
            ("opening", key(vector["opening_private_key"]).public_key),
        ],
        chunk_size=vector["chunk_size"],
        file_key=bytes.fromhex(vector["file_key"]),
        salt=bytes.fromhex(vector["salt"]),
        ephemerals=[key(e) for e in vector["ephemeral_private_keys"]],
    )
    sealed = sink.getvalue()
    assert hashlib.sha256(sealed).hexdigest() == vector["sealed_sha256"]
    if "sealed_hex" in vector:
        assert sealed.hex() == vector["sealed_hex"]


# An independent decryptor, written from docs/spec/sealed-bid.md with raw primitives only.


def _hkdf(ikm: bytes, salt: bytes, info: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt or None, info.encode()).derive(ikm)


def reference_open(sealed: bytes, private_key: bytes, kind: str) -> tuple[bytes, bytes]:
    """(file key, plaintext), following the spec section by section."""
    assert sealed.startswith(b"BIDROOM-SEALED-BID/1\n")
    (length,) = struct.unpack(">I", sealed[21:25])
    header_bytes, mac = sealed[25 : 25 + length], sealed[25 + length : 57 + length]
    header = json.loads(header_bytes)
    stanza = next(s for s in header["recipients"] if s["kind"] == kind)
    ephemeral = b64url_decode(stanza["ephemeral"])
    recipient = X25519PrivateKey.from_private_bytes(private_key)
    shared = recipient.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    wrap_key = _hkdf(
        shared, ephemeral + b64url_decode(stanza["key"][7:]), "bidroom sealed-bid v1 wrap"
    )
    binding = json.dumps(
        {"bidder": header["bidder"], "lot": header["lot"], "tender": header["tender"], "v": 1},
        separators=(",", ":"),
    ).encode()
    file_key = AESGCM(wrap_key).decrypt(bytes(12), b64url_decode(stanza["wrapped"]), binding)
    check = hmac.HMAC(_hkdf(file_key, b"", "bidroom sealed-bid v1 header"), hashes.SHA256())
    check.update(sealed[: 25 + length])
    check.verify(mac)
    payload_key = _hkdf(file_key, b64url_decode(header["salt"]), "bidroom sealed-bid v1 payload")
    payload, step = sealed[57 + length :], header["chunk_size"] + 16
    chunks = [payload[i : i + step] for i in range(0, len(payload), step)]
    plaintext = b"".join(
        AESGCM(payload_key).decrypt(
            i.to_bytes(11, "big") + (b"\x01" if i == len(chunks) - 1 else b"\x00"), chunk, b""
        )
        for i, chunk in enumerate(chunks)
    )
    return file_key, plaintext


def test_an_independent_reading_of_the_spec_opens_the_vector() -> None:
    vector = VECTORS["vectors"][0]
    sealed = bytes.fromhex(vector["sealed_hex"])
    for kind in ("bidder", "opening"):
        file_key, plaintext = reference_open(
            sealed, bytes.fromhex(vector[f"{kind}_private_key"]), kind
        )
        assert file_key.hex() == vector["file_key"]
        assert hashlib.sha256(plaintext).hexdigest() == vector["plaintext_sha256"]
        assert plaintext.endswith(archive_of(vector))


def test_the_spec_reading_opens_what_the_code_seals_in_several_chunks() -> None:
    owner = EncryptionKey.generate()
    data = bytes(range(256)) * 700  # 179,200 bytes: two full chunks and a partial one
    sealed = seal(data, owner)
    _, plaintext = reference_open(sealed, owner._raw(), "bidder")
    assert plaintext == data


# Round trips through the code's own reader.


def seal(data: bytes, *keys: EncryptionKey, chunk: int = CHUNK, **ids: str) -> bytes:
    sink = io.BytesIO()
    kinds = ("bidder", "opening")
    recipients = [(kind, key.public_key) for kind, key in zip(kinds, keys, strict=False)]
    seal_bid(io.BytesIO(data), sink, **(IDS | ids), recipients=recipients, chunk_size=chunk)
    return sink.getvalue()


def open_all(sealed: bytes, key: EncryptionKey, kind: str = "bidder") -> bytes:
    source = io.BytesIO(sealed)
    header = read_header(source)
    file_key = unwrap_file_key(header, key, kind)
    length = len(sealed) - header.size
    return b"".join(bytes(c) for c in open_payload(header, source, file_key, length))


def file_key_of(sealed: bytes, key: EncryptionKey) -> tuple[SealedBidHeader, bytes]:
    header = read_header(io.BytesIO(sealed))
    return header, unwrap_file_key(header, key, "bidder")


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_round_trips_at_every_chunk_boundary(size: int) -> None:
    owner, opening = EncryptionKey.generate(), EncryptionKey.generate()
    data = bytes(i % 253 for i in range(size))
    sealed = seal(data, owner, opening)
    assert open_all(sealed, owner) == data
    assert open_all(sealed, opening, "opening") == data


def payload_chunks(sealed: bytes) -> tuple[bytes, list[bytes]]:
    header = read_header(io.BytesIO(sealed))
    step = header.chunk_size + 16
    payload = sealed[header.size :]
    return sealed[: header.size], [payload[i : i + step] for i in range(0, len(payload), step)]


def tampered(case: str, sealed: bytes, other: bytes) -> bytes:
    head, chunks = payload_chunks(sealed)
    _, other_chunks = payload_chunks(other)
    changes: dict[str, Callable[[], bytes]] = {
        "truncated at a chunk boundary": lambda: head + b"".join(chunks[:-1]),
        "truncated inside a chunk": lambda: sealed[:-7],
        "chunks reordered": lambda: head + chunks[1] + chunks[0] + b"".join(chunks[2:]),
        "chunk dropped": lambda: head + chunks[0] + b"".join(chunks[2:]),
        "payload bit flipped": lambda: sealed[:-100] + bytes([sealed[-100] ^ 1]) + sealed[-99:],
        "chunk spliced from another bid": lambda: head + other_chunks[0] + b"".join(chunks[1:]),
        "header MAC flipped": lambda: head[:-1] + bytes([head[-1] ^ 1]) + b"".join(chunks),
    }
    return changes[case]()


@pytest.mark.parametrize(
    "case",
    [
        "truncated at a chunk boundary",
        "truncated inside a chunk",
        "chunks reordered",
        "chunk dropped",
        "payload bit flipped",
        "chunk spliced from another bid",
        "header MAC flipped",
    ],
)
def test_tampering_is_detected(case: str) -> None:
    owner = EncryptionKey.generate()
    data = bytes(i % 251 for i in range(3 * CHUNK + 1000))
    sealed, other = seal(data, owner), seal(data, owner)
    header, file_key = file_key_of(sealed, owner)
    forged = tampered(case, sealed, other)
    with pytest.raises((DecryptionError, SealedBidFormatError)):
        read_through(forged, file_key, len(forged) - header.size)


def read_through(sealed: bytes, file_key: bytes, length: int) -> None:
    source = io.BytesIO(sealed)
    header = read_header(source)
    for _ in open_payload(header, source, file_key, length):
        pass


def test_a_wrong_or_foreign_file_key_is_refused() -> None:
    owner = EncryptionKey.generate()
    sealed, other = seal(b"mine", owner), seal(b"theirs", owner)
    header, _ = file_key_of(sealed, owner)
    _, other_key = file_key_of(other, owner)
    for key in (bytes(32), other_key, b"short"):
        with pytest.raises(DecryptionError):
            check_file_key(header, key)


def test_a_stanza_moved_to_another_bid_does_not_unwrap() -> None:
    owner = EncryptionKey.generate()
    mine = read_header(io.BytesIO(seal(b"x", owner)))
    theirs = read_header(io.BytesIO(seal(b"y", owner, bidder="p-999999999999")))
    moved = SealedBidHeader(
        theirs.tender, theirs.lot, theirs.bidder, theirs.chunk_size, theirs.salt,
        mine.recipients, theirs.raw, theirs.mac,
    )  # fmt: skip
    with pytest.raises(DecryptionError):
        unwrap_file_key(moved, owner, "bidder")
    with pytest.raises(DecryptionError, match="not sealed to that"):
        unwrap_file_key(mine, EncryptionKey.generate(), "bidder")
    with pytest.raises(DecryptionError, match="opening"):
        unwrap_file_key(mine, owner, "opening")


def test_a_trailing_empty_chunk_is_refused() -> None:
    owner = EncryptionKey.generate()
    sealed = seal(bytes(CHUNK), owner)
    header = read_header(io.BytesIO(sealed))
    with pytest.raises(SealedBidFormatError, match="empty chunk"):
        header.check_payload(CHUNK + 16 + 16)


def rewrite_header(sealed: bytes, change: Callable[[dict[str, Any]], object]) -> bytes:
    (length,) = struct.unpack(">I", sealed[21:25])
    document = json.loads(sealed[25 : 25 + length])
    changed = change(document)
    raw = changed if isinstance(changed, bytes) else canonical_json(document)
    return PREFIX + struct.pack(">I", len(raw)) + raw + sealed[25 + length :]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: b"not json at all", "not valid JSON"),
        (lambda d: d.pop("salt"), "members of format v1"),
        (lambda d: d.update(extra=1), "members of format v1"),
        (lambda d: json.dumps(d).encode(), "not canonical"),
        (lambda d: d.update(v=2), "unknown version"),
        (lambda d: d.update(tender="T 1"), "tender is not a valid id"),
        (lambda d: d.update(chunk_size=100_000), "power of two"),
        (lambda d: d.update(chunk_size=1024), "power of two"),
        (lambda d: d.update(salt="AAAA"), "salt"),
        (lambda d: d.update(recipients=[]), "1 to 8 recipients"),
        (lambda d: d["recipients"].append(d["recipients"][0]), "one recipient of each kind"),
        (lambda d: d["recipients"][0].update(kind="anyone"), "kinds"),
        (lambda d: d["recipients"][0].update(key="ed25519:AAAA"), "X25519"),
        (lambda d: d["recipients"][0].pop("wrapped"), "stanza is malformed"),
        (lambda d: d["recipients"][0].update(wrapped="AAAA"), "wrapped key"),
    ],
)
def test_malformed_headers_are_named(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    sealed = rewrite_header(seal(b"bid", EncryptionKey.generate()), change)
    with pytest.raises(SealedBidFormatError, match=message):
        read_header(io.BytesIO(sealed))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 an ordinary zip file", "E-Measures 26"),
        (PREFIX + b"\x00\x00", "ends inside its header"),
        (PREFIX + struct.pack(">I", 10**6), "header length"),
        (PREFIX + struct.pack(">I", 50) + b"{}", "ends inside its header"),
    ],
)
def test_files_that_are_not_sealed_bids_are_refused_with_a_reason(
    data: bytes, message: str
) -> None:
    with pytest.raises(SealedBidFormatError, match=message):
        read_header(io.BytesIO(data))


def test_memory_stays_constant_whatever_the_size() -> None:
    owner = EncryptionKey.generate()

    class Zeros:
        def __init__(self, size: int) -> None:
            self.left = size

        def read(self, size: int = -1) -> bytes:
            take = min(size, self.left)
            self.left -= take
            return bytes(take)

    class Discard:
        written = 0

        def write(self, data: bytes) -> None:
            self.written += len(data)

    tracemalloc.start()
    try:
        sink = Discard()
        seal_bid(
            Zeros(48 * 2**20),
            sink,
            tender=IDS["tender"],
            lot=IDS["lot"],
            bidder=IDS["bidder"],
            recipients=[("bidder", owner.public_key)],
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.written > 48 * 2**20
    assert peak < 6 * 2**20  # a few chunks, not the file


def test_the_sheet_is_read_off_the_front_in_bounded_memory() -> None:
    sheet = {"v": 1, "price": "100.00", "note": "x" * 60_000}
    package = PackageSource(sheet, io.BytesIO(b"ARCHIVE" * 10)).read()
    reader = SheetReader()
    for i in range(0, len(package), 1000):  # the sheet spans many small feeds
        reader.feed(package[i : i + 1000])
    assert reader.result() == sheet


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"NOT-A-PACKAGE/1\n" + b"\x00" * 10, "not a bid package"),
        (b"BIDROOM-BID-PACKAGE/1\n" + struct.pack(">I", 10**6), "over 65536"),
        (b"BIDROOM-BID-PACKAGE/1\n" + struct.pack(">I", 3) + b"{x}", "not valid JSON"),
        (b"BIDROOM-BID-PACKAGE/1\n" + struct.pack(">I", 2) + b"[]", "not a JSON object"),
        (b"BIDROOM-BID-PACKAGE/1\n" + struct.pack(">I", 99) + b"{", "ends before"),
    ],
)
def test_bad_packages_are_named(data: bytes, message: str) -> None:
    with pytest.raises(SealedBidFormatError, match=message):
        sheet_of(data)


def sheet_of(data: bytes) -> dict[str, Any]:
    reader = SheetReader()
    reader.feed(data)
    return reader.result()


def test_an_oversized_sheet_can_not_be_sealed() -> None:
    with pytest.raises(SealedBidFormatError, match="over"):
        PackageSource({"x": "y" * 70_000}, io.BytesIO(b""))


class Trickle:
    """A source that returns at most 1000 bytes a read, as pipes and sockets may."""

    def __init__(self, data: bytes) -> None:
        self._source = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._source.read(1000 if size < 0 else min(size, 1000))


def test_short_reads_from_the_source_still_seal_a_bid_that_opens() -> None:
    owner = EncryptionKey.generate()
    data = bytes(i % 251 for i in range(3 * CHUNK + 17))
    sink = io.BytesIO()
    seal_bid(
        Trickle(data), sink, **IDS, recipients=[("bidder", owner.public_key)], chunk_size=CHUNK
    )
    assert open_all(sink.getvalue(), owner) == data
