"""Sealed bid files on disk: upload sessions, appending, adopting under the hash."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest

from server.errors import NotFound, StorageError
from server.storage.files import BidFiles, UploadSession

if TYPE_CHECKING:
    from pathlib import Path


def session(upload: str = "u" * 20, bidder: str = "p-bidder") -> UploadSession:
    return UploadSession(upload, "t-1", "L1", bidder, 6, "0" * 64, "2026-11-21T09:00:00Z")


def test_an_upload_is_appended_then_adopted_under_its_hash(tmp_path: Path) -> None:
    files = BidFiles(tmp_path)
    assert files.sessions_of("p-bidder") == []
    files.create(session())
    with files.open_append("u" * 20, 0) as handle:
        handle.write(b"abc")
    with pytest.raises(StorageError, match="does not stand at byte 0"):
        files.open_append("u" * 20, 0)
    with files.open_append("u" * 20, 3) as handle:
        handle.write(b"def")
    sha = hashlib.sha256(b"abcdef").hexdigest()
    assert (files.received("u" * 20), files.digest("u" * 20)) == (6, sha)
    assert [s.id for s in files.sessions_of("p-bidder")] == ["u" * 20]
    assert files.sessions_of("p-other") == []
    with pytest.raises(StorageError, match="SHA-256"):
        files.adopt("u" * 20, "not a hash")
    assert files.adopt("u" * 20, sha).read_bytes() == b"abcdef"
    with pytest.raises(NotFound, match="finished, discarded or never started"):
        files.session("u" * 20)
    with pytest.raises(NotFound, match="finished or discarded"):
        files.received("u" * 20)  # asked while it completes: gone, not an error
    assert files.sessions_of("p-bidder") == []


def test_upload_ids_are_checked_before_touching_the_disk(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        BidFiles(tmp_path).session("../../etc/passwd")
