"""`bidroom demo`: run the demonstration on a fresh data directory; with `--sites N`, over a
home and N-1 edges as processes of their own, joined by Redis."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
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
    command.add_argument(
        "--keep-serving", action="store_true",
        help="after the story, keep the node serving the browser pages, with a second tender "
        "staged to be hosted in the browser, and key files to sign in as anyone",
    )  # fmt: skip
    command.add_argument(
        "--host", default="127.0.0.1", help="with --keep-serving: address to listen on"
    )
    command.add_argument(
        "--port", type=int, default=8080, help="with --keep-serving: port (default 8080)"
    )
    command.add_argument(
        "--opening-in", type=float, default=5.0, metavar="MINUTES",
        help="with --keep-serving: minutes until the staged tender's opening (default 5)",
    )  # fmt: skip
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or Path("var") / f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    if data_dir.exists() and any(data_dir.iterdir()):
        raise SystemExit(f"bidroom: {data_dir} is not empty; the demo needs a fresh directory")
    if args.sites is None:
        if args.redis is not None:
            raise SystemExit("bidroom: --redis is for a demo of several sites (--sites N)")
        if args.keep_serving:
            if not 1 <= args.opening_in <= 24 * 60:
                raise SystemExit("bidroom: --opening-in takes 1 to 1440 minutes")
            opening_in = timedelta(minutes=args.opening_in)
            return demo.run_serving(data_dir, args.host, args.port, opening_in)
        return demo.run(data_dir)
    if args.keep_serving:
        raise SystemExit("bidroom: --keep-serving runs on one node; leave out --sites")
    if args.sites < 2:
        raise SystemExit("bidroom: --sites needs at least 2 (a home and an edge), e.g. 3")
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return asyncio.run(SitesDemo(data_dir, sys.stdout, args.sites, args.redis).run())
    except RedisMissing as exc:
        raise SystemExit(f"bidroom: {exc}") from None
