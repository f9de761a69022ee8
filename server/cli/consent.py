"""Asking before signing: what is signed is shown first, then the person says yes.

`bidder confirm` and `expert sign` sign for their holder with consequences (the opening record,
the evaluation report), so they show what is signed and ask; `--yes` is the answer given ahead,
for scripts. Without a terminal to ask at and without `--yes`, they refuse rather than sign.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Final

from server.cli.failures import EXIT_DECLINED, EXIT_USAGE, Failure
from server.cli.messages import text

if TYPE_CHECKING:
    import argparse

YES: Final = frozenset({"y", "yes", "是", "确认"})


def add_yes_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--yes", "-y", action="store_true", help="sign without asking (不再询问，直接签名)"
    )


def ask_to_sign(yes: bool) -> None:
    """Return once the person said yes (or gave --yes); otherwise end the command unsigned."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise Failure(EXIT_USAGE, "sign.not_interactive")
    print(text("sign.ask"), end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in YES:
        raise Failure(EXIT_DECLINED, "sign.declined")
