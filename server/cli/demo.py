"""`bidroom demo`: run the demonstration on a fresh data directory; with `--sites N`, over a
home and N-1 edges as processes of their own, joined by Redis."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server import demo
from server.demo.sites import SitesDemo
from server.sites.processes import RedisMissing

if TYPE_CHECKING:
    import argparse


def register(commands: Any) -> None:
    command: argparse.ArgumentParser = commands.add_parser(
        "demo", help="run a node with scripted participants over real sockets"
    )
    command.add_argument(
        "--data-dir", type=Path, help="fresh directory for the demo (default ./var/demo-<time>)"
    )
    command.add_argument(
        "--sites", type=int, metavar="N",
        help="run a home and N-1 edges (N >= 2, e.g. 3) as processes joined by Redis",
    )  # fmt: skip
    command.add_argument(
        "--redis", metavar="URL",
        help="with --sites: the Redis to use (default: start redis-server for the demo)",
    )  # fmt: skip
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or Path("var") / f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    if data_dir.exists() and any(data_dir.iterdir()):
        raise SystemExit(f"bidroom: {data_dir} is not empty; the demo needs a fresh directory")
    if args.sites is None:
        if args.redis is not None:
            raise SystemExit("bidroom: --redis is for a demo of several sites (--sites N)")
        return demo.run(data_dir)
    if args.sites < 2:
        raise SystemExit("bidroom: --sites needs at least 2 (a home and an edge), e.g. 3")
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(SitesDemo(data_dir, sys.stdout, args.sites, args.redis).run())
    except RedisMissing as exc:
        raise SystemExit(f"bidroom: {exc}") from None
