"""`bidroom expert unpack`: a saved bid package out into a directory, safely.

A package (docs/spec/sealed-bid.md section 4) is `BIDROOM-BID-PACKAGE/1\\n`, the
opening sheet's length (4 bytes, big-endian), the sheet (JSON), then a ZIP of the documents.
The sheet goes to `DIR/opening-sheet.json`, the documents under `DIR/documents/`. The whole
archive is checked before a byte is written: no name may escape the directory, and the
entries, their total size and their compression ratio are bounded (a zip bomb is refused).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import Final

from crypto import CryptoError, SheetReader
from server.cli.messages import fail

LEAD: Final = len(b"BIDROOM-BID-PACKAGE/1\n") + 4
MAX_SHEET: Final = 64 * 1024  # as the format bounds it
# Bounds on what a package may unpack to: far above any real bid, far below a full disk.
MAX_ENTRIES: Final = 10_000
MAX_TOTAL: Final = 4 * 1024**3
MAX_RATIO: Final = 200  # documents compress 2-10x; a bomb compresses 1000x
SHEET_NAME: Final = "opening-sheet.json"
DOCUMENTS: Final = "documents"


def unpack(package: Path, directory: Path, *, max_total: int = MAX_TOTAL) -> int:
    """Extract `package` into `directory` (new or empty); the number of documents written."""
    with package.open("rb") as handle:
        sheet = _sheet(package, handle.read(LEAD + MAX_SHEET))
        try:  # zipfile finds a ZIP after leading bytes (as in self-extracting archives)
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError) as exc:
            raise fail("unpack.not_package", path=package, reason=exc) from None
        with archive:
            members = _checked(archive, directory, max_total)
            directory.mkdir(parents=True, exist_ok=True)
            if any(directory.iterdir()):
                raise fail("unpack.not_empty", path=directory)
            text = json.dumps(sheet, ensure_ascii=False, indent=2) + "\n"
            (directory / SHEET_NAME).write_text(text, encoding="utf-8")
            for member, target in members:
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, target.open("xb") as sink:
                    shutil.copyfileobj(source, sink, 1024 * 1024)
    return len(members)


def _sheet(package: Path, lead: bytes) -> dict[str, object]:
    reader = SheetReader()
    try:
        reader.feed(lead)
        return reader.result()
    except CryptoError as exc:
        raise fail("unpack.not_package", path=package, reason=exc) from None


def _checked(
    archive: zipfile.ZipFile, directory: Path, max_total: int
) -> list[tuple[zipfile.ZipInfo, Path]]:
    """Each file entry with where it goes; refuses escaping names and bombs before writing."""
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise fail("unpack.too_big", reason=f"{len(entries)} entries", limit=MAX_ENTRIES)
    total = sum(e.file_size for e in entries)
    if total > max_total:
        raise fail("unpack.too_big", reason=f"{total} bytes", limit=max_total)
    root = (directory / DOCUMENTS).resolve()
    members, seen = [], set()
    for entry in entries:
        name = PurePosixPath(entry.filename)
        unsafe = name.is_absolute() or ".." in name.parts or "\\" in entry.filename
        target = (root / name).resolve()
        if unsafe or ":" in entry.filename or not target.is_relative_to(root):
            raise fail("unpack.escapes", name=entry.filename, dir=directory)
        if entry.file_size > MAX_RATIO * max(entry.compress_size, 1024):
            reason = f"{entry.filename}: {entry.file_size} / {entry.compress_size}"
            raise fail("unpack.too_big", reason=reason, limit=f"{MAX_RATIO}:1")
        if not entry.is_dir():
            if target in seen:
                raise fail("unpack.duplicate", name=entry.filename)
            seen.add(target)
            members.append((entry, target))
    return members
