"""`bidroom key`: create identity (Ed25519) and encryption (X25519) keys, kept on this machine."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crypto import EncryptionKey, KeyFormatError, SigningKey
from server.cli.failures import KeyFileError

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
    _passphrase_flag(generate)
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
        raise SystemExit(f"bidroom: the environment variable {variable} is empty")
    return value.encode()


def read_key(path: Path, secret: bytes | None) -> SigningKey:
    try:
        return SigningKey.from_pem(path.read_bytes(), passphrase=secret)
    except OSError as exc:
        raise KeyFileError.unreadable(path, exc) from exc
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
        with path.open("xb") as handle:
            path.chmod(0o600)
            handle.write(pem)
    except FileExistsError:
        raise SystemExit(f"bidroom: {path} exists; refusing to overwrite a key") from None


def run_generate(args: argparse.Namespace) -> int:
    if args.kind == "encryption":
        encryption = EncryptionKey.generate()
        write_key(args.out, encryption.to_pem(passphrase=passphrase(args)))
        print(encryption.public_key.to_text())
        return 0
    key = SigningKey.generate()
    write_key(args.out, key.to_pem(passphrase=passphrase(args)))
    print(key.verify_key.to_text())
    return 0


def run_show(args: argparse.Namespace) -> int:
    print(read_key(args.key, passphrase(args)).verify_key.to_text(), file=sys.stdout)
    return 0


def run_protect(args: argparse.Namespace) -> int:
    key = read_key(args.key, _from_env(args.old_passphrase_env))
    replace_key(args.key, key.to_pem(passphrase=passphrase(args)))
    print(f"{args.key}: 已用口令加密 encrypted with the passphrase from ${args.passphrase_env}")
    return 0
