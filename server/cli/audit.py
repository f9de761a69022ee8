"""`bidroom audit verify`: check the hash chains of the node's audit log, offline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recordings.audit import verify_chain
from recordings.errors import ChainBroken
from server.cli.common import add_settings_flags, settings_from
from server.storage.sqlite import stored_rows, stored_streams

if TYPE_CHECKING:
    import argparse


def register(commands: Any) -> None:
    command: argparse.ArgumentParser = commands.add_parser("audit", help="the audit log")
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="verify the hash chain of one tender or all")
    add_settings_flags(verify)
    verify.add_argument("tender", nargs="?", help="a tender id, or `system` (default: all)")
    verify.set_defaults(run=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    path = settings_from(args).database_path
    if not path.exists():
        raise SystemExit(f"bidroom: no audit log at {path}")
    streams = [args.tender] if args.tender else stored_streams(path)
    failures = 0
    for stream in streams:
        try:
            head = verify_chain(stream, stored_rows(path, stream))
        except ChainBroken as exc:
            failures += 1
            print(f"BROKEN  {stream}: first bad event is {exc.seq}: {exc.reason}")
            continue
        if head.seq == 0:
            failures += 1
            print(f"EMPTY   {stream}: no events")
        else:
            print(f"OK      {stream}: {head.seq} events, head {head.hash}")
    return 1 if failures else 0
