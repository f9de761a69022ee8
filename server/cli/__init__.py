"""The `bidroom` command: serve a node, manage keys and participants, verify, run the demo."""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import TYPE_CHECKING

from server.cli import (
    admin,
    audit,
    backup,
    bidder,
    demo,
    draw,
    expert,
    failures,
    host,
    keys,
    profiles,
    recordings,
    serve,
)
from server.cli.version import version

if TYPE_CHECKING:
    from collections.abc import Sequence

COMMANDS = (
    serve,
    demo,
    keys,
    admin,
    audit,
    recordings,
    bidder,
    expert,
    draw,
    host,
    profiles,
    backup,
)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="bidroom",
        description="Remote bid opening and off-site evaluation (不见面开标 / 远程异地评标).",
    )
    root.add_argument("--version", action="version", version=f"bidroom {version()}")
    root.add_argument(
        "--debug", action="store_true", help="on a failure, show the traceback too (调试)"
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a failure ends it with one line and its kind's code (failures.py)."""
    args = parser().parse_args(argv)
    try:
        if hasattr(args, "profile"):  # a remote command: what no flag gave comes from a profile
            profiles.resolve(args)
        code: int = args.run(args)
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # every failure is worded in one place
        if args.debug:
            traceback.print_exc()
        code, line = failures.explain(exc, getattr(args, "node", None))
        print(line, file=sys.stderr)
    return code
