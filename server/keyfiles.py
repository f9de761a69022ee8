"""Private key files on disk: created 0600 from their first byte, and tested for shared access.

Every private key file bidroom writes goes through `write_private_file` (no moment in which
another user could open it, as a write followed by a chmod leaves), and every one it reads is
first tested with `too_open`: the command line refuses such a participant key, the node warns
about its own (server/service/key_hygiene.py). Standard library only, so that the client
commands and the node share it without one reaching into the other.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pathlib import Path

# Group and others: read, write or execute.
_SHARED_BITS: Final = stat.S_IRWXG | stat.S_IRWXO


def too_open(path: Path) -> str | None:
    """`path`'s mode as `ls -l` shows it when group or others may use the file; else None.

    Any group or other bit counts, as OpenSSH counts them for a private key: read lets another
    user copy the key, write lets them put theirs in its place. None too when `path` can't be
    examined: reading it then fails with its own message.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    return stat.filemode(mode) if mode & _SHARED_BITS else None


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` holding `data`, mode 0600 from the start; FileExistsError if it exists."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
