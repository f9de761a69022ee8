"""Sealed bid files on disk: upload sessions, appending, adopting under the hash."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

import pytest

from crypto import SigningKey
from server.errors import NotFound, StorageError
from server.service.node_keys import NodeKeys
from server.storage.blobs import UploadSession
from server.storage.disk_blobs import HEAD_BYTES, DiskBlobStore
from tests.server.storage.blob_contract import BlobStoreContract

if TYPE_CHECKING:
    from pathlib import Path

    from server.storage.blobs import BlobStore

KEYS = NodeKeys(SigningKey.generate())


def bid_files(root: Path, keys: NodeKeys = KEYS) -> DiskBlobStore:
    return DiskBlobStore(root, keys.uploads, keys.bids)


class TestDiskBlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self, tmp_path: Path) -> BlobStore:
        store = bid_files(tmp_path)  # mypy checks that the disk store is a BlobStore
        store.prepare()
        return store


ABCDEF = hashlib.sha256(b"abcdef").hexdigest()


def session(upload: str = "u" * 20, bidder: str = "p-bidder") -> UploadSession:
    return UploadSession(upload, "t-1", "L1", bidder, 6, ABCDEF, "2026-11-21T09:00:00Z")


def test_an_upload_is_appended_then_adopted_under_its_hash(tmp_path: Path) -> None:
    files = bid_files(tmp_path)
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
    assert files.adopt("u" * 20, sha) == 6
    with files.open(sha) as stored:
        assert (stored.size, stored.read()) == (6, b"abcdef")
    with pytest.raises(NotFound, match="finished, discarded or never started"):
        files.session("u" * 20)
    with pytest.raises(NotFound, match="finished or discarded"):
        files.received("u" * 20)  # asked while it completes: gone, not an error
    assert files.sessions_of("p-bidder") == []


def test_upload_ids_are_checked_before_touching_the_disk(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        bid_files(tmp_path).session("../../etc/passwd")


def test_an_upload_session_names_nobody_on_disk(tmp_path: Path) -> None:
    files = bid_files(tmp_path)
    files.create(session(bidder="p-4f2a9c1b7d3e"))
    stored = b"".join(p.read_bytes() for p in (tmp_path / "uploads").iterdir())
    assert b"p-4f2a9c1b7d3e" not in stored
    assert b"t-1" not in stored
    assert files.session("u" * 20).bidder == "p-4f2a9c1b7d3e"
    other = bid_files(tmp_path, NodeKeys(SigningKey.generate()))
    with pytest.raises(StorageError, match="does not open"):
        other.session("u" * 20)


def test_the_head_is_sealed_apart_from_the_rest_and_reads_back_whole(tmp_path: Path) -> None:
    header = b"BIDROOM-SEALED-BID/1\n" + b'{"bidder":"p-4f2a9c1b7d3e","tender":"t-1"}'
    data = header + bytes(range(256)) * ((HEAD_BYTES + 5000) // 256)
    files = bid_files(tmp_path)
    sha = hashlib.sha256(data).hexdigest()
    files.create(replace(session(), size=len(data), sha256=sha))
    received = 0
    for start in range(0, len(data), 40_000):  # pieces across the head's end
        with files.open_append("u" * 20, received) as handle:
            handle.write(data[start : start + 40_000])
        received = files.received("u" * 20)
        assert received == min(len(data), start + 40_000)
    assert files.digest("u" * 20) == sha
    assert b"p-4f2a9c1b7d3e" not in on_disk(tmp_path)  # nor while unfinished
    assert files.adopt("u" * 20, sha) == len(data)
    assert b"p-4f2a9c1b7d3e" not in on_disk(tmp_path)
    assert files.body_path(sha).read_bytes() == data[HEAD_BYTES:]
    with files.open(sha) as stored:
        pieces = [stored.read(0), stored.read(10), stored.read(HEAD_BYTES), stored.read()]
    assert b"".join(pieces) == data
    assert [len(p) for p in pieces] == [0, 10, HEAD_BYTES, len(data) - HEAD_BYTES - 10]
    with files.open(sha) as stored:
        buffer = bytearray(len(data) + 1)
        counts = [
            stored.readinto(memoryview(buffer)[:10]),
            stored.readinto(memoryview(buffer)[10:]),
        ]
    assert (counts, bytes(buffer[: len(data)])) == ([10, len(data) - 10], data)
    with pytest.raises(StorageError, match="does not open"):
        bid_files(tmp_path, NodeKeys(SigningKey.generate())).open(sha)
    files.delete(sha)
    assert list((tmp_path / "bids").iterdir()) == []


def test_an_upload_that_fails_to_keep_its_head_stands_where_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = bid_files(tmp_path)
    files.create(session())
    with files.open_append("u" * 20, 0) as handle:
        handle.write(b"abc")

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "keep_head", full)
    with pytest.raises(OSError, match="No space"), files.open_append("u" * 20, 3) as handle:
        handle.write(b"def")
    assert files.received("u" * 20) == 3
    files.discard("u" * 20)
    assert list((tmp_path / "uploads").iterdir()) == []


def on_disk(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def legacy_layout(root: Path, data: bytes, upload: str) -> str:
    """Files as a node of the clear layout left them: a stored bid and an unfinished upload."""
    (root / "bids").mkdir(parents=True)
    (root / "uploads").mkdir()
    sha = hashlib.sha256(data).hexdigest()
    (root / "bids" / f"{sha}.sealed").write_bytes(data)
    (root / "uploads" / f"{upload}.json").write_text(json.dumps(asdict(session(upload))))
    (root / "uploads" / f"{upload}.part").write_bytes(data[: HEAD_BYTES + 7])
    return sha


@pytest.mark.parametrize("crashed", [False, True])
def test_files_of_the_clear_layout_are_sealed_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crashed: bool
) -> None:
    data = b"BIDROOM-SEALED-BID/1\n" + b'{"bidder":"p-4f2a9c1b7d3e"}' + bytes(HEAD_BYTES + 100)
    upload = "v" * 20
    sha = legacy_layout(tmp_path, data, upload)
    (tmp_path / "bids" / "notes.sealed").write_bytes(b"not a bid of the old layout")
    (tmp_path / "uploads" / "x.json").write_bytes(b"{}")
    files = bid_files(tmp_path)
    if crashed:  # a first run dies with the head kept and the new part written, not yet in place
        replace_file = os.replace

        def dies(source: Path, target: Path) -> None:
            if str(target).endswith(".part"):
                raise OSError(5, "Killed")
            replace_file(source, target)

        monkeypatch.setattr(os, "replace", dies)
        with pytest.raises(OSError, match="Killed"):
            files.upgrade()
        monkeypatch.setattr(os, "replace", replace_file)
    assert files.upgrade() == 2 - crashed  # the stored bid was converted by the first run
    assert b"p-4f2a9c1b7d3e" not in on_disk(tmp_path)
    assert (tmp_path / "bids" / "notes.sealed").exists()  # left alone: not named by a hash
    with files.open(sha) as stored:
        assert stored.read() == data
    assert files.session(upload).bidder == "p-bidder"
    assert files.received(upload) == HEAD_BYTES + 7
    with files.open_upload(upload) as unfinished:
        assert unfinished.read() == data[: HEAD_BYTES + 7]
    assert files.upgrade() == 0
