"""The `bidroom` command: serve a node, manage keys and participants, verify, run the demo."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from evaluator_client.errors import ApiError, ClientError
from server.cli import (
    admin,
    audit,
    backup,
    bidder,
    demo,
    draw,
    expert,
    host,
    keys,
    profiles,
    recordings,
    serve,
)
from server.cli.version import version
from server.config import SettingsError
from server.errors import Refused, ServerError
from server.protocol.fields import InvalidFields

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
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if hasattr(args, "profile"):  # a remote command: what no flag gave comes from a profile
            profiles.resolve(args)
        code: int = args.run(args)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except Refused as exc:
        print(f"bidroom: refused ({exc.rule}): {exc}", file=sys.stderr)
        return 1
    except ApiError as exc:
        print(f"bidroom: the node refused ({exc.rule or exc.code}): {exc}", file=sys.stderr)
        return 1
    except (ServerError, InvalidFields, ClientError) as exc:
        print(f"bidroom: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
