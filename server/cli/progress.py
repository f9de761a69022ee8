"""Progress bars with rate and ETA for the long steps: seal, check, submit, download.

A step done by the node in one request (decrypting a bid at the opening) has no bytes to count
here: it gets a spinner with the time elapsed instead.

Why `rich`: one well-kept library draws the bar, the transfer rate and the time left, and
measures Chinese labels by display width; tqdm would do the bar but not the width. A bar is
drawn only on a terminal (stderr), so piped output and tests stay quiet, unless
`BIDROOM_PROGRESS=1` forces it (`0` silences it on a terminal too).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from server.cli.messages import text

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

FORCE: Final = "BIDROOM_PROGRESS"


def shown() -> bool:
    """Whether to draw bars: forced by BIDROOM_PROGRESS, else only when stderr is a terminal."""
    forced = os.environ.get(FORCE, "")
    if forced in {"0", "1"}:
        return forced == "1"
    return sys.stderr.isatty()


@contextmanager
def bar(message: str, total: int | None, **values: object) -> Iterator[Callable[[int], None]]:
    """A bar labelled with catalogue `message`; yields `update(done)` (bytes done so far)."""
    if not shown():
        yield lambda done: None
        return
    console = Console(file=sys.stderr, force_terminal=True)
    columns = (
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(text(message, **values), total=total)
        yield lambda done: progress.update(task, completed=done)


@contextmanager
def waiting(message: str, **values: object) -> Iterator[None]:
    """A spinner and the time elapsed while the node works on one request (no bytes to count)."""
    if not shown():
        yield
        return
    console = Console(file=sys.stderr, force_terminal=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        progress.add_task(text(message, **values), total=None)
        yield
