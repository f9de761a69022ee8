"""The blob store on local disk: sealed bid files in the node's data directory.

`DiskBlobStore` is the blob store of blobs.py: resumable uploads, then durable,
content-addressed files, in the layout of docs/spec/at-rest.md. Nothing here names a bidder or
a tender in the clear: an upload's session is sealed, and the head of every sealed file (which
holds its clear header: tender, lot, bidder) is kept sealed apart from the rest, which is
ciphertext already. Readers see the file the bidder made, head then rest, through `StoredFile`.

Every method is synchronous file I/O; the service runs them in worker threads.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict
from typing import TYPE_CHECKING, BinaryIO, Final, Self

from crypto import DecryptionError
from server.errors import NotFound, StorageError
from server.storage.base import SEALED_OVERHEAD
from server.storage.blobs import READ_BLOCK, UploadSession, sha256_of

if TYPE_CHECKING:
    from io import BufferedReader
    from pathlib import Path
    from types import TracebackType

    from server.storage.base import Sealer

UPLOAD_ID: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")
SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
# More than the longest prefix, header length, header and MAC of a sealed bid (21 + 4 + 65,536
# + 32 bytes), so that no clear header is ever written in the clear, whatever its length.
HEAD_BYTES: Final = 66 * 1024


class StoredFile:
    """A sealed file as the bidder made it: its opened head, then the rest from disk."""

    def __init__(self, head: bytes, rest: BufferedReader) -> None:
        self._head = memoryview(head)
        self._at = 0
        self._rest = rest
        self.size = len(head) + os.fstat(rest.fileno()).st_size

    def read(self, size: int = -1) -> bytes:
        piece = b""
        if self._at < len(self._head):
            end = len(self._head) if size < 0 else min(len(self._head), self._at + size)
            piece, self._at = bytes(self._head[self._at : end]), end
            size = size if size < 0 else size - len(piece)
        if size == 0:
            return piece
        more = self._rest.read(size)
        return piece + more if piece else more

    def readinto(self, buffer: memoryview) -> int:
        """As `read`, into `buffer`: the decryption reads chunks in place, with no copies."""
        taken = 0
        if self._at < len(self._head):
            piece = self._head[self._at : self._at + len(buffer)]
            buffer[: len(piece)] = piece
            self._at += len(piece)
            taken = len(piece)
        if taken == len(buffer):
            return taken
        return taken + (self._rest.readinto(buffer[taken:]) or 0)

    def close(self) -> None:
        self._rest.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class UploadWriter:
    """Appends to an upload: its first HEAD_BYTES into the sealed head, the rest to its part."""

    def __init__(self, files: DiskBlobStore, upload_id: str, head: bytes, part: BinaryIO) -> None:
        self._files = files
        self._id = upload_id
        self._head = head
        self._part = part

    def write(self, data: bytes) -> None:
        room = HEAD_BYTES - len(self._head)
        if room > 0:
            grown = self._head + data[:room]
            self._files.keep_head(self._id, grown)  # durable before the offset moves on
            self._head, data = grown, data[room:]
        if data:
            self._part.write(data)

    def close(self) -> None:
        self._part.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class DiskBlobStore:
    """Uploads (`uploads/`) and stored bids (`bids/`), sealed at rest where they name anyone.

    `uploads` seals upload sessions, `bids` the heads of sealed files (from the first byte
    uploaded): two keys the node derives from its own and never writes.
    """

    def __init__(self, root: Path, uploads: Sealer, bids: Sealer) -> None:
        self.uploads_dir = root / "uploads"
        self.bids_dir = root / "bids"
        self._uploads = uploads
        self._bids = bids

    def prepare(self) -> None:
        for directory in (self.uploads_dir, self.bids_dir):
            directory.mkdir(parents=True, exist_ok=True)

    # Uploads.

    def create(self, session: UploadSession) -> None:
        self.prepare()
        self._part(session.id).touch(exist_ok=False)
        self._keep_session(session)

    def _keep_session(self, session: UploadSession) -> None:
        document = json.dumps(asdict(session)).encode()
        sealed = self._uploads.seal(document, _upload_context(session.id, "session"))
        _write_atomic(self._meta(session.id), sealed)

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
        """The bidder's unfinished uploads: every session is opened, as none names it outside."""
        if not self.uploads_dir.exists():
            return []
        found = []
        for meta in self.uploads_dir.glob("*" + _META):
            try:
                session = self._load(meta.name.removesuffix(_META))
            except FileNotFoundError:
                continue  # finished meanwhile
            if session.bidder == bidder:
                found.append(session)
        return found

    def _load(self, upload_id: str) -> UploadSession:
        sealed = self._meta(upload_id).read_bytes()
        document = _opened(self._uploads, sealed, _upload_context(upload_id, "session"))
        return UploadSession(**json.loads(document))

    def received(self, upload_id: str) -> int:
        try:
            rest = self._part(upload_id).stat().st_size
        except FileNotFoundError:
            raise NotFound("There is no such upload (finished or discarded).") from None
        try:
            head = self._upload_head(upload_id).stat().st_size - SEALED_OVERHEAD
        except FileNotFoundError:
            head = 0
        return head + rest

    def open_append(self, upload_id: str, offset: int) -> UploadWriter:
        """The upload, open for appending at `offset`, which must be where it stands."""
        if self.received(upload_id) != offset:
            raise StorageError(f"Upload {upload_id} does not stand at byte {offset}.")
        head = self._head_of(upload_id)
        part = self._part(upload_id).open("ab")
        return UploadWriter(self, upload_id, head, part)

    def keep_head(self, upload_id: str, head: bytes) -> None:
        """Replace the upload's sealed head, atomically and durably (it is at most HEAD_BYTES).

        It is sealed as the stored bid's head will be, bound to the announced SHA-256, so that
        completing the upload only moves it.
        """
        sealed = self._bids.seal(head, self._head_context(upload_id))
        _write_atomic(self._upload_head(upload_id), sealed)
        if len(head) == HEAD_BYTES:
            _fsync_directory(self.uploads_dir)  # before any byte goes to the part

    def open_upload(self, upload_id: str) -> StoredFile:
        return StoredFile(self._head_of(upload_id), self._part(upload_id).open("rb"))

    def digest(self, upload_id: str) -> str:
        return sha256_of(self.open_upload(upload_id))

    def _head_of(self, upload_id: str) -> bytes:
        try:
            sealed = self._upload_head(upload_id).read_bytes()
        except FileNotFoundError:
            return b""
        return _opened(self._bids, sealed, self._head_context(upload_id))

    def _head_context(self, upload_id: str) -> dict[str, str]:
        return _bid_context(self._load(upload_id).sha256)

    def adopt(self, upload_id: str, sha256: str) -> int:
        """Make the finished upload durable under its hash, forget the session; its size.

        The caller has checked the whole file against `sha256`, the SHA-256 it was announced
        with, to which its head is already bound.
        """
        if not SHA256_HEX.fullmatch(sha256):
            raise StorageError("Not a SHA-256 hex digest.")
        part, head = self._part(upload_id), self._upload_head(upload_id)
        with part.open("rb") as handle:
            os.fsync(handle.fileno())
            size = head.stat().st_size - SEALED_OVERHEAD + os.fstat(handle.fileno()).st_size
        # The session goes first: from then on the upload is finished, never half-there.
        self._meta(upload_id).unlink(missing_ok=True)
        os.replace(head, self._bid_head(sha256))
        os.replace(part, self.body_path(sha256))
        _fsync_directory(self.bids_dir)
        return size

    def upgrade(self) -> int:
        """Convert files of the older, clear layout (docs/spec/at-rest.md section 6); how many.

        Safe to run again after a crash at any point: each step is redone or found done.
        """
        converted = 0
        for old in sorted(self.bids_dir.glob("*.sealed")):
            if SHA256_HEX.fullmatch(sha256 := old.name.removesuffix(".sealed")):
                with old.open("rb") as source:
                    head = source.read(HEAD_BYTES)
                    _copy_rest(source, self.body_path(sha256))
                sealed = self._bids.seal(head, _bid_context(sha256))
                _write_atomic(self._bid_head(sha256), sealed)
                old.unlink()
                converted += 1
        for meta in sorted(self.uploads_dir.glob("*.json")):
            if UPLOAD_ID.fullmatch(upload_id := meta.name.removesuffix(".json")):
                self._upgrade_upload(upload_id, meta)
                converted += 1
        return converted

    def _upgrade_upload(self, upload_id: str, meta: Path) -> None:
        part = self._part(upload_id)
        pending = part.with_name(part.name + ".new")
        # The part is still whole (clear header first) until `pending` has replaced it.
        self._keep_session(UploadSession(**json.loads(meta.read_bytes())))
        if pending.exists() or not self._upload_head(upload_id).exists():
            with part.open("rb") as source:
                head = source.read(HEAD_BYTES)
                _copy_rest(source, pending, replace=False)
            self.keep_head(upload_id, head)
            os.replace(pending, part)
        meta.unlink()

    def discard(self, upload_id: str) -> None:
        for path in (self._part(upload_id), self._upload_head(upload_id), self._meta(upload_id)):
            path.unlink(missing_ok=True)

    # Stored bids.

    def open(self, sha256: str) -> StoredFile:
        """The stored sealed file; OSError if a part is missing, StorageError if it won't open."""
        sealed = self._bid_head(sha256).read_bytes()
        head = _opened(self._bids, sealed, _bid_context(sha256))
        return StoredFile(head, self.body_path(sha256).open("rb"))

    def delete(self, sha256: str) -> None:
        self._bid_head(sha256).unlink(missing_ok=True)
        self.body_path(sha256).unlink(missing_ok=True)

    def body_path(self, sha256: str) -> Path:
        """Where the body of a stored file lies on this disk (not part of the port)."""
        return self.bids_dir / f"{sha256}.body"

    def _bid_head(self, sha256: str) -> Path:
        return self.bids_dir / f"{sha256}.head"

    def _part(self, upload_id: str) -> Path:
        return self.uploads_dir / f"{upload_id}.part"

    def _upload_head(self, upload_id: str) -> Path:
        return self.uploads_dir / f"{upload_id}.head"

    def _meta(self, upload_id: str) -> Path:
        return self.uploads_dir / f"{upload_id}{_META}"


_META: Final = ".meta"


def _upload_context(upload_id: str, part: str) -> dict[str, str]:
    return {"part": part, "upload": upload_id}


def _bid_context(sha256: str) -> dict[str, str]:
    return {"sealed_sha256": sha256}


def _opened(sealer: Sealer, sealed: bytes, context: dict[str, str]) -> bytes:
    try:
        return sealer.open(sealed, context)
    except DecryptionError:
        raise StorageError(
            "A file kept sealed at rest does not open under this node's key."
        ) from None


def _copy_rest(source: BinaryIO, target: Path, *, replace: bool = True) -> None:
    """Copy what is left of `source` into `target`, durably (through a temporary if `replace`)."""
    written = target.with_name(target.name + ".tmp") if replace else target
    with written.open("wb") as sink:
        while block := source.read(READ_BLOCK):
            sink.write(block)
        sink.flush()
        os.fsync(sink.fileno())
    if replace:
        os.replace(written, target)


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
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
