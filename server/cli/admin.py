"""`bidroom admin`: enrol and list participants, offline, on the node's data directory.

Whoever holds the data directory is the trust root, so these commands need no login; on a
running node the same operations are the admin HTTP API.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from server import console
from server.cli import participants
from server.cli.common import add_settings_flags, print_json, settings_from
from server.cli.participants import add_enrolment_flags, public_key_text

if TYPE_CHECKING:
    import argparse


def register(commands: Any) -> None:
    command: argparse.ArgumentParser = commands.add_parser("admin", help="participants")
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    enroll = actions.add_parser("enroll", help="register a participant and its public key")
    add_settings_flags(enroll)
    add_enrolment_flags(enroll)
    enroll.set_defaults(run=run_enroll)
    listing = actions.add_parser("list", help="list participants")
    add_settings_flags(listing)
    listing.set_defaults(run=run_list)
    participants.register(actions)


def run_enroll(args: argparse.Namespace) -> int:
    attributes = dict(item.partition("=")[::2] for item in args.attr)
    enrolment = {
        "role": args.role,
        "name": args.name,
        "public_key": public_key_text(args.pubkey),
        "attributes": attributes,
    }
    if args.encryption_key:
        enrolment["encryption_key"] = args.encryption_key
    print_json(asyncio.run(console.enroll(settings_from(args), enrolment)))
    return 0


def run_list(args: argparse.Namespace) -> int:
    print_json(asyncio.run(console.participants(settings_from(args))))
    return 0
