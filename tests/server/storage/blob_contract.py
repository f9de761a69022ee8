"""The blob store contract, run against every implementation (test_files.py for the disk).

Everything here goes through the port (server/storage/blobs.py) and nothing else: a test that
needs to know how an implementation keeps its bytes belongs with that implementation.
"""

from __future__ import annotations

import hashlib
from typing import Final

import pytest

from server.errors import NotFound, StorageError
from server.storage.blobs import BlobStore, UploadSession, sha256_of

UPLOAD: Final = "contract-upload-0001"
# Larger than a block read at once and than any head an implementation might keep apart.
DATA: Final = bytes(range(256)) * 1200
SHA256: Final = hashlib.sha256(DATA).hexdigest()


def announced(upload: str = UPLOAD, bidder: str = "p-bidder") -> UploadSession:
    return UploadSession(upload, "t-1", "L1", bidder, len(DATA), SHA256, "2026-11-21T09:00:00Z")


def upload_all(blobs: BlobStore, upload: str = UPLOAD, piece: int = 50_000) -> None:
    for start in range(0, len(DATA), piece):
        with blobs.open_append(upload, start) as writer:
            writer.write(DATA[start : start + piece])


class BlobStoreContract:
    """Subclasses define the fixture `blobs`: a prepared, empty BlobStore."""

    def test_a_sealed_file_goes_from_upload_to_blob(self, blobs: BlobStore) -> None:
        blobs.create(announced())
        assert blobs.session(UPLOAD) == announced()
        assert blobs.sessions_of("p-bidder") == [announced()]
        assert blobs.sessions_of("p-other") == []
        assert blobs.received(UPLOAD) == 0
        upload_all(blobs)
        assert blobs.received(UPLOAD) == len(DATA)
        with pytest.raises(StorageError):
            blobs.open_append(UPLOAD, 7)  # not where it stands
        with blobs.open_upload(UPLOAD) as unfinished:
            assert (unfinished.size, unfinished.read()) == (len(DATA), DATA)
        assert blobs.digest(UPLOAD) == SHA256
        assert blobs.adopt(UPLOAD, SHA256) == len(DATA)
        with pytest.raises(NotFound):
            blobs.session(UPLOAD)
        with pytest.raises(NotFound):
            blobs.received(UPLOAD)
        assert blobs.sessions_of("p-bidder") == []
        assert sha256_of(blobs.open(SHA256)) == SHA256

    def test_a_stored_blob_reads_back_in_place_then_is_deleted(self, blobs: BlobStore) -> None:
        blobs.create(announced())
        upload_all(blobs)
        blobs.adopt(UPLOAD, SHA256)
        buffer = bytearray(len(DATA) + 1)
        with blobs.open(SHA256) as stored:
            first = stored.readinto(memoryview(buffer)[:10])
            rest = stored.readinto(memoryview(buffer)[10:])
            assert stored.read() == b""
        assert (first, first + rest, bytes(buffer[: len(DATA)])) == (10, len(DATA), DATA)
        blobs.delete(SHA256)
        with pytest.raises(FileNotFoundError):
            blobs.open(SHA256)
        blobs.delete(SHA256)  # gone already: nothing happens

    def test_a_discarded_upload_is_forgotten(self, blobs: BlobStore) -> None:
        blobs.create(announced())
        upload_all(blobs, piece=len(DATA) // 2)
        blobs.discard(UPLOAD)
        with pytest.raises(NotFound):
            blobs.session(UPLOAD)
        with pytest.raises(NotFound):
            blobs.received(UPLOAD)
        assert blobs.sessions_of("p-bidder") == []
        blobs.discard(UPLOAD)  # gone already: nothing happens

    def test_uploads_are_apart_and_ids_are_checked(self, blobs: BlobStore) -> None:
        other = "contract-upload-0002"
        blobs.create(announced())
        blobs.create(announced(other, bidder="p-other"))
        upload_all(blobs, other)
        assert (blobs.received(UPLOAD), blobs.received(other)) == (0, len(DATA))
        assert [s.id for s in blobs.sessions_of("p-other")] == [other]
        with pytest.raises(NotFound):
            blobs.session("../../etc/passwd")

    def test_a_fresh_store_is_ready_and_has_nothing_to_upgrade(self, blobs: BlobStore) -> None:
        blobs.prepare()  # again: it is idempotent
        assert blobs.upgrade() == 0
