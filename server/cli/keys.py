"""`bidroom key`: create identity (Ed25519) and encryption (X25519) keys, kept on this machine.

A new key is encrypted with a passphrase unless `--no-passphrase` says otherwise, out loud; the
passphrase comes from `--passphrase-env VAR`, else is asked twice on a terminal (`getpass`), else
the command refuses. Key files are created 0600 from their first byte. Every command that reads
a private key reads it through `key_bytes`, which refuses a file that group or others may use,
as OpenSSH refuses such a key: a participant's key signs bids and confirmations in their name,
and a shared one is a mistake the person at the keyboard can fix at once with `chmod 600`. (The
node key, loaded by a service, is warned about instead: server/service/key_hygiene.py.)
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crypto import EncryptionKey, KeyFormatError, SigningKey
from server.cli.failures import EXIT_KEY_FILE, KeyFileError
from server.cli.messages import MESSAGES, fail, text
from server.keyfiles import too_open, write_private_file

if TYPE_CHECKING:
    import argparse


def register(commands: Any) -> None:
    command: argparse.ArgumentParser = commands.add_parser("key", help="identity keys")
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    generate = actions.add_parser("generate", help="create a key; print its public key")
    generate.add_argument("--out", type=Path, required=True, help="where to write the PEM key")
    generate.add_argument(
        "--kind",
        choices=("identity", "encryption"),
        default="identity",
        help="identity: Ed25519, to sign in and sign; encryption: X25519, to receive sealed keys",
    )
    protection = generate.add_mutually_exclusive_group()
    protection.add_argument(
        "--passphrase-env",
        metavar="VAR",
        help="read the new key's passphrase from this variable (else asked on a terminal)",
    )
    protection.add_argument(
        "--no-passphrase",
        action="store_true",
        help="write the key unencrypted (test machines, demos); said loudly on stderr",
    )
    generate.set_defaults(run=run_generate)
    show = actions.add_parser("show", help="print the public key of a private key")
    show.add_argument("--key", type=Path, required=True)
    _passphrase_flag(show)
    show.set_defaults(run=run_show)
    protect = actions.add_parser(
        "protect", help="encrypt an identity key (the node key too) in place with a passphrase"
    )
    protect.add_argument("--key", type=Path, required=True)
    protect.add_argument(
        "--passphrase-env",
        metavar="VAR",
        required=True,
        help="read the new passphrase from this environment variable",
    )
    protect.add_argument(
        "--old-passphrase-env",
        metavar="VAR",
        help="the key's current passphrase, if it has one",
    )
    protect.set_defaults(run=run_protect)


def _passphrase_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--passphrase-env",
        metavar="VAR",
        help="read the key's passphrase from this environment variable",
    )


def passphrase(args: argparse.Namespace) -> bytes | None:
    return _from_env(args.passphrase_env)


def _from_env(variable: str | None) -> bytes | None:
    if not variable:
        return None
    value = os.environ.get(variable)
    if not value:
        raise fail("key.env_empty", variable=variable)
    return value.encode()


def new_passphrase(args: argparse.Namespace, out: Path) -> bytes | None:
    """The new key's passphrase: from --passphrase-env, else asked twice on a terminal; None
    (a plain key, said on stderr in both languages) only with --no-passphrase."""
    if args.no_passphrase:
        for line in MESSAGES["key.unprotected"]:
            print(f"bidroom: {line.format(path=out)}", file=sys.stderr)
        return None
    if args.passphrase_env:
        return _from_env(args.passphrase_env)
    if not sys.stdin.isatty():
        raise fail("key.no_passphrase_source")
    first = getpass.getpass(text("key.prompt"))
    if not first:
        raise fail("key.prompt_empty")
    if getpass.getpass(text("key.prompt_again")) != first:
        raise fail("key.prompt_mismatch")
    return first.encode()


def key_bytes(path: Path) -> bytes:
    """A private key file's bytes, refused when group or others may use the file."""
    mode = too_open(path)
    if mode is not None:
        raise KeyFileError(EXIT_KEY_FILE, "key.too_open", path=path, mode=mode)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError.unreadable(path, exc) from exc


def read_key(path: Path, secret: bytes | None) -> SigningKey:
    data = key_bytes(path)
    try:
        return SigningKey.from_pem(data, passphrase=secret)
    except KeyFormatError as exc:
        raise KeyFileError.malformed(path, exc, secret) from exc


def replace_key(path: Path, pem: bytes) -> None:
    """Write `pem` over the key at `path` atomically: never a moment with no key, or half a key."""
    temporary = path.with_name(path.name + ".new")
    temporary.unlink(missing_ok=True)
    write_key(temporary, pem)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_key(path: Path, pem: bytes) -> None:
    try:
        write_private_file(path, pem)
    except FileExistsError:
        raise fail("key.exists", path=path) from None


def run_generate(args: argparse.Namespace) -> int:
    if args.out.exists():  # said before asking for a passphrase that would be thrown away
        raise fail("key.exists", path=args.out)
    secret = new_passphrase(args, args.out)
    if args.kind == "encryption":
        encryption = EncryptionKey.generate()
        write_key(args.out, encryption.to_pem(passphrase=secret))
        print(encryption.public_key.to_text())
        return 0
    key = SigningKey.generate()
    write_key(args.out, key.to_pem(passphrase=secret))
    print(key.verify_key.to_text())
    return 0


def run_show(args: argparse.Namespace) -> int:
    print(read_key(args.key, passphrase(args)).verify_key.to_text(), file=sys.stdout)
    return 0


def run_protect(args: argparse.Namespace) -> int:
    key = read_key(args.key, _from_env(args.old_passphrase_env))
    replace_key(args.key, key.to_pem(passphrase=passphrase(args)))
    print(text("key.protected", path=args.key, variable=args.passphrase_env))
    return 0
