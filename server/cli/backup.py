"""`bidroom backup` and `bidroom restore`: a consistent copy of a node's data directory.

The log is copied with SQLite's online backup API (`sqlite3.Connection.backup`), which reads
one consistent snapshot while the node goes on writing (WAL: readers never block the writer).
Only then are the other files copied (keys, sealed bid files, uploads, recordings): bid files
and segments are on disk before the log names them, so every file the copied log names is in
the copy. A manifest lists every file with its size and SHA-256; `restore` checks all of them
and the database's integrity before it writes anything, into a data directory that must not
exist yet or be empty. `bidroom audit verify --data-dir DIR` then checks the restored chains.

A PostgreSQL event store is backed up with the database's own tools (docs/deploy.md).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from server.cli.common import add_settings_flags, settings_from
from server.cli.messages import text

if TYPE_CHECKING:
    import argparse

    from server.config import Settings

MANIFEST: Final = "bidroom-backup.json"
FORMAT: Final = "bidroom-backup v1"
DATABASE: Final = "bidroom.sqlite3"
# SQLite's companions of the database: never copied as files (the snapshot holds their content).
_DATABASE_FILES: Final = frozenset({DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm",
                                    f"{DATABASE}-journal"})  # fmt: skip
_CHUNK: Final = 1024 * 1024


class BackupError(Exception):
    """A backup can't be written or a restore can't be trusted; the message says why."""


def register(commands: Any) -> None:
    backup: argparse.ArgumentParser = commands.add_parser(
        "backup", help="备份数据目录（服务中亦可）/ back up the data directory, even while serving"
    )
    add_settings_flags(backup)
    backup.add_argument("out", type=Path, help="a new directory to write the backup into")
    backup.set_defaults(run=run_backup)
    restore: argparse.ArgumentParser = commands.add_parser(
        "restore", help="从备份恢复数据目录 / restore a data directory from a backup"
    )
    add_settings_flags(restore)
    restore.add_argument("backup", type=Path, help="a directory written by `bidroom backup`")
    restore.set_defaults(run=run_restore)


def run_backup(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        manifest = back_up(settings, args.out)
    except BackupError as exc:
        raise SystemExit(f"bidroom: {exc}") from None
    print(text("backup.written", out=args.out, count=len(manifest["files"])))
    return 0


def run_restore(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        manifest = restore(args.backup, settings.data_dir)
    except BackupError as exc:
        raise SystemExit(f"bidroom: {exc}") from None
    count, created = len(manifest["files"]), manifest.get("created")
    print(text("restore.done", path=settings.data_dir, count=count, created=created))
    return 0


def back_up(settings: Settings, out: Path) -> dict[str, Any]:
    """Snapshot the log, then copy every other file; write the manifest last."""
    if settings.event_store != "sqlite":
        raise BackupError(text("backup.postgres"))
    source = settings.data_dir
    if not settings.database_path.is_file():
        raise BackupError(text("backup.no_log", path=settings.database_path))
    if out.resolve().is_relative_to(source.resolve()):
        raise BackupError(text("backup.inside", out=out))
    try:
        out.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        raise BackupError(text("backup.exists", out=out)) from None
    _snapshot(settings.database_path, out / DATABASE)
    files = {DATABASE: _describe(out / DATABASE)}
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source).as_posix()
        if relative in _DATABASE_FILES or not path.is_file() or path.is_symlink():
            continue
        target = out / relative
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            shutil.copy2(path, target)  # keeps the mode: the node key stays 0600
        except FileNotFoundError:
            continue  # a temporary file renamed or removed while we copied: not ours to keep
        files[relative] = _describe(target)
    manifest = {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def restore(backup: Path, data_dir: Path) -> dict[str, Any]:
    """Check the whole backup, then copy it into an empty data directory."""
    manifest = _manifest(backup)
    problems = [p for name, meta in manifest["files"].items() for p in _check(backup, name, meta)]
    if not problems:
        problems = _integrity(backup / DATABASE)
    if problems:
        raise BackupError(text("restore.damaged", problems="; ".join(problems)))
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BackupError(text("restore.not_empty", path=data_dir))
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in manifest["files"]:
        target = data_dir / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copy2(backup / name, target)
    return manifest


def _snapshot(database: Path, target: Path) -> None:
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")  # one file; the node turns WAL on
            finally:
                copy.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise BackupError(text("backup.unreadable", path=database, reason=exc)) from None
    target.chmod(0o600)


def _describe(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def _manifest(backup: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((backup / MANIFEST).read_text(encoding="utf-8"))
    except OSError:
        raise BackupError(text("restore.not_backup", path=backup, manifest=MANIFEST)) from None
    except ValueError as exc:
        raise BackupError(text("restore.bad_manifest", manifest=MANIFEST, reason=exc)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(text("restore.bad_manifest", manifest=MANIFEST, reason=FORMAT))
    files = manifest.get("files")
    if not isinstance(files, dict) or DATABASE not in files:
        raise BackupError(text("restore.bad_manifest", manifest=MANIFEST, reason=DATABASE))
    for name in files:
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or not parts:
            raise BackupError(text("restore.outside", manifest=MANIFEST, name=name))
    return manifest


def _check(backup: Path, name: str, meta: Any) -> list[str]:
    path = backup / name
    if not path.is_file():
        return [text("restore.missing", name=name)]
    if not isinstance(meta, dict) or _describe(path) != {
        "size": meta.get("size"),
        "sha256": meta.get("sha256"),
    }:
        return [text("restore.changed", name=name)]
    return []


def _integrity(database: Path) -> list[str]:
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [text("backup.unreadable", path=database, reason=exc)]
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else [f"{DATABASE}: {line}" for line in found]


__all__ = ["BackupError", "back_up", "register", "restore"]
