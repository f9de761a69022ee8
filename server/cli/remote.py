"""What the commands that talk to a running node share: connection flags, keys, login.

Private keys are read from local PEM files and never leave this process: the node sees
signatures, public keys and, at the opening, the one file key a bidder chooses to send.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from crypto import EncryptionKey, KeyFormatError
from evaluator_client.session import Session
from server.cli.failures import KeyFileError
from server.cli.keys import key_bytes, passphrase, read_key

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable

T = TypeVar("T")


def add_node_flags(command: argparse.ArgumentParser) -> None:
    """Each of --node, --participant, --key that is not given comes from a profile (profiles.py)."""
    command.add_argument("--profile", help="a saved profile (bidroom profile; or BIDROOM_PROFILE)")
    command.add_argument("--node", help="the node's base URL, https://... (or BIDROOM_NODE)")
    command.add_argument("--participant", help="your participant id, p-...")
    command.add_argument("--key", type=Path, help="your identity key (PEM)")
    command.add_argument(
        "--passphrase-env", metavar="VAR", help="read the keys' passphrase from this variable"
    )


def add_encryption_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--encryption-key", type=Path, required=True, help="your X25519 encryption key (PEM)"
    )


def read_encryption_key(args: argparse.Namespace) -> EncryptionKey:
    path: Path = args.encryption_key
    data = key_bytes(path)
    secret = passphrase(args)
    try:
        return EncryptionKey.from_pem(data, passphrase=secret)
    except KeyFormatError as exc:
        raise KeyFileError.malformed(path, exc, secret, kind="X25519") from exc


def with_session(args: argparse.Namespace, work: Callable[[Session], Awaitable[T]]) -> T:
    """Log in to the node as `--participant` with `--key`, run `work`, log out."""
    key = read_key(args.key, passphrase(args))

    async def run() -> T:
        async with await Session.login(args.node.rstrip("/"), args.participant, key) as session:
            return await work(session)

    return asyncio.run(run())


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SystemExit(f"bidroom: can't read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise SystemExit(f"bidroom: {path} is not JSON: {exc}") from None


def write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
