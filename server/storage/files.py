"""Sealed bid files: resumable uploads, then durable, content-addressed storage.

Every method is synchronous file I/O; the service runs them in worker threads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, BinaryIO, Final

from crypto import DecryptionError
from server.errors import NotFound, StorageError

if TYPE_CHECKING:
    from pathlib import Path

    from server.storage.base import Sealer

UPLOAD_ID: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
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


class BidFiles:
    """Upload sessions sealed at rest (docs/spec/at-rest.md): no bidder is named in the clear."""

    def __init__(self, root: Path, uploads: Sealer) -> None:
        self._uploads = root / "uploads"
        self._bids = root / "bids"
        self._sealer = uploads

    def prepare(self) -> None:
        for directory in (self._uploads, self._bids):
            directory.mkdir(parents=True, exist_ok=True)

    def create(self, session: UploadSession) -> None:
        self.prepare()
        self._part(session.id).touch(exist_ok=False)
        document = json.dumps(asdict(session)).encode()
        _write_atomic(
            self._meta(session.id), self._sealer.seal(document, _meta_context(session.id))
        )

    def session(self, upload_id: str) -> UploadSession:
        if not UPLOAD_ID.fullmatch(upload_id):
            raise NotFound("There is no such upload.")
        try:
            return self._load(upload_id)
        except FileNotFoundError:
            raise NotFound(
                "There is no such upload (finished, discarded or never started)."
            ) from None

    def sessions_of(self, bidder: str) -> list[UploadSession]:
        """The bidder's unfinished uploads: every session is opened, since none names it outside."""
        if not self._uploads.exists():
            return []
        found = []
        for meta in self._uploads.glob("*" + _META):
            try:
                session = self._load(meta.name.removesuffix(_META))
            except FileNotFoundError:
                continue  # finished meanwhile
            if session.bidder == bidder:
                found.append(session)
        return found

    def _load(self, upload_id: str) -> UploadSession:
        sealed = self._meta(upload_id).read_bytes()
        try:
            document = self._sealer.open(sealed, _meta_context(upload_id))
        except DecryptionError:
            raise StorageError(f"The session of upload {upload_id} does not open.") from None
        return UploadSession(**json.loads(document))

    def received(self, upload_id: str) -> int:
        try:
            return self._part(upload_id).stat().st_size
        except FileNotFoundError:
            raise NotFound("There is no such upload (finished or discarded).") from None

    def open_append(self, upload_id: str, offset: int) -> BinaryIO:
        """The upload's file, open for appending at `offset`, which must be where it stands."""
        handle = self._part(upload_id).open("r+b")
        if handle.seek(0, os.SEEK_END) != offset:
            handle.close()
            raise StorageError(f"Upload {upload_id} does not stand at byte {offset}.")
        return handle

    def digest(self, upload_id: str) -> str:
        hasher = hashlib.sha256()
        with self._part(upload_id).open("rb") as part:
            while block := part.read(READ_BLOCK):
                hasher.update(block)
        return hasher.hexdigest()

    def part_path(self, upload_id: str) -> Path:
        return self._part(upload_id)

    def adopt(self, upload_id: str, sha256: str) -> Path:
        """Make the finished upload durable under its hash and forget the session."""
        if not _SHA256.fullmatch(sha256):
            raise StorageError("Not a SHA-256 hex digest.")
        part, target = self._part(upload_id), self.path(sha256)
        with part.open("rb") as handle:
            os.fsync(handle.fileno())
        # The session goes first: from then on the upload is finished, never half-there.
        self._meta(upload_id).unlink(missing_ok=True)
        os.replace(part, target)
        _fsync_directory(self._bids)
        return target

    def discard(self, upload_id: str) -> None:
        self._part(upload_id).unlink(missing_ok=True)
        self._meta(upload_id).unlink(missing_ok=True)

    def path(self, sha256: str) -> Path:
        return self._bids / f"{sha256}.sealed"

    def _part(self, upload_id: str) -> Path:
        return self._uploads / f"{upload_id}.part"

    def _meta(self, upload_id: str) -> Path:
        return self._uploads / f"{upload_id}{_META}"


_META: Final = ".meta"


def _meta_context(upload_id: str) -> dict[str, str]:
    return {"part": "session", "upload": upload_id}


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
