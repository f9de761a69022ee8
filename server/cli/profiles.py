"""`bidroom profile`: named connections to nodes, so remote commands stop repeating themselves.

A profile is a node's URL, a participant id and the PATH of that participant's key file; key
material is never copied into it. Profiles live in `$XDG_CONFIG_HOME/bidroom/profiles.toml`
(default `~/.config`), mode 0600, with the name of the current one:

    current = "guangzhou"

    [profiles.guangzhou]
    node = "https://bidroom.example"
    participant = "p-0123456789abcdef"
    key = "/home/host/keys/host.pem"
    passphrase_env = "BIDROOM_PASSPHRASE"   # optional: the variable's name, never the passphrase

A remote command takes `--node`, `--participant` and `--key` from its flags first; what is
missing comes from `--profile`, else `BIDROOM_PROFILE`, else the current profile; `BIDROOM_NODE`
overrides a profile's node.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from server.cli.failures import node_url_error
from server.cli.messages import fail, table, text

if TYPE_CHECKING:
    import argparse

NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
FIELDS: Final = ("node", "participant", "key")
OPTIONAL: Final = ("passphrase_env",)  # the NAME of the variable holding the key's passphrase


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "bidroom" / "profiles.toml"


def load() -> dict[str, Any]:
    """`{"current": name or None, "profiles": {name: {node, participant, key}}}`."""
    path = config_path()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"current": None, "profiles": {}}
    except OSError as exc:
        raise fail("profile.unreadable", path=path, reason=exc.strerror) from None
    except tomllib.TOMLDecodeError as exc:
        raise fail("profile.unreadable", path=path, reason=exc) from None
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise fail("profile.unreadable", path=path, reason="[profiles]")
    return {"current": document.get("current"), "profiles": profiles}


def save(config: dict[str, Any]) -> Path:
    """Write the file whole, owner-only from its first byte, and swap it in."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = []
    if config["current"]:
        lines += [f"current = {_toml(config['current'])}", ""]
    for name, profile in sorted(config["profiles"].items()):
        lines.append(f"[profiles.{name}]")
        lines += [
            f"{field} = {_toml(profile[field])}"
            for field in (*FIELDS, *OPTIONAL)
            if field in profile
        ]
        lines.append("")
    temporary = path.with_name(path.name + ".new")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    temporary.replace(path)
    return path


def _toml(value: str) -> str:
    """A TOML basic string: JSON's string escapes are TOML's (no `\\/` is ever written)."""
    return json.dumps(value, ensure_ascii=False)


def register(commands: Any) -> None:
    command: argparse.ArgumentParser = commands.add_parser(
        "profile", help="saved connections to nodes (配置)"
    )
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="save a profile and make it current")
    add.add_argument("name")
    add.add_argument("--node", required=True, help="the node's base URL, https://...")
    add.add_argument("--participant", required=True, help="your participant id, p-...")
    add.add_argument("--key", type=Path, required=True, help="your identity key (PEM): its path")
    add.add_argument(
        "--passphrase-env", metavar="VAR",
        help="the variable that will hold the key's passphrase (its name is saved, never a secret)",
    )  # fmt: skip
    add.set_defaults(run=run_add)
    listing = actions.add_parser("list", help="list the profiles")
    listing.set_defaults(run=run_list)
    use = actions.add_parser("use", help="make a profile current")
    use.add_argument("name")
    use.set_defaults(run=run_use)
    remove = actions.add_parser("remove", help="forget a profile (the key file stays)")
    remove.add_argument("name")
    remove.set_defaults(run=run_remove)


def run_add(args: argparse.Namespace) -> int:
    if not NAME.fullmatch(args.name):
        raise fail("profile.bad_name", name=args.name)
    check_node(args.node)
    key: Path = args.key.expanduser().absolute()
    if not key.is_file():
        raise fail("profile.no_key", path=key)
    config = load()
    profile = {"node": args.node.rstrip("/"), "participant": args.participant, "key": str(key)}
    if args.passphrase_env:
        profile["passphrase_env"] = args.passphrase_env
    config["profiles"][args.name] = profile
    config["current"] = args.name
    print(text("profile.added", name=args.name, path=save(config)))
    return 0


def run_list(args: argparse.Namespace) -> int:
    config = load()
    if not config["profiles"]:
        print(text("profile.none"))
        return 0
    rows: list[list[object]] = [
        [name == config["current"], name, *(profile.get(f) for f in FIELDS)]
        for name, profile in sorted(config["profiles"].items())
    ]
    print(table(["col.current", "col.profile", "col.node", "col.participant", "col.key"], rows))
    return 0


def run_use(args: argparse.Namespace) -> int:
    config = load()
    if args.name not in config["profiles"]:
        raise fail("profile.unknown", name=args.name)
    config["current"] = args.name
    save(config)
    print(text("profile.current", name=args.name))
    return 0


def run_remove(args: argparse.Namespace) -> int:
    config = load()
    if config["profiles"].pop(args.name, None) is None:
        raise fail("profile.unknown", name=args.name)
    if config["current"] == args.name:
        config["current"] = None
    save(config)
    print(text("profile.removed", name=args.name))
    return 0


def check_node(node: str) -> None:
    if not node.startswith(("https://", "http://")):
        raise node_url_error(node)


def resolve(args: argparse.Namespace) -> None:
    """Fill `args.node`, `.participant`, `.key` that no flag gave, from the profile in force."""
    if args.node is None:
        args.node = os.environ.get("BIDROOM_NODE") or None
    if args.node is None or args.participant is None or args.key is None:
        _from_profile(args)
    missing = [f"--{f}" for f in FIELDS if getattr(args, f) is None]
    if missing:
        raise fail("profile.missing", flags=" ".join(missing))
    check_node(args.node)


def _from_profile(args: argparse.Namespace) -> None:
    config = load()
    name = args.profile or os.environ.get("BIDROOM_PROFILE") or config["current"]
    if not name:
        return
    profile = config["profiles"].get(name)
    if not isinstance(profile, dict):
        raise fail("profile.unknown", name=name)
    args.node = args.node or profile.get("node")
    args.participant = args.participant or profile.get("participant")
    if args.key is None and profile.get("key"):
        args.key = Path(profile["key"])
    if getattr(args, "passphrase_env", None) is None:
        args.passphrase_env = profile.get("passphrase_env")
