"""The blob store port: sealed bid files, from a resumable upload to a content-addressed blob.

A bid arrives as an upload session (who sends what, announced size and SHA-256), grows by
appends at the offset it stands at, is checked whole, then adopted: kept under its SHA-256 as
the bidder made it, until the box no longer needs it. Implementations: disk_blobs.py (the data
directory on local disk, docs/spec/at-rest.md). Nothing a store keeps may name a bidder or a
tender in the clear; how it keeps them apart is the implementation's business.

Every method is synchronous and may block on I/O; the services call them in worker threads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self

READ_BLOCK: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class UploadSession:
    id: str
    tender: str
    lot: str
    bidder: str
    size: int
    sha256: str
    created_at: str


class BlobReader(Protocol):
    """A sealed file as the bidder made it, read from its start; `size` is its whole length."""

    @property
    def size(self) -> int: ...

    def read(self, size: int = -1, /) -> bytes: ...

    def readinto(self, buffer: memoryview, /) -> int:
        """As `read`, into `buffer`: the decryption reads chunks in place, with no copies."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class BlobWriter(Protocol):
    """An upload open for appending; each `write` is kept before the next one starts."""

    def write(self, data: bytes, /) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class BlobStore(Protocol):
    """Uploads in progress and the sealed files adopted from them, keyed by SHA-256 hex."""

    def prepare(self) -> None:
        """Make the store ready to use (idempotent)."""

    def upgrade(self) -> int:
        """Convert what an older version of the node kept to today's layout; how many items.

        Safe to run again after a crash at any point.
        """

    # Uploads.

    def create(self, session: UploadSession) -> None:
        """Start an empty upload under `session.id`, which must be new."""

    def session(self, upload_id: str) -> UploadSession:
        """NotFound for an id that is malformed, finished, discarded or never started."""

    def sessions_of(self, bidder: str) -> list[UploadSession]:
        """The bidder's unfinished uploads."""

    def received(self, upload_id: str) -> int:
        """How many bytes of the upload are kept; NotFound once finished or discarded."""

    def open_append(self, upload_id: str, offset: int) -> BlobWriter:
        """The upload, open for appending at `offset`; StorageError unless it stands there."""

    def open_upload(self, upload_id: str) -> BlobReader:
        """What the upload has received so far, from its first byte."""

    def digest(self, upload_id: str) -> str:
        """The SHA-256 hex of what the upload has received."""

    def discard(self, upload_id: str) -> None:
        """Forget the upload and its bytes (nothing happens if it is gone already)."""

    def adopt(self, upload_id: str, sha256: str) -> int:
        """Keep the finished upload durably as blob `sha256`, forget the session; its size.

        The caller has checked the whole upload against `sha256`, the hash it was announced
        with.
        """

    # Stored blobs.

    def open(self, sha256: str) -> BlobReader:
        """The stored file; FileNotFoundError if it is not there (or only in part), another
        OSError if it can't be read, StorageError if what is kept sealed won't open."""

    def delete(self, sha256: str) -> None:
        """Delete the stored file (nothing happens if it is gone already)."""


def sha256_of(source: BlobReader) -> str:
    """The SHA-256 of a whole sealed file, as its receipt names it; closes `source`."""
    hasher = hashlib.sha256()
    with source:
        while block := source.read(READ_BLOCK):
            hasher.update(block)
    return hasher.hexdigest()
