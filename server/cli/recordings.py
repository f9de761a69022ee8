"""`bidroom recordings`: the node's media recordings, offline, against what its log records.

`verify` checks every segment file under the data directory's recordings against the SHA-256
the tender's log records of it (docs/media.md section 7): a file missing, altered or not listed
at all is a problem, and the exit code says whether there was one. Like `bidroom audit verify`
it needs no running node: the data directory (and its node key, which seals the log) is enough.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Final

from recordings.errors import ChainBroken, RecordFormatError
from recordings.segments import ProblemKind
from server import console
from server.cli.common import add_settings_flags, settings_from

if TYPE_CHECKING:
    import argparse

    from recordings.segments import Problem

# How each kind of problem is told: Chinese first, then English.
TOLD: Final = {
    ProblemKind.MISSING: (
        "缺失",
        "MISSING",
        "日志记录了它, 磁盘上没有 listed in the log, not on disk",
    ),
    ProblemKind.ALTERED: ("篡改", "ALTERED", "内容与日志的哈希不符 its bytes don't hash as logged"),
    ProblemKind.UNLISTED: ("多余", "UNLISTED", "日志中没有记录 on disk, not in the log"),
}
USAGE: Final = 2


def register(commands: Any) -> None:
    command: argparse.ArgumentParser = commands.add_parser(
        "recordings", help="the media recordings (录像) on this node's disk"
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify", help="check the segment files against the hashes the log records of them"
    )
    add_settings_flags(verify)
    verify.add_argument("--tender", help="only this tender's recordings (default: all)")
    verify.set_defaults(run=run_verify)
    listing = actions.add_parser("list", help="a tender's recordings, as its log lists them")
    add_settings_flags(listing)
    listing.add_argument("--tender", required=True, help="the tender id, t-...")
    listing.set_defaults(run=run_list)


def run_verify(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if not settings.database_path.exists() and settings.event_store == "sqlite":
        return _usage(f"没有审计日志 no audit log at {settings.database_path}")
    try:
        check = console.check_recordings(settings, args.tender)
    except console.ConsoleError as exc:
        return _usage(str(exc))
    except (ChainBroken, RecordFormatError) as exc:
        print(f"日志损坏 BROKEN  the log can't be trusted to list the recordings: {exc}")
        return 1
    for problem in check.problems:
        print(_told(problem))
    counts = {kind: sum(p.kind is kind for p in check.problems) for kind in ProblemKind}
    tally = ", ".join(f"{TOLD[kind][0]} {kind.value} {counts[kind]}" for kind in ProblemKind)
    where = f"tender {args.tender}" if args.tender else f"{len(check.listed)} tender(s)"
    if check.problems:
        print(
            f"录像有问题 recordings FAILED on node {check.node}, {where}: "
            f"{check.expected} segment(s) listed; {len(check.problems)} problem(s): {tally}"
        )
        return 1
    print(
        f"录像完好 recordings verified on node {check.node}, {where}: "
        f"{check.expected} segment(s) match the log; {tally}"
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if not settings.database_path.exists() and settings.event_store == "sqlite":
        return _usage(f"没有审计日志 no audit log at {settings.database_path}")
    try:
        found = console.recordings(settings, args.tender).get(args.tender, [])
    except console.ConsoleError as exc:
        return _usage(str(exc))
    except (ChainBroken, RecordFormatError) as exc:
        print(f"日志损坏 BROKEN  the log can't be trusted to list the recordings: {exc}")
        return 1
    for recording in found:
        print(_line(recording))
    cut = sum(not r["complete"] for r in found)
    expired = sum(bool(r["expired"]) for r in found)
    print(
        f"录像 recordings of tender {args.tender}: {len(found)} segment(s), "
        f"截断 cut {cut}, 已过期 expired {expired}"
    )
    return 0


def _told(problem: Problem) -> str:
    chinese, english, meaning = TOLD[problem.kind]
    line = f"{chinese} {english:<8} {problem.name}: {meaning}"
    if problem.expected is not None:
        line += f"; log {problem.expected}"
    if problem.actual is not None:
        line += f"; file {problem.actual}"
    elif problem.kind is ProblemKind.UNLISTED:
        line += "; a symbolic link, not followed"
    return line


def _line(recording: dict[str, Any]) -> str:
    state = "完整 closed" if recording["complete"] else "截断 cut"
    if recording["expired"]:
        state += " 已过期 expired"
    return (
        f"{recording['name']}  {state}  {recording['size']} B  {recording['duration_ms']} ms  "
        f"{recording['started']}  node {recording['node']}  sha256 {recording['sha256']}"
    )


def _usage(message: str) -> int:
    print(f"bidroom: {message}", file=sys.stderr)
    return USAGE
