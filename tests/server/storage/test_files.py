"""Sealed bid files on disk: upload sessions, appending, adopting under the hash."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pytest

from crypto import SigningKey
from server.errors import NotFound, StorageError
from server.service.keys import NodeKeys
from server.storage.files import BidFiles, UploadSession

if TYPE_CHECKING:
    from pathlib import Path

SEALER = NodeKeys(SigningKey.generate()).uploads


def session(upload: str = "u" * 20, bidder: str = "p-bidder") -> UploadSession:
    return UploadSession(upload, "t-1", "L1", bidder, 6, "0" * 64, "2026-11-21T09:00:00Z")


def test_an_upload_is_appended_then_adopted_under_its_hash(tmp_path: Path) -> None:
    files = BidFiles(tmp_path, SEALER)
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
        BidFiles(tmp_path, SEALER).session("../../etc/passwd")


def test_an_upload_session_names_nobody_on_disk(tmp_path: Path) -> None:
    files = BidFiles(tmp_path, SEALER)
    files.create(session(bidder="p-4f2a9c1b7d3e"))
    stored = b"".join(p.read_bytes() for p in (tmp_path / "uploads").iterdir())
    assert b"p-4f2a9c1b7d3e" not in stored
    assert b"t-1" not in stored
    assert files.session("u" * 20).bidder == "p-4f2a9c1b7d3e"
    other = BidFiles(tmp_path, NodeKeys(SigningKey.generate()).uploads)
    with pytest.raises(StorageError, match="does not open"):
        other.session("u" * 20)
