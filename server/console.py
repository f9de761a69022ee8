"""The node's own console: what `bidroom admin`, `bidroom audit verify` and `bidroom recordings`
do on a data directory.

Whoever holds the data directory is the trust root, so these run with no login and no server,
in this process. They are the node side of the command line: the CLI modules call these and
never the node's domain, services or storage themselves (tests/test_architecture.py). Console
commands go through the same command path as a client's (service/commands.py), as the
console operator, so they are checked and recorded alike.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crypto import KeyFormatError
from recordings.audit import AuditRecord, ChainVerifier
from recordings.segments import verify as verify_segments
from server.backends import build_backends, stored_log
from server.clock import SystemClock
from server.domain.access import Action
from server.domain.errors import DomainError
from server.errors import Refused
from server.protocol.streams import is_tender_stream
from server.service.commands import Command
from server.service.media import listed_names, recordings_of
from server.service.node import CONSOLE, Node, load_node_key, node_id_of
from server.service.node_keys import NodeKeys

if TYPE_CHECKING:
    from collections.abc import Iterator

    from crypto import SigningKey
    from recordings.segments import Problem
    from server.backends import StoredLog
    from server.config import Settings
    from server.service.media import Recording


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
    return stored_log(settings, NodeKeys(_node_key(settings)).records)


def _node_key(settings: Settings) -> SigningKey:
    if not settings.node_key_path.exists():
        raise ConsoleError(
            f"the log is sealed under the node key, and there is none at {settings.node_key_path}"
        )
    try:
        return load_node_key(settings.node_key_path, settings.node_key_passphrase)
    except KeyFormatError as exc:
        raise ConsoleError(f"the node key can't be loaded: {exc}") from None


@dataclass(frozen=True, slots=True)
class RecordingsCheck:
    """This node's recordings as its log lists them, per tender, and what `verify` found on
    its disk against them."""

    node: str
    listed: dict[str, list[Recording]]
    problems: list[Problem]

    @property
    def expected(self) -> int:
        return sum(len(listed_names(found)) for found in self.listed.values())


def recordings(settings: Settings, tender: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every segment the stored log lists, per tender (one tender, `tender` given), as the
    API lists them; read offline, each chain checked as it is read (ChainBroken if broken)."""
    listed = _recordings(sealed_log(settings), tender)
    return {stream: [r.to_json() for r in found] for stream, found in listed.items()}


def check_recordings(settings: Settings, tender: str | None = None) -> RecordingsCheck:
    """The files under the node's recordings directory (a tender's, `tender` given) against
    the SHA-256s its log records of the segments this node recorded, closed or cut and not
    expired (docs/media.md section 7); ChainBroken if the log is broken. Blocks: it reads and
    hashes every file."""
    key = _node_key(settings)
    node = node_id_of(key)
    listed = _recordings(stored_log(settings, NodeKeys(key).records), tender)
    mine = {t: [r for r in found if r.node == node] for t, found in listed.items()}
    expected = {name: digest for found in mine.values() for name, digest in
                listed_names(found).items()}  # fmt: skip
    problems = verify_segments(settings.recordings_dir, expected, tender=tender)
    return RecordingsCheck(node, mine, problems)


def _recordings(log: StoredLog, tender: str | None) -> dict[str, list[Recording]]:
    if tender is not None and not is_tender_stream(tender):
        raise ConsoleError(f"{tender!r} is not a tender id")
    streams = [tender] if tender is not None else [s for s in log.streams() if is_tender_stream(s)]
    return {stream: recordings_of(_chained(log, stream)) for stream in streams}


def _chained(log: StoredLog, stream: str) -> Iterator[AuditRecord]:
    """The stream's records, each checked against the chain before it is given."""
    chain = ChainVerifier(stream)
    for seq, body, digest in log.rows(stream):
        chain.add(seq, body, digest)
        yield AuditRecord.load(body, digest)
