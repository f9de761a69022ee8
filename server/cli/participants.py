"""`bidroom admin participants add|list|revoke`: the admin's participant commands, over the API.

Unlike `bidroom admin enroll|list` (offline, on the data directory), these log in to a running
node as an admin (`--node --participant --key`, or a profile). The node has no revocation: an
enrolment is a record of the audit log (server/domain/participants.py) and the protocol has no
route to undo it, so `revoke` says so and ends with its own exit code, 3.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crypto import KeyFormatError, VerifyKey
from recordings.vocabulary import Role
from server.cli.common import print_json
from server.cli.messages import EXIT_UNSUPPORTED, table, text
from server.cli.remote import add_node_flags, with_session

if TYPE_CHECKING:
    import argparse

    from evaluator_client.session import Session

PATH = "/api/admin/participants"


def add_enrolment_flags(command: argparse.ArgumentParser) -> None:
    """What an enrolment names, the same at the console (`admin enroll`) and over the API
    (`admin participants add`)."""
    command.add_argument("--role", required=True, choices=[role.value for role in Role])
    command.add_argument("--name", required=True)
    command.add_argument(
        "--pubkey", required=True, help="ed25519:<base64url> or a path to a PEM public key"
    )
    command.add_argument(
        "--encryption-key", help="x25519:<base64url>: bidders and custodians receive sealed keys"
    )
    command.add_argument(
        "--attr", action="append", default=[], metavar="KEY=VALUE", help="e.g. region=Guangzhou"
    )


def register(actions: Any) -> None:
    group: argparse.ArgumentParser = actions.add_parser(
        "participants", help="participants on a running node (参与者)"
    )
    commands = group.add_subparsers(dest="participants_action", required=True, metavar="ACTION")
    add_enrolment_flags(
        _command(commands, "add", run_add, "enrol a participant and its public key")
    )
    _command(commands, "list", run_list, "list the participants")
    revoke = _command(commands, "revoke", run_revoke, "revoke a participant (not supported)")
    revoke.add_argument("id", help="the participant id, p-...")


def _command(commands: Any, name: str, run: Any, help_text: str) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = commands.add_parser(
        name, help=help_text, description=help_text
    )
    add_node_flags(command)
    command.add_argument("--json", action="store_true", help="print the node's answer as JSON")
    command.set_defaults(run=run)
    return command


def public_key_text(value: str) -> str:
    """Accept the text form or a PEM file; return the text form."""
    try:
        if value.startswith("ed25519:"):
            return VerifyKey.from_text(value).to_text()
        return VerifyKey.from_pem(Path(value).read_bytes()).to_text()
    except OSError as exc:
        raise SystemExit(f"bidroom: can't read {value}: {exc.strerror}") from None
    except KeyFormatError as exc:
        raise SystemExit(f"bidroom: --pubkey: {exc}") from None


def run_add(args: argparse.Namespace) -> int:
    enrolment: dict[str, Any] = {
        "role": args.role,
        "name": args.name,
        "public_key": public_key_text(args.pubkey),
        "attributes": dict(item.partition("=")[::2] for item in args.attr),
    }
    if args.encryption_key:
        enrolment["encryption_key"] = args.encryption_key

    async def add(session: Session) -> dict[str, Any]:
        return await session.post(PATH, enrolment)

    added = with_session(args, add)
    if args.json:
        print_json(added)
    else:
        print(text("participant.added", id=added["id"], role=added["role"], name=added["name"]))
    return 0


def run_list(args: argparse.Namespace) -> int:
    async def listing(session: Session) -> dict[str, Any]:
        return await session.get(PATH)

    participants = with_session(args, listing)["participants"]
    if args.json:
        print_json(participants)
        return 0
    rows: list[list[object]] = [
        [p["id"], p["role"], p["name"], p["public_key"]] for p in participants
    ]
    print(table(["col.participant", "col.role", "col.name", "col.public_key"], rows))
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    print(f"bidroom: {text('participant.no_revoke', id=args.id)}", file=sys.stderr)
    return EXIT_UNSUPPORTED
