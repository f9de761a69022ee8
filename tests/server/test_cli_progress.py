"""Progress bars are drawn on a terminal and nowhere else, in a real process."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

DRAW = (
    "from server.cli.progress import bar\n"
    "with bar('progress.download', 3_000_000, name='a.package') as update:\n"
    "    update(1_000_000); update(3_000_000)\n"
)


def run(stderr: int, **env: str) -> subprocess.CompletedProcess[bytes]:
    environment = {k: v for k, v in os.environ.items() if k != "BIDROOM_PROGRESS"}
    environment |= {"BIDROOM_LANG": "en", **env}
    return subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", DRAW], stderr=stderr, stdout=subprocess.PIPE,
        env=environment, timeout=30, check=True,
    )  # fmt: skip


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal's other end is closed: all is read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_bar_shows_on_a_terminal_and_not_in_a_pipe() -> None:
    leader, follower = pty.openpty()
    try:
        run(follower)
        os.close(follower)
        follower = -1
        drawn = read_all(leader).decode()
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert "Downloading a.package" in drawn
    assert "3.0/3.0 MB" in drawn
    assert run(subprocess.PIPE).stderr == b""
