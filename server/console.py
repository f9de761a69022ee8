"""The node's own console: what `bidroom admin` and `bidroom audit verify` do on a data directory.

Whoever holds the data directory is the trust root, so these run with no login and no server,
in this process. They are the node side of the command line: the CLI modules call these and
never the node's domain, services or storage themselves (tests/test_architecture.py). Console
commands go through the same command path as a client's (service/commands.py), as the
console operator, so they are checked and recorded alike.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from crypto import KeyFormatError
from server.backends import build_backends, stored_log
from server.clock import SystemClock
from server.domain.access import Action
from server.domain.errors import DomainError
from server.errors import Refused
from server.service.commands import Command
from server.service.node import CONSOLE, Node, load_node_key
from server.service.node_keys import NodeKeys

if TYPE_CHECKING:
    from server.backends import StoredLog
    from server.config import Settings


class ConsoleError(Exception):
    """The console can't do what was asked; the message says why, for the operator."""


async def enroll(settings: Settings, enrolment: dict[str, object]) -> dict[str, Any]:
    """Enrol a participant as the console operator; the participant as the API shows it."""
    return dict(await _submit(settings, Action.ENROLL_PARTICIPANT, enrolment))


async def participants(settings: Settings) -> list[dict[str, Any]]:
    """Every enrolled participant, as the API lists them."""
    found = await _submit(settings, Action.LIST_PARTICIPANTS, None)
    return [dict(p) for p in found["participants"]]


async def _submit(settings: Settings, action: Action, body: object) -> Any:
    node = await _open(settings)
    try:
        return await node.submit(Command(action, CONSOLE, node.clock.now(), body=body))
    except DomainError as exc:
        raise Refused(str(exc), exc.rule) from None
    finally:
        await node.close()


async def _open(settings: Settings) -> Node:
    key = await asyncio.to_thread(
        load_node_key, settings.node_key_path, settings.node_key_passphrase
    )
    node = Node(settings, build_backends(settings, NodeKeys(key)), SystemClock(), key)
    await node.start(schedule=False)
    return node


def sealed_log(settings: Settings) -> StoredLog:
    """The stored log, opened with the node key it is sealed under (never created here)."""
    if not settings.node_key_path.exists():
        raise ConsoleError(
            f"the log is sealed under the node key, and there is none at {settings.node_key_path}"
        )
    try:
        key = load_node_key(settings.node_key_path, settings.node_key_passphrase)
    except KeyFormatError as exc:
        raise ConsoleError(f"the node key can't be loaded: {exc}") from None
    return stored_log(settings, NodeKeys(key).records)
