"""`bidroom demo`: run the demonstration on a fresh data directory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server import demo

if TYPE_CHECKING:
    import argparse


def register(commands: Any) -> None:
    command: argparse.ArgumentParser = commands.add_parser(
        "demo", help="run a node with scripted participants over real sockets"
    )
    command.add_argument(
        "--data-dir", type=Path, help="fresh directory for the demo (default ./var/demo-<time>)"
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or Path("var") / f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    if data_dir.exists() and any(data_dir.iterdir()):
        raise SystemExit(f"bidroom: {data_dir} is not empty; the demo needs a fresh directory")
    return demo.run(data_dir)
