"""`python -m bench [NAME ...] [--quick]`: the benchmarks named in BENCHMARKS, or all of them.

Every figure is printed next to a baseline measured in the same run on the same machine, since
machines here are shared and noisy: compare ratios, not absolute numbers, across runs.

Sizes are options of the form `--name=value`: `python -m bench sheets --rooms=20 --experts=7
--bidders=30`, and the same for `join` (by default, the sizes the benchmark's issue asks for);
`python -m bench media --minutes=10` watches the node's memory for ten minutes.
"""

from __future__ import annotations

import os
import platform
import sys
import time

from bench import (
    append,
    connections,
    decrypt,
    fanout,
    join,
    media,
    merkle,
    sheets,
    sites,
    store,
    upload,
    verify,
)

BENCHMARKS = {
    "append": append.run,
    "verify": verify.run,
    "fanout": fanout.run,
    "decrypt": decrypt.run,
    "upload": upload.run,
    "merkle": merkle.run,
    "sheets": sheets.run,
    "connections": connections.run,
    "join": join.run,
    "store": store.run,
    "sites": sites.run,
    "media": media.run,
}
# The benchmarks that take sizes as `--name=value` options.
SIZED = {"sheets": sheets.run, "join": join.run, "media": media.run}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    options = [arg for arg in argv if arg.startswith("--") and arg != "--quick"]
    chosen = [name for name in argv if not name.startswith("--")] or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
        return 2
    print(f"bidroom benchmarks on {platform.python_implementation()} {platform.python_version()},"
          f" {os.cpu_count()} CPUs{' (quick)' if quick else ''}")  # fmt: skip
    for name in chosen:
        started = time.perf_counter()
        output = SIZED[name](quick, options) if name in SIZED else BENCHMARKS[name](quick)
        print(f"\n## {name}\n{output}")
        print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
