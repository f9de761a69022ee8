"""What the subcommands share: settings from flags and environment, output helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from crypto import KeyFormatError, VerifyKey
from server import logs
from server.config import Settings

if TYPE_CHECKING:
    import argparse


def add_settings_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", type=Path, help="TOML settings file (or BIDROOM_CONFIG)")
    command.add_argument("--data-dir", type=Path, help="data directory (default ./var)")


def settings_from(args: argparse.Namespace, **overrides: object) -> Settings:
    values = {"data_dir": getattr(args, "data_dir", None), **overrides}
    return Settings.load(os.environ, config_file=args.config, overrides=values)


def configure_logging(level: str, log_format: str = "text") -> None:
    logs.configure(level, log_format)


def print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def node_key_from(text: str) -> VerifyKey:
    """The node's public key, as pinned or as served; a malformed or weak one ends the command."""
    try:
        return VerifyKey.from_text(text)
    except KeyFormatError as exc:
        raise SystemExit(f"bidroom: the node's key is refused: {exc}") from None


# audit-bundle.md 4.2: only a pinned key catches a bundle re-signed, whole, under another key.
NOT_PINNED = (
    "警告 WARNING 未固定节点公钥：整包用另一把密钥重新签名也会通过校验。"
    "请用 --node-key 指定从别处得知的节点公钥。"
    " / no node key pinned: a bundle re-signed under another key would verify too;"
    " give the node's key, known from elsewhere, with --node-key."
)
